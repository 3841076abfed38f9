package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/orch-project/orch/structs"
)

// Plan runs the scheduler dry run of registering job; diff asks for the
// annotated diff against the stored version.
func (j *Jobs) Plan(ctx context.Context, job *structs.Job, diff bool, q *QueryOptions) (*structs.JobPlanResponse, error) {
	var out structs.JobPlanResponse
	if err := j.c.Write(ctx, http.MethodPut, jobPath(job.ID, "/plan"), q, &structs.JobPlanRequest{Job: job, Diff: diff}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VersionsWithDiffs returns a job's retained versions, newest first, and
// the diff of each from the one before it.
func (j *Jobs) VersionsWithDiffs(ctx context.Context, id string, q *QueryOptions) (*structs.JobVersionsResponse, *QueryMeta, error) {
	var out structs.JobVersionsResponse
	qm, err := j.c.Query(ctx, jobPath(id, "/versions"), withParam(q, "diffs", "true"), &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Revert registers an earlier version of a job again; with prior set, only
// if the job is still at that version.
func (j *Jobs) Revert(ctx context.Context, id string, version uint64, prior *uint64, q *QueryOptions) (*structs.JobRegisterResponse, error) {
	var out structs.JobRegisterResponse
	req := &structs.JobRevertRequest{JobID: id, JobVersion: version, EnforcePriorVersion: prior}
	if err := j.c.Write(ctx, http.MethodPut, jobPath(id, "/revert"), q, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Evaluate forces an evaluation of a job.
func (j *Jobs) Evaluate(ctx context.Context, id string, opts structs.EvalOptions, q *QueryOptions) (*structs.JobRegisterResponse, error) {
	var out structs.JobRegisterResponse
	req := &structs.JobEvaluateRequest{JobID: id, EvalOptions: opts}
	if err := j.c.Write(ctx, http.MethodPut, jobPath(id, "/evaluate"), q, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Submission returns the source a version of a job was submitted with.
func (j *Jobs) Submission(ctx context.Context, id string, version uint64, q *QueryOptions) (*structs.JobSubmission, *QueryMeta, error) {
	var out structs.JobSubmission
	qm, err := j.c.Query(ctx, jobPath(id, "/submission"), withParam(q, "version", strconv.FormatUint(version, 10)), &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// LatestDeployment returns a job's latest deployment, nil when none.
func (j *Jobs) LatestDeployment(ctx context.Context, id string, q *QueryOptions) (*structs.Deployment, *QueryMeta, error) {
	var out *structs.Deployment
	qm, err := j.c.Query(ctx, jobPath(id, "/deployment"), q, &out)
	return out, qm, err
}

// Deployments lists a job's deployments, newest first.
func (j *Jobs) Deployments(ctx context.Context, id string, all bool, q *QueryOptions) ([]*structs.Deployment, *QueryMeta, error) {
	var out []*structs.Deployment
	qm, err := j.c.Query(ctx, jobPath(id, "/deployments"), withParam(q, "all", strconv.FormatBool(all)), &out)
	return out, qm, err
}
