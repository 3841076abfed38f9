package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// Kinds of objects in a state dump, as Walk reports them and Restore takes
// them back.
const (
	KindIndex      = "index"       // *IndexEntry
	KindJob        = "job"         // *structs.Job
	KindJobVersion = "job_version" // *structs.Job
	KindJobSummary = "job_summary" // *structs.JobSummary
	KindNode       = "node"        // *structs.Node
	KindEval       = "eval"        // *structs.Evaluation
	KindAlloc      = "alloc"       // *structs.Allocation
	// KindServiceRegistration is a *structs.ServiceRegistration.
	KindServiceRegistration = "service_registration"
	// KindVariable is a *structs.VariableEncrypted.
	KindVariable = "variable"
	// KindRootKey is a *structs.RootKey.
	KindRootKey = "root_key"
	// KindScalingPolicy is a *structs.ScalingPolicy.
	KindScalingPolicy = "scaling_policy"
	// KindScalingEvents is a *structs.JobScalingEvents.
	KindScalingEvents = "scaling_events"

	KindDeployment    = "deployment"     // *structs.Deployment
	KindJobSubmission = "job_submission" // *JobSubmissionRow
)

// walkOrder fixes the dump order (and, within a table, memdb's key order) so
// equal states produce identical dumps.
var walkOrder = []struct{ kind, table string }{
	{KindIndex, TableIndex},
	{KindJob, TableJobs},
	{KindJobVersion, TableJobVersion},
	{KindJobSummary, TableJobSummary},
	{KindNode, TableNodes},
	{KindEval, TableEvals},
	{KindAlloc, TableAllocs},
	{KindNamespace, TableNamespaces},
	{KindACLPolicy, TableACLPolicies},
	{KindACLToken, TableACLTokens},
	{KindACLRole, TableACLRoles},
	{KindServiceRegistration, TableServiceRegistrations},
	{KindRootKey, TableRootKeys},
	{KindVariable, TableVariables},
	{KindScalingPolicy, TableScalingPolicies},
	{KindScalingEvents, TableScalingEvents},
	{KindDeployment, TableDeployments},
	{KindJobSubmission, TableJobSubmissions},
	{KindAutopilotConfig, TableAutopilotConfig},
	{KindPeriodicLaunch, TablePeriodicLaunch},
}

// Walk calls fn for every persistent object of the snapshot, table by table
// in a fixed order, stopping at the first error. Derived bookkeeping is not
// emitted; Restore rebuilds it.
func (s *Snapshot) Walk(fn func(kind string, obj any) error) error {
	for _, w := range walkOrder {
		it, err := s.txn.Get(w.table, "id")
		if err != nil {
			return fmt.Errorf("scan %s: %w", w.table, err)
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if err := fn(w.kind, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore bulk-loads a complete state into a fresh database which replaces
// the store's contents on Commit. Nothing is visible before Commit.
type Restore struct {
	s    *Store
	txn  *memdb.Txn
	db   *memdb.MemDB
	done bool
}

// Restore starts a bulk load that will replace the whole state.
func (s *Store) Restore() (*Restore, error) {
	db, err := newMemDB()
	if err != nil {
		return nil, err
	}
	return &Restore{s: s, db: db, txn: db.Txn(true)}, nil
}

// Commit swaps the loaded state in and wakes every blocking query on the old one.
func (r *Restore) Commit() error {
	if r.done {
		return fmt.Errorf("commit of a finished restore")
	}
	r.done = true
	r.txn.Commit()
	r.s.writeMu.Lock()
	r.s.swap(r.db)
	r.s.writeMu.Unlock()
	return nil
}

// Abort discards the load; the store is left untouched. Safe to defer.
func (r *Restore) Abort() {
	if r.done {
		return
	}
	r.done = true
	r.txn.Abort()
}

func (r *Restore) insert(table string, obj any, what string) error {
	if r.done {
		return fmt.Errorf("restore %s: restore already finished", what)
	}
	if err := r.txn.Insert(table, obj); err != nil {
		return fmt.Errorf("restore %s: %w", what, err)
	}
	return nil
}

// IndexRestore loads one "index" table row.
func (r *Restore) IndexRestore(e *IndexEntry) error {
	if e == nil || e.Key == "" {
		return fmt.Errorf("restore index: missing entry or key")
	}
	return r.insert(TableIndex, e, "index "+e.Key)
}

// JobRestore loads a current job.
func (r *Restore) JobRestore(j *structs.Job) error {
	if j == nil || j.ID == "" {
		return fmt.Errorf("restore job: missing job or ID")
	}
	j.Namespace = normNamespace(j.Namespace)
	return r.insert(TableJobs, j, "job "+j.ID)
}

// JobVersionRestore loads one retained job version.
func (r *Restore) JobVersionRestore(j *structs.Job) error {
	if j == nil || j.ID == "" {
		return fmt.Errorf("restore job version: missing job or ID")
	}
	j.Namespace = normNamespace(j.Namespace)
	return r.insert(TableJobVersion, j, "job version "+j.ID)
}

// JobSummaryRestore loads a job summary.
func (r *Restore) JobSummaryRestore(s *structs.JobSummary) error {
	if s == nil || s.JobID == "" {
		return fmt.Errorf("restore job summary: missing summary or job ID")
	}
	s.Namespace = normNamespace(s.Namespace)
	return r.insert(TableJobSummary, s, "job summary "+s.JobID)
}

// NodeRestore loads a node.
func (r *Restore) NodeRestore(n *structs.Node) error {
	if n == nil || n.ID == "" {
		return fmt.Errorf("restore node: missing node or ID")
	}
	return r.insert(TableNodes, n, "node "+n.ID)
}

// EvalRestore loads an evaluation.
func (r *Restore) EvalRestore(e *structs.Evaluation) error {
	if e == nil || e.ID == "" {
		return fmt.Errorf("restore eval: missing eval or ID")
	}
	e.Namespace = normNamespace(e.Namespace)
	if r.done {
		return fmt.Errorf("restore: restore already finished")
	}
	old, err := r.txn.First(TableEvals, "id", e.ID)
	if err != nil {
		return fmt.Errorf("restore eval %s: %w", e.ID, err)
	}
	if err := r.insert(TableEvals, e, "eval "+e.ID); err != nil {
		return err
	}
	prev, _ := old.(*structs.Evaluation)
	return evalCountsDelta(r.txn, prev, e)
}

// AllocRestore loads an allocation.
func (r *Restore) AllocRestore(a *structs.Allocation) error {
	if a == nil || a.ID == "" {
		return fmt.Errorf("restore alloc: missing alloc or ID")
	}
	a.Namespace = normNamespace(a.Namespace)
	if r.done {
		return fmt.Errorf("restore: restore already finished")
	}
	if err := r.shareJobVersion(a); err != nil {
		return err
	}
	if r.done {
		return fmt.Errorf("restore: restore already finished")
	}
	old, err := r.txn.First(TableAllocs, "id", a.ID)
	if err != nil {
		return fmt.Errorf("restore alloc %s: %w", a.ID, err)
	}
	if err := r.insert(TableAllocs, a, "alloc "+a.ID); err != nil {
		return err
	}
	prev, _ := old.(*structs.Allocation)
	return allocCountsDelta(r.txn, prev, a)
}

// Walk streams every persistent object of the current state; see Snapshot.Walk.
func (s *Store) Walk(fn func(kind string, obj any) error) error { return s.Snapshot().Walk(fn) }

// shareJobVersion points a restored allocation at the restored job version
// it runs instead of its own decoded copy, so a restore does not hold one
// job copy per allocation. The fields compared are those that differ between
// a version row and later status-only copies of the job.
func (r *Restore) shareJobVersion(a *structs.Allocation) error {
	if a.Job == nil {
		return nil
	}
	obj, err := r.txn.First(TableJobVersion, "id", a.Namespace, a.JobID, a.Job.Version)
	if err != nil {
		return fmt.Errorf("restore alloc %s: job version lookup: %w", a.ID, err)
	}
	v, _ := obj.(*structs.Job)
	if v != nil && v.ID == a.Job.ID && v.ModifyIndex == a.Job.ModifyIndex &&
		v.JobModifyIndex == a.Job.JobModifyIndex && v.Status == a.Job.Status {
		a.Job = v
	}
	return nil
}
