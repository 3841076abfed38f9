package server

import (
	"fmt"

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
