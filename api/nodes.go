package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Nodes is the node endpoints.
type Nodes struct{ c *Client }

// Nodes returns the node endpoints.
func (c *Client) Nodes() *Nodes { return &Nodes{c: c} }

// List returns the nodes whose ID starts with prefix.
func (n *Nodes) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.NodeListStub, *QueryMeta, error) {
	var out []*structs.NodeListStub
	qm, err := n.c.Query(ctx, "/v1/nodes", withPrefix(q, prefix), &out)
	return out, qm, err
}

// Info returns a node.
func (n *Nodes) Info(ctx context.Context, id string, q *QueryOptions) (*structs.Node, *QueryMeta, error) {
	var out structs.Node
	qm, err := n.c.Query(ctx, "/v1/node/"+url.PathEscape(id), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Allocations returns a node's full allocations; with q.WaitIndex set it
// blocks until they change, which is how a client watches for work.
func (n *Nodes) Allocations(ctx context.Context, id string, q *QueryOptions) ([]*structs.Allocation, *QueryMeta, error) {
	var out []*structs.Allocation
	qm, err := n.c.Query(ctx, "/v1/node/"+url.PathEscape(id)+"/allocations", q, &out)
	return out, qm, err
}

// Register registers or refreshes a node (client -> server).
func (n *Nodes) Register(ctx context.Context, node *structs.Node) (*structs.NodeUpdateResponse, error) {
	var out structs.NodeUpdateResponse
	err := n.c.Write(ctx, http.MethodPut, "/v1/internal/node/register", nil, &structs.NodeRegisterRequest{Node: node}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAllocs reports allocation status changes (client -> server).
func (n *Nodes) UpdateAllocs(ctx context.Context, allocs []*structs.Allocation) (*structs.GenericResponse, error) {
	var out structs.GenericResponse
	err := n.c.Write(ctx, http.MethodPut, "/v1/internal/allocs/update", nil, &structs.AllocUpdateRequest{Alloc: allocs}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
