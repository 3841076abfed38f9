package api

import (
	"context"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Evaluations is the evaluation endpoints.
type Evaluations struct{ c *Client }

// Evaluations returns the evaluation endpoints.
func (c *Client) Evaluations() *Evaluations { return &Evaluations{c: c} }

// List returns the evaluations whose ID starts with prefix.
func (e *Evaluations) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.Evaluation, *QueryMeta, error) {
	var out []*structs.Evaluation
	qm, err := e.c.Query(ctx, "/v1/evaluations", withPrefix(q, prefix), &out)
	return out, qm, err
}

// Info returns an evaluation with its related evaluations as stubs.
func (e *Evaluations) Info(ctx context.Context, id string, q *QueryOptions) (*structs.Evaluation, *QueryMeta, error) {
	var out structs.Evaluation
	qm, err := e.c.Query(ctx, "/v1/evaluation/"+url.PathEscape(id), withParam(q, "related", "true"), &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Allocations lists the allocations an evaluation placed or updated.
func (e *Evaluations) Allocations(ctx context.Context, id string, q *QueryOptions) ([]*structs.AllocListStub, *QueryMeta, error) {
	var out []*structs.AllocListStub
	qm, err := e.c.Query(ctx, "/v1/evaluation/"+url.PathEscape(id)+"/allocations", q, &out)
	return out, qm, err
}
