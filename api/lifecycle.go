package api

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/structs"
)

// Dispatch creates a child of a parameterized job; a non-empty token makes
// the dispatch idempotent (idempotency_token, as nomad/api sends it).
func (j *Jobs) Dispatch(ctx context.Context, req *structs.JobDispatchRequest, token string, q *QueryOptions) (*structs.JobDispatchResponse, error) {
	if token != "" {
		q = withParam(q, "idempotency_token", token)
	}
	var out structs.JobDispatchResponse
	if err := j.c.Write(ctx, http.MethodPut, jobPath(req.JobID, "/dispatch"), q, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PeriodicForce launches a periodic job now.
func (j *Jobs) PeriodicForce(ctx context.Context, id string, q *QueryOptions) (*structs.PeriodicForceResponse, error) {
	var out structs.PeriodicForceResponse
	if err := j.c.Write(ctx, http.MethodPut, jobPath(id, "/periodic/force"), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Children lists the children of a periodic or parameterized job.
func (j *Jobs) Children(ctx context.Context, id string, q *QueryOptions) ([]*structs.JobListStub, error) {
	jobs, _, err := j.List(ctx, id+"/", q)
	if err != nil {
		return nil, err
	}
	out := jobs[:0]
	for _, c := range jobs {
		if c.ParentID == id {
			out = append(out, c)
		}
	}
	return out, nil
}
