package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// deriveJobStatus follows Nomad's documented rule: system, periodic and
// parameterized jobs run until stopped; otherwise a job with a live
// allocation is running, one with an unfinished evaluation is pending, one
// that has had allocations or evaluations and has neither live is dead, and
// a brand-new job is pending unless it was registered stopped.
func deriveJobStatus(job *structs.Job, c *jobCounts) string {
	if job.Type == structs.JobTypeSystem || job.IsPeriodic() || job.IsParameterized() {
		if job.Stop {
			return structs.JobStatusDead
		}
		return structs.JobStatusRunning
	}
	if c == nil {
		c = &jobCounts{}
	}
	switch {
	case c.LiveAllocs > 0:
		return structs.JobStatusRunning
	case c.LiveEvals > 0:
		return structs.JobStatusPending
	case c.Allocs > 0 || c.Evals > 0 || job.Stop:
		return structs.JobStatusDead
	}
	return structs.JobStatusPending
}

// counts returns the bookkeeping row of a job (nil when it has none).
func (t *WriteTxn) counts(ns, jobID string) (*jobCounts, error) {
	return countsIn(t.txn, ns, jobID)
}

func countsIn(txn *memdb.Txn, ns, jobID string) (*jobCounts, error) {
	obj, err := txn.First(tableJobCounts, "id", ns, jobID)
	if err != nil {
		return nil, fmt.Errorf("job counts lookup %s/%s: %w", ns, jobID, err)
	}
	if obj == nil {
		return nil, nil
	}
	return obj.(*jobCounts), nil
}

// adjustCounts applies a change of one alloc or eval to its job's counts.
// Rows are replaced, never mutated, so older snapshots stay consistent.
func adjustCounts(txn *memdb.Txn, ns, jobID string, dAllocs, dLiveAllocs, dEvals, dLiveEvals int) error {
	if jobID == "" || (dAllocs == 0 && dLiveAllocs == 0 && dEvals == 0 && dLiveEvals == 0) {
		return nil
	}
	cur, err := countsIn(txn, ns, jobID)
	if err != nil {
		return err
	}
	c := jobCounts{Namespace: ns, JobID: jobID}
	if cur != nil {
		c = *cur
	}
	c.Allocs += dAllocs
	c.LiveAllocs += dLiveAllocs
	c.Evals += dEvals
	c.LiveEvals += dLiveEvals
	if c.Allocs == 0 && c.Evals == 0 {
		if cur != nil {
			if err := txn.Delete(tableJobCounts, cur); err != nil {
				return fmt.Errorf("delete job counts %s/%s: %w", ns, jobID, err)
			}
		}
		return nil
	}
	if err := txn.Insert(tableJobCounts, &c); err != nil {
		return fmt.Errorf("update job counts %s/%s: %w", ns, jobID, err)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// allocCountsDelta records old -> new for one allocation (either may be nil).
func allocCountsDelta(txn *memdb.Txn, old, new *structs.Allocation) error {
	if old != nil && new != nil && (old.Namespace != new.Namespace || old.JobID != new.JobID) {
		if err := allocCountsDelta(txn, old, nil); err != nil {
			return err
		}
		return allocCountsDelta(txn, nil, new)
	}
	var ns, jobID string
	dAll, dLive := 0, 0
	if old != nil {
		ns, jobID = old.Namespace, old.JobID
		dAll--
		dLive -= b2i(!old.TerminalStatus())
	}
	if new != nil {
		ns, jobID = new.Namespace, new.JobID
		dAll++
		dLive += b2i(!new.TerminalStatus())
	}
	return adjustCounts(txn, ns, jobID, dAll, dLive, 0, 0)
}

// evalCountsDelta records old -> new for one evaluation (either may be nil).
func evalCountsDelta(txn *memdb.Txn, old, new *structs.Evaluation) error {
	if old != nil && new != nil && (old.Namespace != new.Namespace || old.JobID != new.JobID) {
		if err := evalCountsDelta(txn, old, nil); err != nil {
			return err
		}
		return evalCountsDelta(txn, nil, new)
	}
	var ns, jobID string
	dAll, dLive := 0, 0
	if old != nil {
		ns, jobID = old.Namespace, old.JobID
		dAll--
		dLive -= b2i(!old.Terminal())
	}
	if new != nil {
		ns, jobID = new.Namespace, new.JobID
		dAll++
		dLive += b2i(!new.Terminal())
	}
	return adjustCounts(txn, ns, jobID, 0, 0, dAll, dLive)
}
