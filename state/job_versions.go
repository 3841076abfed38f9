package state

import (
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableJobSubmissions holds the source each retained job version was parsed
// from, keyed by namespace, job ID and version.
const TableJobSubmissions = "job_submission"

// JobSubmissionRow is one row of TableJobSubmissions, as snapshots carry it.
type JobSubmissionRow struct {
	Namespace  string                 `json:"Namespace"`
	JobID      string                 `json:"JobID"`
	Version    uint64                 `json:"Version"`
	Submission *structs.JobSubmission `json:"Submission"`
}

func jobVersionTables() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableJobSubmissions: {
			Name: TableJobSubmissions,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					&memdb.StringFieldIndex{Field: "Namespace"},
					&memdb.StringFieldIndex{Field: "JobID"},
					&memdb.UintFieldIndex{Field: "Version"},
				}}},
				"job": {Name: "job", Indexer: nsIDIndex("Namespace", "JobID")},
			},
		},
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// SpecEqual reports whether two versions of a job have the same spec: the
// fields the server maintains (indexes, status, version, stability, submit
// time) aside.
func SpecEqual(a, b *structs.Job) bool { return specEqual(a, b) }

// SetJobStability marks one retained version of a job stable or not. The
// current job row carries the flag too when it is that version. Neither the
// version nor JobModifyIndex moves: the spec is unchanged.
func (t *WriteTxn) SetJobStability(ns, id string, version uint64, stable bool) error {
	ns = normNamespace(ns)
	obj, err := t.txn.First(TableJobVersion, "id", ns, id, version)
	if err != nil {
		return fmt.Errorf("job version lookup %s/%s@%d: %w", ns, id, version, err)
	}
	if obj == nil {
		return fmt.Errorf("job %s/%s version %d: %w", ns, id, version, ErrNotFound)
	}
	if v := obj.(*structs.Job); v.Stable != stable {
		c := copyJob(v)
		c.Stable = stable
		c.ModifyIndex = t.index
		if err := t.txn.Insert(TableJobVersion, c); err != nil {
			return fmt.Errorf("update version %d of job %s/%s: %w", version, ns, id, err)
		}
		t.touch(TableJobVersion)
	}
	obj, err = t.txn.First(TableJobs, "id", ns, id)
	if err != nil {
		return fmt.Errorf("job lookup %s/%s: %w", ns, id, err)
	}
	if cur, ok := obj.(*structs.Job); ok && cur.Version == version && cur.Stable != stable {
		c := copyJob(cur)
		c.Stable = stable
		c.ModifyIndex = t.index
		if err := t.txn.Insert(TableJobs, c); err != nil {
			return fmt.Errorf("update job %s/%s: %w", ns, id, err)
		}
		t.touch(TableJobs)
	}
	return nil
}

// UpsertJobSubmission records the source of one version of a job.
func (t *WriteTxn) UpsertJobSubmission(ns, id string, version uint64, sub *structs.JobSubmission) error {
	if sub == nil {
		return nil
	}
	row := &JobSubmissionRow{Namespace: normNamespace(ns), JobID: id, Version: version, Submission: sub}
	if err := t.txn.Insert(TableJobSubmissions, row); err != nil {
		return fmt.Errorf("insert submission of job %s/%s@%d: %w", ns, id, version, err)
	}
	t.touch(TableJobSubmissions)
	return nil
}

// pruneJobSubmissions drops the sources of versions no longer retained
// (keep lists those that are), or all of them when keep is nil.
func (t *WriteTxn) pruneJobSubmissions(ns, id string, keep map[uint64]bool) error {
	it, err := t.txn.Get(TableJobSubmissions, "job", ns, id)
	if err != nil {
		return fmt.Errorf("submissions of job %s/%s: %w", ns, id, err)
	}
	var drop []*JobSubmissionRow
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if row := obj.(*JobSubmissionRow); !keep[row.Version] {
			drop = append(drop, row)
		}
	}
	for _, row := range drop {
		if err := t.txn.Delete(TableJobSubmissions, row); err != nil {
			return fmt.Errorf("delete submission of job %s/%s@%d: %w", ns, id, row.Version, err)
		}
		t.touch(TableJobSubmissions)
	}
	return nil
}

// JobSubmission returns the source of one version of a job, or nil.
func (s *Snapshot) JobSubmission(ws memdb.WatchSet, ns, id string, version uint64) (*structs.JobSubmission, error) {
	obj, err := s.first(ws, TableJobSubmissions, "id", normNamespace(ns), id, version)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*JobSubmissionRow).Submission, nil
}

// JobSubmissionRestore loads one job source (its Walk kind is
// KindJobSubmission).
func (r *Restore) JobSubmissionRestore(row *JobSubmissionRow) error {
	if row == nil || row.JobID == "" {
		return fmt.Errorf("restore job submission: missing row or job ID")
	}
	row.Namespace = normNamespace(row.Namespace)
	return r.insert(TableJobSubmissions, row, "job submission "+row.JobID)
}
