package api

import (
	"context"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Allocations is the allocation endpoints.
type Allocations struct{ c *Client }

// Allocations returns the allocation endpoints.
func (c *Client) Allocations() *Allocations { return &Allocations{c: c} }

// List returns the allocations whose ID starts with prefix.
func (a *Allocations) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.AllocListStub, *QueryMeta, error) {
	var out []*structs.AllocListStub
	qm, err := a.c.Query(ctx, "/v1/allocations", withPrefix(q, prefix), &out)
	return out, qm, err
}

// Info returns a full allocation, including the job version it runs.
func (a *Allocations) Info(ctx context.Context, id string, q *QueryOptions) (*structs.Allocation, *QueryMeta, error) {
	var out structs.Allocation
	qm, err := a.c.Query(ctx, "/v1/allocation/"+url.PathEscape(id), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Checks returns the latest results of the allocation's service checks, by
// check ID, as the client running them reports.
func (a *Allocations) Checks(ctx context.Context, id string) (map[string]*structs.CheckQueryResult, error) {
	out := map[string]*structs.CheckQueryResult{}
	_, err := a.c.Query(ctx, "/v1/client/allocation/"+url.PathEscape(id)+"/checks", nil, &out)
	return out, err
}
