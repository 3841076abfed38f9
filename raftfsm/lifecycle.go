package raftfsm

import (
	"errors"
	"fmt"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Periodic launches and dispatches (types 38 and 39 of the job lifecycle
// range 35-39).
const (
	PeriodicLaunchType MessageType = 38
	JobDispatchType    MessageType = 39
)

func init() {
	register(PeriodicLaunchType, "PeriodicLaunch", applyPeriodicLaunch)
	register(JobDispatchType, "JobDispatch", applyJobDispatch)
}

// ErrAlreadyLaunched rejects a scheduled launch at or before the periodic
// job's recorded last launch: the check that keeps two leaders (an old one
// that has not noticed it lost, a new one catching up) from launching the
// same tick twice.
var ErrAlreadyLaunched = errors.New("periodic job already launched at or after this time")

// PeriodicLaunch launches one run of a periodic job: the child job with its
// evaluation, and the launch time, in one entry. Child is nil when the
// launch was skipped (prohibit_overlap with a child still running): the
// time is recorded all the same, so the tick is not retried. Force (a
// `periodic force`) is not checked against the recorded launch.
type PeriodicLaunch struct {
	Namespace string              `json:"Namespace"`
	JobID     string              `json:"JobID"`
	Launch    int64               `json:"Launch"`
	Force     bool                `json:"Force,omitempty"`
	Child     *structs.Job        `json:"Child"`
	Eval      *structs.Evaluation `json:"Eval"`
	Time      int64               `json:"Time"`
}

func applyPeriodicLaunch(txn *state.WriteTxn, b *PeriodicLaunch) error {
	if b.JobID == "" || b.Launch <= 0 {
		return errors.New("missing job ID or launch time")
	}
	r := txn.Reader()
	parent, err := r.JobByID(nil, b.Namespace, b.JobID)
	if err != nil {
		return err
	}
	if parent == nil || !parent.IsPeriodic() || parent.Stop {
		return fmt.Errorf("launch of %s/%s: not a running periodic job", b.Namespace, b.JobID)
	}
	if !b.Force {
		last, err := r.PeriodicLaunchByID(nil, b.Namespace, b.JobID)
		if err != nil {
			return err
		}
		if last != nil && last.Launch >= b.Launch {
			return fmt.Errorf("launch of %s/%s at %d: %w", b.Namespace, b.JobID, b.Launch, ErrAlreadyLaunched)
		}
	}
	if b.Child != nil {
		if err := insertChild(txn, parent, b.Child, b.Time); err != nil {
			return err
		}
		if err := upsertEval(txn, b.Eval); err != nil {
			return err
		}
	}
	return txn.SetPeriodicLaunch(b.Namespace, b.JobID, b.Launch)
}

// JobDispatch creates a dispatched child of a parameterized job with its
// evaluation. A child with the same idempotency token that already exists
// makes the entry a no-op: the dispatch answers with that child.
type JobDispatch struct {
	Child *structs.Job        `json:"Child"`
	Eval  *structs.Evaluation `json:"Eval"`
	Time  int64               `json:"Time"`
}

func applyJobDispatch(txn *state.WriteTxn, b *JobDispatch) error {
	if b.Child == nil || b.Child.ParentID == "" {
		return errors.New("missing child job or parent")
	}
	r := txn.Reader()
	parent, err := r.JobByID(nil, b.Child.Namespace, b.Child.ParentID)
	if err != nil {
		return err
	}
	if parent == nil || !parent.IsParameterized() || parent.Stop {
		return fmt.Errorf("dispatch of %s/%s: not a running parameterized job", b.Child.Namespace, b.Child.ParentID)
	}
	if tok := b.Child.DispatchIdempotencyToken; tok != "" {
		existing, err := r.ChildByIdempotencyToken(b.Child.Namespace, b.Child.ParentID, tok)
		if err != nil {
			return err
		}
		if existing != nil {
			return nil
		}
	}
	if err := insertChild(txn, parent, b.Child, b.Time); err != nil {
		return err
	}
	return upsertEval(txn, b.Eval)
}

// insertChild stores a new child job of parent; a child ID is never reused.
func insertChild(txn *state.WriteTxn, parent, child *structs.Job, now int64) error {
	if child.ParentID != parent.ID || child.Namespace != parent.Namespace {
		return fmt.Errorf("child %q does not belong to %s/%s", child.ID, parent.Namespace, parent.ID)
	}
	cur, err := txn.Reader().JobByID(nil, child.Namespace, child.ID)
	if err != nil {
		return err
	}
	if cur != nil {
		return fmt.Errorf("child job %s/%s already exists", child.Namespace, child.ID)
	}
	return txn.UpsertJob(child, now)
}
