package api

import (
	"context"
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
