package state

import (
	"fmt"
	"reflect"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

func copyJob(j *structs.Job) *structs.Job {
	c := *j
	return &c
}

// specEqual reports whether two jobs are the same submission, ignoring the
// fields the server maintains (indexes, status, version, timestamps).
func specEqual(a, b *structs.Job) bool {
	x, y := *a, *b
	for _, j := range []*structs.Job{&x, &y} {
		j.Status, j.StatusDescription = "", ""
		j.Version, j.Stable, j.SubmitTime = 0, false, 0
		j.CreateIndex, j.ModifyIndex, j.JobModifyIndex = 0, 0, 0
	}
	return reflect.DeepEqual(&x, &y)
}

// JobByID returns the job, or nil when absent.
func (s *Snapshot) JobByID(ws memdb.WatchSet, ns, id string) (*structs.Job, error) {
	obj, err := s.first(ws, TableJobs, "id", normNamespace(ns), id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Job), nil
}

// JobsByIDPrefix returns the jobs whose ID starts with prefix, sorted by ID.
// Namespace "*" searches every namespace.
func (s *Snapshot) JobsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Job, error) {
	var it memdb.ResultIterator
	var err error
	if ns == "*" {
		it, err = s.get(ws, TableJobs, "jobid_prefix", prefix)
	} else {
		it, err = s.get(ws, TableJobs, "id_prefix", normNamespace(ns), prefix)
	}
	if err != nil {
		return nil, err
	}
	var out []*structs.Job
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Job))
	}
	return out, nil
}

// JobVersionsByID returns the retained versions of a job, newest first.
func (s *Snapshot) JobVersionsByID(ws memdb.WatchSet, ns, id string) ([]*structs.Job, error) {
	it, err := s.get(ws, TableJobVersion, "job", normNamespace(ns), id)
	if err != nil {
		return nil, err
	}
	return sortedVersions(it), nil
}

func sortedVersions(it memdb.ResultIterator) []*structs.Job {
	var out []*structs.Job
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Job))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// JobByIDAndVersion returns one retained version of a job, or nil.
func (s *Snapshot) JobByIDAndVersion(ws memdb.WatchSet, ns, id string, version uint64) (*structs.Job, error) {
	obj, err := s.first(ws, TableJobVersion, "id", normNamespace(ns), id, version)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Job), nil
}

// UpsertJob registers a job or a new submission of it (including a stop,
// which is a submission with Stop set). The version is bumped only when the
// spec changed; the latest maxJobVersions versions are retained.
func (t *WriteTxn) UpsertJob(job *structs.Job, submitTime int64) error {
	if job == nil || job.ID == "" {
		return fmt.Errorf("upsert job: missing job or job ID")
	}
	if err := checkJobShape(job); err != nil {
		return err
	}
	j := copyJob(job)
	j.Namespace = normNamespace(j.Namespace)
	obj, err := t.txn.First(TableJobs, "id", j.Namespace, j.ID)
	if err != nil {
		return fmt.Errorf("job lookup %s/%s: %w", j.Namespace, j.ID, err)
	}
	oldStatus := ""
	if obj != nil {
		existing := obj.(*structs.Job)
		oldStatus = existing.Status
		j.CreateIndex = existing.CreateIndex
		j.Version = existing.Version
		if !specEqual(existing, j) {
			j.Version++
		}
		// A status is derived, never submitted; start from the current one
		// and let Commit re-derive it.
		j.Status = existing.Status
	} else {
		j.CreateIndex = t.index
		j.Version = 0
		j.Status = structs.JobStatusPending
	}
	j.ModifyIndex = t.index
	j.JobModifyIndex = t.index
	j.Stable = false
	if submitTime != 0 {
		j.SubmitTime = submitTime
	}
	counts, err := t.counts(j.Namespace, j.ID)
	if err != nil {
		return err
	}
	j.Status = deriveJobStatus(j, counts)

	if err := t.txn.Insert(TableJobs, j); err != nil {
		return fmt.Errorf("insert job %s/%s: %w", j.Namespace, j.ID, err)
	}
	if err := t.insertJobVersion(j); err != nil {
		return err
	}
	if err := t.summaryForJob(j); err != nil {
		return err
	}
	if err := t.syncScalingPolicies(j); err != nil {
		return err
	}
	if err := t.childStatusChanged(j, oldStatus, j.Status); err != nil {
		return err
	}
	t.touch(TableJobs, TableJobVersion, TableJobSummary)
	t.markJob(j.Namespace, j.ID)
	return nil
}

// insertJobVersion records j and drops versions beyond the retention limit.
func (t *WriteTxn) insertJobVersion(j *structs.Job) error {
	if err := t.txn.Insert(TableJobVersion, j); err != nil {
		return fmt.Errorf("insert version %d of job %s/%s: %w", j.Version, j.Namespace, j.ID, err)
	}
	it, err := t.txn.Get(TableJobVersion, "job", j.Namespace, j.ID)
	if err != nil {
		return fmt.Errorf("versions of job %s/%s: %w", j.Namespace, j.ID, err)
	}
	versions := sortedVersions(it)
	for _, old := range versions[min(len(versions), maxJobVersions):] {
		if err := t.txn.Delete(TableJobVersion, old); err != nil {
			return fmt.Errorf("prune version %d of job %s/%s: %w", old.Version, j.Namespace, j.ID, err)
		}
	}
	if len(versions) > maxJobVersions {
		keep := make(map[uint64]bool, maxJobVersions)
		for _, v := range versions[:maxJobVersions] {
			keep[v.Version] = true
		}
		return t.pruneJobSubmissions(j.Namespace, j.ID, keep)
	}
	return nil
}

// DeleteJob purges a job with its versions and summary. Its allocations and
// evaluations stay until garbage collection.
func (t *WriteTxn) DeleteJob(ns, id string) error {
	ns = normNamespace(ns)
	obj, err := t.txn.First(TableJobs, "id", ns, id)
	if err != nil {
		return fmt.Errorf("job lookup %s/%s: %w", ns, id, err)
	}
	if obj == nil {
		return fmt.Errorf("delete job %s/%s: %w", ns, id, ErrNotFound)
	}
	if err := t.txn.Delete(TableJobs, obj); err != nil {
		return fmt.Errorf("delete job %s/%s: %w", ns, id, err)
	}
	if j := obj.(*structs.Job); j.ParentID != "" {
		if err := t.childStatusChanged(j, j.Status, ""); err != nil {
			return err
		}
	}
	if err := t.deletePeriodicLaunch(ns, id); err != nil {
		return err
	}
	if _, err := t.txn.DeleteAll(TableJobVersion, "job", ns, id); err != nil {
		return fmt.Errorf("delete versions of job %s/%s: %w", ns, id, err)
	}
	if _, err := t.txn.DeleteAll(TableJobSummary, "id", ns, id); err != nil {
		return fmt.Errorf("delete summary of job %s/%s: %w", ns, id, err)
	}
	if err := t.deleteJobScaling(ns, id); err != nil {
		return err
	}
	if err := t.pruneJobSubmissions(ns, id, nil); err != nil {
		return err
	}
	// A re-created job starts its rollout history afresh.
	if n, err := t.txn.DeleteAll(TableDeployments, "job", ns, id); err != nil {
		return fmt.Errorf("delete deployments of job %s/%s: %w", ns, id, err)
	} else if n > 0 {
		t.touch(TableDeployments)
	}
	t.touch(TableJobs, TableJobVersion, TableJobSummary)
	return nil
}

// JobByID returns the job, or nil when absent.
func (s *Store) JobByID(ws memdb.WatchSet, ns, id string) (*structs.Job, error) {
	return s.Snapshot().JobByID(ws, ns, id)
}

// JobsByIDPrefix returns the jobs whose ID starts with prefix, sorted by ID.
// Namespace "*" searches every namespace.
func (s *Store) JobsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Job, error) {
	return s.Snapshot().JobsByIDPrefix(ws, ns, prefix)
}

// JobVersionsByID returns the retained versions of a job, newest first.
func (s *Store) JobVersionsByID(ws memdb.WatchSet, ns, id string) ([]*structs.Job, error) {
	return s.Snapshot().JobVersionsByID(ws, ns, id)
}

// JobByIDAndVersion returns one retained version of a job, or nil.
func (s *Store) JobByIDAndVersion(ws memdb.WatchSet, ns, id string, version uint64) (*structs.Job, error) {
	return s.Snapshot().JobByIDAndVersion(ws, ns, id, version)
}

// UpsertJob registers a job at the Raft index; see WriteTxn.UpsertJob.
func (s *Store) UpsertJob(index uint64, job *structs.Job, submitTime int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertJob(job, submitTime) })
}

// DeleteJob purges a job at the Raft index; see WriteTxn.DeleteJob.
func (s *Store) DeleteJob(index uint64, ns, id string) error {
	return s.write(index, func(t *WriteTxn) error { return t.DeleteJob(ns, id) })
}

// checkJobShape rejects nil entries that every reader would trip over.
func checkJobShape(j *structs.Job) error {
	for i, tg := range j.TaskGroups {
		if tg == nil {
			return fmt.Errorf("upsert job %s: task group %d is nil", j.ID, i)
		}
		for k, task := range tg.Tasks {
			if task == nil {
				return fmt.Errorf("upsert job %s: task %d of group %q is nil", j.ID, k, tg.Name)
			}
		}
	}
	return nil
}
