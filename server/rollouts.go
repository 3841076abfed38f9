package server

import (
	"fmt"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// maxSubmissionSize bounds the job source kept with a version, as Nomad's
// job_max_source_size default (1 MiB) does; a larger source is dropped with
// a warning, the job itself is registered.
const maxSubmissionSize = 1 << 20

// keepSubmission returns the submission to store and the warning to give.
func keepSubmission(sub *structs.JobSubmission) (*structs.JobSubmission, string) {
	if sub == nil {
		return nil, ""
	}
	size := len(sub.Source) + len(sub.Variables)
	for k, v := range sub.VariableFlags {
		size += len(k) + len(v)
	}
	if size > maxSubmissionSize {
		return nil, fmt.Sprintf("job source size of %d bytes is larger than the limit of %d bytes and will be discarded", size, maxSubmissionSize)
	}
	return sub, ""
}

// checkEvalPriority accepts 0 (use the job's priority) or Nomad's range.
func checkEvalPriority(p int) error {
	if p != 0 && (p < 1 || p > 100) {
		return fmt.Errorf("%w: eval priority must be between 1 and 100 inclusively", ErrBadInput)
	}
	return nil
}

// healthEvals collects, from a batch of client reports, one evaluation per
// job whose running deployment just learned that an allocation is healthy:
// the scheduler then rolls the next allocations out. It is committed with
// the reports, so a rollout never waits on a second write.
type healthEvals struct {
	snap   *state.Snapshot
	now    int64
	active map[string]*structs.Deployment // by ID; nil value: not active
	jobs   map[structs.NamespacedID]*structs.Evaluation
	order  []structs.NamespacedID
}

func newHealthEvals(snap *state.Snapshot, now int64) *healthEvals {
	return &healthEvals{snap: snap, now: now, active: map[string]*structs.Deployment{},
		jobs: map[structs.NamespacedID]*structs.Evaluation{}}
}

func (h *healthEvals) add(existing, u *structs.Allocation) error {
	if existing.DeploymentID == "" || u.DeploymentID != existing.DeploymentID ||
		!u.DeploymentStatus.IsHealthy() || existing.DeploymentStatus.HealthSet() {
		return nil
	}
	d, seen := h.active[existing.DeploymentID]
	if !seen {
		var err error
		if d, err = h.snap.DeploymentByID(nil, existing.DeploymentID); err != nil {
			return fmt.Errorf("reading deployment %s: %w", existing.DeploymentID, err)
		}
		if d != nil && !d.Active() {
			d = nil
		}
		h.active[existing.DeploymentID] = d
	}
	if d == nil {
		return nil
	}
	key := structs.NamespacedID{Namespace: d.Namespace, ID: d.JobID}
	if h.jobs[key] == nil {
		h.jobs[key] = deploymentEval(d, existing.Job, h.now)
		h.order = append(h.order, key)
	}
	return nil
}

// evals returns the collected evals, leaving out jobs in skip (they are
// evaluated anyway).
func (h *healthEvals) evals(skip map[structs.NamespacedID]bool) []*structs.Evaluation {
	var out []*structs.Evaluation
	for _, k := range h.order {
		if !skip[k] {
			out = append(out, h.jobs[k])
		}
	}
	return out
}

// deploymentEval is an evaluation of d's job on behalf of the deployment.
func deploymentEval(d *structs.Deployment, job *structs.Job, now int64) *structs.Evaluation {
	prio, typ := d.EvalPriority, structs.JobTypeService
	if job != nil {
		typ = job.Type
		if prio == 0 {
			prio = job.Priority
		}
	}
	if prio == 0 {
		prio = structs.DefaultJobPriority
	}
	return &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: d.Namespace, Priority: prio, Type: typ,
		TriggeredBy: structs.EvalTriggerDeploymentWatcher, JobID: d.JobID, DeploymentID: d.ID,
		Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
	}
}
