package state

import (
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

func collectAllocs(it memdb.ResultIterator, ns string) []*structs.Allocation {
	var out []*structs.Allocation
	for obj := it.Next(); obj != nil; obj = it.Next() {
		a := obj.(*structs.Allocation)
		if ns != "" && a.Namespace != ns {
			continue
		}
		out = append(out, a)
	}
	return out
}

// AllocByID returns the allocation, or nil when absent.
func (s *Snapshot) AllocByID(ws memdb.WatchSet, id string) (*structs.Allocation, error) {
	obj, err := s.first(ws, TableAllocs, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Allocation), nil
}

// AllocsByIDPrefix returns the allocations whose ID starts with prefix,
// sorted by ID. Namespace "*" searches every namespace.
func (s *Snapshot) AllocsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Allocation, error) {
	var it memdb.ResultIterator
	var err error
	if ns == "*" {
		it, err = s.get(ws, TableAllocs, "id_prefix", prefix)
	} else {
		it, err = s.get(ws, TableAllocs, "ns_id_prefix", normNamespace(ns), prefix)
	}
	if err != nil {
		return nil, err
	}
	return collectAllocs(it, ""), nil
}

// AllocsByJob returns every allocation of a job, including those of earlier
// versions and terminal ones.
func (s *Snapshot) AllocsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.Allocation, error) {
	it, err := s.get(ws, TableAllocs, "job", normNamespace(ns), jobID)
	if err != nil {
		return nil, err
	}
	return collectAllocs(it, ""), nil
}

// AllocsByNode returns every allocation placed on a node.
func (s *Snapshot) AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error) {
	it, err := s.get(ws, TableAllocs, "node", nodeID)
	if err != nil {
		return nil, err
	}
	return collectAllocs(it, ""), nil
}

// AllocsByEval returns the allocations an evaluation created or updated.
func (s *Snapshot) AllocsByEval(ws memdb.WatchSet, evalID string) ([]*structs.Allocation, error) {
	it, err := s.get(ws, TableAllocs, "eval", evalID)
	if err != nil {
		return nil, err
	}
	return collectAllocs(it, ""), nil
}

func (t *WriteTxn) alloc(id string) (*structs.Allocation, error) {
	obj, err := t.txn.First(TableAllocs, "id", id)
	if err != nil {
		return nil, fmt.Errorf("alloc lookup %s: %w", id, err)
	}
	if obj == nil {
		return nil, nil
	}
	return obj.(*structs.Allocation), nil
}

// jobForAlloc finds the job version an allocation runs: the existing
// allocation's job when the version is unchanged, else the retained version,
// else the current job (the version may have been pruned).
func (t *WriteTxn) jobForAlloc(a, existing *structs.Allocation) (*structs.Job, error) {
	if existing != nil && existing.Job != nil && existing.JobVersion == a.JobVersion {
		return existing.Job, nil
	}
	obj, err := t.txn.First(TableJobVersion, "id", a.Namespace, a.JobID, a.JobVersion)
	if err != nil {
		return nil, fmt.Errorf("job version lookup %s/%s@%d: %w", a.Namespace, a.JobID, a.JobVersion, err)
	}
	if obj != nil {
		return obj.(*structs.Job), nil
	}
	obj, err = t.txn.First(TableJobs, "id", a.Namespace, a.JobID)
	if err != nil {
		return nil, fmt.Errorf("job lookup %s/%s: %w", a.Namespace, a.JobID, err)
	}
	if obj != nil {
		return obj.(*structs.Job), nil
	}
	if existing != nil {
		return existing.Job, nil
	}
	return nil, nil
}

// putAlloc stores new in place of old and keeps job counts and summaries in step.
func (t *WriteTxn) putAlloc(old, new *structs.Allocation) error {
	if err := t.txn.Insert(TableAllocs, new); err != nil {
		return fmt.Errorf("insert alloc %s: %w", new.ID, err)
	}
	if err := allocCountsDelta(t.txn, old, new); err != nil {
		return err
	}
	if err := t.summaryForAlloc(old, new); err != nil {
		return err
	}
	if err := t.deploymentForAlloc(old, new); err != nil {
		return err
	}
	t.touch(TableAllocs)
	if old != nil && !old.TerminalStatus() && new.TerminalStatus() {
		t.effects.CapacityFreed = true
	}
	t.markJob(new.Namespace, new.JobID)
	if old != nil && (old.Namespace != new.Namespace || old.JobID != new.JobID) {
		t.markJob(old.Namespace, old.JobID)
	}
	// An instance that ended (or whose node stopped answering) leaves the
	// service catalog in the same entry that records it.
	if servicesEnded(new) && (old == nil || !servicesEnded(old)) {
		return t.deleteAllocServices(new.ID)
	}
	return nil
}

// servicesEnded reports whether an allocation's service instances must be
// out of the catalog: its client finished it, it was lost, or its client
// is disconnected (unknown), so nothing answers at its address.
func servicesEnded(a *structs.Allocation) bool {
	return a.ClientTerminalStatus() || a.ClientStatus == structs.AllocClientStatusUnknown
}

// UpsertAllocs writes server-side allocation changes (plan placements and
// in-place updates). Fields the client owns — ClientStatus (unless the
// server declares the alloc lost or unknown), ClientDescription and
// TaskStates — are kept from the stored allocation. A nil Job is filled in
// with the stored job version. now, when non-zero, stamps ModifyTime (and
// CreateTime of new allocations that carry none).
func (t *WriteTxn) UpsertAllocs(allocs []*structs.Allocation, now int64) error {
	for _, in := range allocs {
		if in == nil || in.ID == "" {
			return fmt.Errorf("upsert alloc: missing alloc or alloc ID")
		}
		a := in.Copy()
		a.Namespace = normNamespace(a.Namespace)
		existing, err := t.alloc(a.ID)
		if err != nil {
			return err
		}
		if existing != nil {
			a.CreateIndex = existing.CreateIndex
			a.CreateTime = existing.CreateTime
			a.TaskStates = existing.TaskStates
			// Health in a deployment is the client's to report; it
			// starts over only when the allocation joins a new one.
			if a.DeploymentID == existing.DeploymentID {
				a.DeploymentStatus = existing.DeploymentStatus
			}
			if a.ClientStatus != structs.AllocClientStatusLost && a.ClientStatus != structs.AllocClientStatusUnknown {
				a.ClientStatus = existing.ClientStatus
				a.ClientDescription = existing.ClientDescription
			}
		} else {
			a.CreateIndex = t.index
			if a.CreateTime == 0 {
				a.CreateTime = now
			}
			if a.ClientStatus == "" {
				a.ClientStatus = structs.AllocClientStatusPending
			}
		}
		if a.DesiredStatus == "" {
			a.DesiredStatus = structs.AllocDesiredStatusRun
		}
		if a.Job == nil {
			if a.Job, err = t.jobForAlloc(a, existing); err != nil {
				return err
			}
		}
		if err := t.putServerAlloc(existing, a, now); err != nil {
			return err
		}
	}
	return nil
}

// StopAllocs applies plan stops: each entry names a stored allocation (by
// ID) and carries its new DesiredStatus/DesiredDescription, optionally a
// server-decided ClientStatus (lost/unknown) and FollowupEvalID. Unknown IDs
// are skipped: the allocation was garbage collected meanwhile.
func (t *WriteTxn) StopAllocs(stops []*structs.Allocation, now int64) error {
	for _, st := range stops {
		if st == nil || st.ID == "" {
			return fmt.Errorf("stop alloc: missing alloc or alloc ID")
		}
		existing, err := t.alloc(st.ID)
		if err != nil {
			return err
		}
		if existing == nil {
			continue
		}
		a := existing.Copy()
		a.DesiredStatus = st.DesiredStatus
		if a.DesiredStatus != structs.AllocDesiredStatusEvict {
			a.DesiredStatus = structs.AllocDesiredStatusStop
		}
		a.DesiredDescription = st.DesiredDescription
		if st.ClientStatus == structs.AllocClientStatusLost || st.ClientStatus == structs.AllocClientStatusUnknown {
			a.ClientStatus = st.ClientStatus
			if st.ClientDescription != "" {
				a.ClientDescription = st.ClientDescription
			}
		}
		if st.FollowupEvalID != "" {
			a.FollowupEvalID = st.FollowupEvalID
		}
		if err := t.putServerAlloc(existing, a, now); err != nil {
			return err
		}
	}
	return nil
}

// putServerAlloc stores an allocation the servers changed. Every
// server-side write is a change of what the client should do, so it moves
// AllocModifyIndex, which client watches follow; client reports move only
// ModifyIndex.
func (t *WriteTxn) putServerAlloc(existing, a *structs.Allocation, now int64) error {
	a.ModifyIndex = t.index
	a.AllocModifyIndex = t.index
	if now != 0 {
		a.ModifyTime = now
	}
	return t.putAlloc(existing, a)
}

// UpdateAllocsFromClient applies client reports: only ClientStatus,
// ClientDescription, TaskStates and, from AllocatedResources, the
// Shared.Ports and Shared.Networks sub-fields are taken from each update
// (the client assigns dynamic host ports, so it is their source of truth);
// ModifyTime is set to now. Unknown allocation IDs are skipped.
func (t *WriteTxn) UpdateAllocsFromClient(updates []*structs.Allocation, now int64) error {
	for _, u := range updates {
		if u == nil || u.ID == "" {
			return fmt.Errorf("client alloc update: missing alloc or alloc ID")
		}
		existing, err := t.alloc(u.ID)
		if err != nil {
			return err
		}
		if existing == nil {
			continue
		}
		if existing.ClientTerminalStatus() {
			// complete, failed and lost are final: a client reporting
			// late (say, after a partition healed, for an alloc the
			// servers declared lost and replaced) must not bring it back.
			continue
		}
		a := existing.Copy()
		if u.ClientStatus != "" {
			a.ClientStatus = u.ClientStatus
		}
		a.ClientDescription = u.ClientDescription
		if u.TaskStates != nil {
			a.TaskStates = u.TaskStates
		}
		if h := clientHealth(existing, u, t.index, now); h != nil {
			a.DeploymentStatus = h
		}
		if ur := u.AllocatedResources; ur != nil && len(ur.Shared.Ports) > 0 {
			// Copy: the stored resources are shared with older snapshots.
			var res structs.AllocatedResources
			if a.AllocatedResources != nil {
				res = *a.AllocatedResources
			}
			res.Shared.Ports = append([]structs.AllocatedPort(nil), ur.Shared.Ports...)
			if len(ur.Shared.Networks) > 0 {
				res.Shared.Networks = ur.Shared.Networks
			}
			a.AllocatedResources = &res
		}
		a.ModifyTime = now
		a.ModifyIndex = t.index
		if err := t.putAlloc(existing, a); err != nil {
			return err
		}
	}
	return nil
}

// clientHealth returns the deployment status a client report sets: health
// decided once, for the deployment the client saw (a report about an
// earlier deployment of an allocation updated in place is stale), keeping
// the server-owned canary flag. Allocations outside any deployment get
// health too (judged by their migrate block): the node drainer waits on it.
// An allocation of a deployment that fails before its health was decided
// is unhealthy, whatever its client managed to say. Nil when the report changes nothing.
func clientHealth(existing, u *structs.Allocation, index uint64, now int64) *structs.AllocDeploymentStatus {
	if existing.DeploymentStatus.HealthSet() {
		return nil
	}
	var healthy bool
	ts := time.Unix(0, now).UTC()
	switch {
	case u.DeploymentStatus.HealthSet() && u.DeploymentID == existing.DeploymentID:
		// The time is the server's: a client's clock must not move
		// the deployment's progress deadline.
		healthy = *u.DeploymentStatus.Healthy
	case u.ClientStatus == structs.AllocClientStatusFailed && existing.DeploymentID != "":
		healthy = false
	default:
		return nil
	}
	return &structs.AllocDeploymentStatus{
		Healthy: &healthy, Timestamp: ts, Canary: existing.DeploymentStatus.IsCanary(), ModifyIndex: index,
	}
}

// UpsertPlanResults commits a plan result atomically: stops, placements and
// the evaluation updates of the scheduler run.
func (t *WriteTxn) UpsertPlanResults(stopped, updated []*structs.Allocation, evals []*structs.Evaluation, now int64) error {
	if err := t.StopAllocs(stopped, now); err != nil {
		return err
	}
	if err := t.UpsertAllocs(updated, now); err != nil {
		return err
	}
	return t.UpsertEvals(evals)
}

// AllocByID returns the allocation, or nil when absent.
func (s *Store) AllocByID(ws memdb.WatchSet, id string) (*structs.Allocation, error) {
	return s.Snapshot().AllocByID(ws, id)
}

// AllocsByIDPrefix returns allocations by ID prefix; see Snapshot.AllocsByIDPrefix.
func (s *Store) AllocsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Allocation, error) {
	return s.Snapshot().AllocsByIDPrefix(ws, ns, prefix)
}

// AllocsByJob returns every allocation of a job.
func (s *Store) AllocsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.Allocation, error) {
	return s.Snapshot().AllocsByJob(ws, ns, jobID)
}

// AllocsByNode returns every allocation placed on a node.
func (s *Store) AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error) {
	return s.Snapshot().AllocsByNode(ws, nodeID)
}

// AllocsByEval returns the allocations an evaluation created or updated.
func (s *Store) AllocsByEval(ws memdb.WatchSet, evalID string) ([]*structs.Allocation, error) {
	return s.Snapshot().AllocsByEval(ws, evalID)
}

// UpsertAllocs writes server-side allocation changes; see WriteTxn.UpsertAllocs.
func (s *Store) UpsertAllocs(index uint64, allocs []*structs.Allocation) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertAllocs(allocs, 0) })
}

// UpdateAllocsFromClient applies client reports; see WriteTxn.UpdateAllocsFromClient.
func (s *Store) UpdateAllocsFromClient(index uint64, updates []*structs.Allocation, now int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpdateAllocsFromClient(updates, now) })
}

// UpsertPlanResults commits a plan result in one transaction.
func (s *Store) UpsertPlanResults(index uint64, stopped, updated []*structs.Allocation, evals []*structs.Evaluation, now int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertPlanResults(stopped, updated, evals, now) })
}
