package raftfsm

import (
	"errors"
	"fmt"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Deployments and job versions: message types 30-34.
const (
	DeploymentStatusUpdateType MessageType = 30
	DeploymentPromoteType      MessageType = 31
	DeploymentAllocHealthType  MessageType = 32
	JobStabilityType           MessageType = 33
	AllocDesiredTransitionType MessageType = 34
)

func init() {
	register(DeploymentStatusUpdateType, "DeploymentStatusUpdate", applyDeploymentStatusUpdate)
	register(DeploymentPromoteType, "DeploymentPromote", applyDeploymentPromote)
	register(DeploymentAllocHealthType, "DeploymentAllocHealth", applyDeploymentAllocHealth)
	register(JobStabilityType, "JobStability", applyJobStability)
	register(AllocDesiredTransitionType, "AllocDesiredTransition", applyAllocDesiredTransition)
}

// DeploymentStatusUpdate changes a deployment's status. With Job it also
// registers that job (an auto-revert to a stable version), but only while
// the job's JobModifyIndex is still JobModifyIndex, so a revert decided on
// stale state never overwrites a newer submission. Eval, if any, is stored
// with it.
type DeploymentStatusUpdate struct {
	Update         *structs.DeploymentStatusUpdate `json:"Update"`
	Job            *structs.Job                    `json:"Job,omitempty"`
	JobModifyIndex uint64                          `json:"JobModifyIndex,omitempty"`
	Eval           *structs.Evaluation             `json:"Eval,omitempty"`
	Time           int64                           `json:"Time"`
}

// DeploymentPromote promotes the canaries of a deployment's groups (all of
// them with All) and stores the eval that rolls the rest out.
type DeploymentPromote struct {
	DeploymentID string              `json:"DeploymentID"`
	All          bool                `json:"All"`
	Groups       []string            `json:"Groups"`
	Eval         *structs.Evaluation `json:"Eval,omitempty"`
	Time         int64               `json:"Time"`
}

// DeploymentAllocHealth records operator-set allocation health; Update, Job
// and Eval are as in DeploymentStatusUpdate (an unhealthy allocation fails
// the deployment and may revert the job).
type DeploymentAllocHealth struct {
	DeploymentID   string                          `json:"DeploymentID"`
	Healthy        []string                        `json:"Healthy"`
	Unhealthy      []string                        `json:"Unhealthy"`
	Update         *structs.DeploymentStatusUpdate `json:"Update,omitempty"`
	Job            *structs.Job                    `json:"Job,omitempty"`
	JobModifyIndex uint64                          `json:"JobModifyIndex,omitempty"`
	Eval           *structs.Evaluation             `json:"Eval,omitempty"`
	Time           int64                           `json:"Time"`
}

// JobStability marks a job version stable or not.
type JobStability struct {
	Namespace string `json:"Namespace"`
	JobID     string `json:"JobID"`
	Version   uint64 `json:"Version"`
	Stable    bool   `json:"Stable"`
}

// AllocDesiredTransition sets desired transitions of allocations (force a
// reschedule, migrate off a draining node) with the evals that act on them.
type AllocDesiredTransition struct {
	Allocs map[string]*structs.DesiredTransition `json:"Allocs"`
	Evals  []*structs.Evaluation                 `json:"Evals"`
	Time   int64                                 `json:"Time"`
}

// ConflictError rejects an entry whose precondition no longer held when it
// applied (EnforceIndex, a deployment that already finished). The entry
// changed nothing; the caller may re-read state and retry.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// EnforceIndexErrPrefix starts every EnforceIndex rejection, as in Nomad
// (its API client and CLI match on it).
const EnforceIndexErrPrefix = "Enforcing job modify index"

// checkEnforceIndex fails unless the job's JobModifyIndex is want (0: the
// job must not exist).
func checkEnforceIndex(txn *state.WriteTxn, ns, id string, want uint64) error {
	cur, err := txn.Reader().JobByID(nil, ns, id)
	if err != nil {
		return err
	}
	switch {
	case want == 0 && cur != nil:
		return &ConflictError{fmt.Sprintf("%s 0: job already exists", EnforceIndexErrPrefix)}
	case want != 0 && cur == nil:
		return &ConflictError{fmt.Sprintf("%s %d: job does not exist", EnforceIndexErrPrefix, want)}
	case cur != nil && cur.JobModifyIndex != want:
		return &ConflictError{fmt.Sprintf("%s %d: job exists with conflicting job modify index: %d",
			EnforceIndexErrPrefix, want, cur.JobModifyIndex)}
	}
	return nil
}

// storeSubmission keeps the source of the version the job now has.
func storeSubmission(txn *state.WriteTxn, job *structs.Job, sub *structs.JobSubmission) error {
	if sub == nil {
		return nil
	}
	stored, err := txn.Reader().JobByID(nil, job.Namespace, job.ID)
	if err != nil || stored == nil {
		return err
	}
	return txn.UpsertJobSubmission(stored.Namespace, stored.ID, stored.Version, sub)
}

func applyPlanResults(txn *state.WriteTxn, b *ApplyPlanResults) error {
	// The deployment goes first, so the placements below are counted in it.
	if err := txn.UpsertPlanDeployment(b.Deployment, b.DeploymentUpdates, b.Time); err != nil {
		return err
	}
	return txn.UpsertPlanResults(b.AllocsStopped, b.AllocsUpdated, b.EvalUpdates, b.Time)
}

func applyDeploymentStatusUpdate(txn *state.WriteTxn, b *DeploymentStatusUpdate) error {
	if b.Update == nil {
		return errors.New("missing deployment status update")
	}
	if err := statusUpdate(txn, b.Update, b.Time); err != nil {
		return err
	}
	return revert(txn, b.Job, b.JobModifyIndex, b.Eval, b.Time)
}

func applyDeploymentPromote(txn *state.WriteTxn, b *DeploymentPromote) error {
	if b.DeploymentID == "" {
		return errors.New("missing deployment ID")
	}
	if err := conflictIfTerminal(txn.PromoteDeployment(b.DeploymentID, b.Groups, b.Time)); err != nil {
		return err
	}
	return upsertEvals(txn, b.Eval)
}

func applyDeploymentAllocHealth(txn *state.WriteTxn, b *DeploymentAllocHealth) error {
	if b.DeploymentID == "" {
		return errors.New("missing deployment ID")
	}
	if err := txn.SetAllocsHealth(b.DeploymentID, b.Healthy, b.Unhealthy, b.Time); err != nil {
		return err
	}
	if b.Update != nil {
		if err := statusUpdate(txn, b.Update, b.Time); err != nil {
			return err
		}
	}
	return revert(txn, b.Job, b.JobModifyIndex, b.Eval, b.Time)
}

func applyJobStability(txn *state.WriteTxn, b *JobStability) error {
	if b.JobID == "" {
		return errors.New("missing job ID")
	}
	return txn.SetJobStability(b.Namespace, b.JobID, b.Version, b.Stable)
}

func applyAllocDesiredTransition(txn *state.WriteTxn, b *AllocDesiredTransition) error {
	if err := txn.UpdateAllocDesiredTransitions(b.Allocs, b.Time); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}

func statusUpdate(txn *state.WriteTxn, u *structs.DeploymentStatusUpdate, now int64) error {
	return conflictIfTerminal(txn.UpdateDeploymentStatus(u, now))
}

func conflictIfTerminal(err error) error {
	if errors.Is(err, state.ErrDeploymentTerminal) {
		return &ConflictError{err.Error()}
	}
	return err
}

// revert registers job (when set, and only if the job is unchanged since
// the caller read it) and stores eval, which then evaluates that version.
func revert(txn *state.WriteTxn, job *structs.Job, modifyIndex uint64, eval *structs.Evaluation, now int64) error {
	if job != nil {
		if err := checkEnforceIndex(txn, job.Namespace, job.ID, modifyIndex); err != nil {
			return err
		}
		if err := txn.UpsertJob(job, now); err != nil {
			return err
		}
		return upsertEval(txn, eval)
	}
	return upsertEvals(txn, eval)
}

func upsertEvals(txn *state.WriteTxn, eval *structs.Evaluation) error {
	if eval == nil {
		return nil
	}
	return txn.UpsertEvals([]*structs.Evaluation{eval})
}

// gcDeployments deletes the named deployments that are still finished.
func gcDeployments(txn *state.WriteTxn, ids []string) error {
	var gone []string
	for _, id := range ids {
		d, err := txn.Reader().DeploymentByID(nil, id)
		if err != nil {
			return err
		}
		if d != nil && !d.Active() {
			gone = append(gone, id)
		}
	}
	return txn.DeleteDeployments(gone)
}
