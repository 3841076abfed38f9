package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/structs"
)

// Jobs is the job endpoints.
type Jobs struct{ c *Client }

// Jobs returns the job endpoints.
func (c *Client) Jobs() *Jobs { return &Jobs{c: c} }

func jobPath(id string, suffix string) string { return "/v1/job/" + url.PathEscape(id) + suffix }

// Register submits a job.
func (j *Jobs) Register(ctx context.Context, job *structs.Job) (*structs.JobRegisterResponse, error) {
	return j.RegisterRequest(ctx, &structs.JobRegisterRequest{Job: job})
}

// RegisterRequest submits a job with its source and options.
func (j *Jobs) RegisterRequest(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	var out structs.JobRegisterResponse
	if err := j.c.Write(ctx, http.MethodPut, "/v1/jobs", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns the jobs whose ID starts with prefix.
func (j *Jobs) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.JobListStub, *QueryMeta, error) {
	q = withPrefix(q, prefix)
	var out []*structs.JobListStub
	qm, err := j.c.Query(ctx, "/v1/jobs", q, &out)
	return out, qm, err
}

// Info returns a job.
func (j *Jobs) Info(ctx context.Context, id string, q *QueryOptions) (*structs.Job, *QueryMeta, error) {
	var out structs.Job
	qm, err := j.c.Query(ctx, jobPath(id, ""), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Allocations lists a job's allocations; all includes those of earlier
// jobs registered under the same ID.
func (j *Jobs) Allocations(ctx context.Context, id string, all bool, q *QueryOptions) ([]*structs.AllocListStub, *QueryMeta, error) {
	q = withParam(q, "all", strconv.FormatBool(all))
	var out []*structs.AllocListStub
	qm, err := j.c.Query(ctx, jobPath(id, "/allocations"), q, &out)
	return out, qm, err
}

// Evaluations lists a job's evaluations.
func (j *Jobs) Evaluations(ctx context.Context, id string, q *QueryOptions) ([]*structs.Evaluation, *QueryMeta, error) {
	var out []*structs.Evaluation
	qm, err := j.c.Query(ctx, jobPath(id, "/evaluations"), q, &out)
	return out, qm, err
}

// Summary returns a job's allocation counts per group.
func (j *Jobs) Summary(ctx context.Context, id string, q *QueryOptions) (*structs.JobSummary, *QueryMeta, error) {
	var out structs.JobSummary
	qm, err := j.c.Query(ctx, jobPath(id, "/summary"), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Versions returns a job's retained versions, newest first.
func (j *Jobs) Versions(ctx context.Context, id string, q *QueryOptions) ([]*structs.Job, *QueryMeta, error) {
	var out structs.JobVersionsResponse
	qm, err := j.c.Query(ctx, jobPath(id, "/versions"), q, &out)
	return out.Versions, qm, err
}

// Deregister stops a job; purge also removes it from the state.
func (j *Jobs) Deregister(ctx context.Context, id string, purge bool, q *QueryOptions) (*structs.JobDeregisterResponse, error) {
	return j.DeregisterOpts(ctx, id, structs.JobDeregisterOptions{Purge: purge}, q)
}

// DeregisterOpts stops a job with the given options.
func (j *Jobs) DeregisterOpts(ctx context.Context, id string, opts structs.JobDeregisterOptions, q *QueryOptions) (*structs.JobDeregisterResponse, error) {
	q = withParam(q, "purge", strconv.FormatBool(opts.Purge))
	if opts.NoShutdownDelay {
		q = withParam(q, "no_shutdown_delay", "true")
	}
	if opts.EvalPriority != 0 {
		q = withParam(q, "eval_priority", strconv.Itoa(opts.EvalPriority))
	}
	var out structs.JobDeregisterResponse
	if err := j.c.Write(ctx, http.MethodDelete, jobPath(id, ""), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// withPrefix returns a copy of q with Prefix set.
func withPrefix(q *QueryOptions, prefix string) *QueryOptions {
	var c QueryOptions
	if q != nil {
		c = *q
	}
	if prefix != "" {
		c.Prefix = prefix
	}
	return &c
}

// withParam returns a copy of q with one extra query parameter.
func withParam(q *QueryOptions, k, v string) *QueryOptions {
	var c QueryOptions
	if q != nil {
		c = *q
	}
	params := make(map[string]string, len(c.Params)+1)
	for pk, pv := range c.Params {
		params[pk] = pv
	}
	params[k] = v
	c.Params = params
	return &c
}

// Scale changes (or, without count, only reports on) a group's count.
func (j *Jobs) Scale(ctx context.Context, id string, req *structs.ScalingRequest) (*structs.JobRegisterResponse, error) {
	var out structs.JobRegisterResponse
	if err := j.c.Write(ctx, http.MethodPost, jobPath(id, "/scale"), nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ScaleStatus returns each group's counts and scaling history.
func (j *Jobs) ScaleStatus(ctx context.Context, id string, q *QueryOptions) (*structs.JobScaleStatusResponse, *QueryMeta, error) {
	var out structs.JobScaleStatusResponse
	qm, err := j.c.Query(ctx, jobPath(id, "/scale"), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}
