package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Namespaces is the namespace endpoints.
type Namespaces struct{ c *Client }

// Namespaces returns the namespace endpoints.
func (c *Client) Namespaces() *Namespaces { return &Namespaces{c: c} }

func (n *Namespaces) List(ctx context.Context, prefix string) ([]*structs.Namespace, error) {
	var out []*structs.Namespace
	_, err := n.c.Query(ctx, "/v1/namespaces", &QueryOptions{Prefix: prefix}, &out)
	return out, err
}

func (n *Namespaces) Info(ctx context.Context, name string) (*structs.Namespace, error) {
	var out structs.Namespace
	_, err := n.c.Query(ctx, "/v1/namespace/"+url.PathEscape(name), nil, &out)
	return &out, err
}

func (n *Namespaces) Register(ctx context.Context, ns *structs.Namespace) error {
	return n.c.Write(ctx, http.MethodPut, "/v1/namespace/"+url.PathEscape(ns.Name), nil, ns, nil)
}

func (n *Namespaces) Delete(ctx context.Context, name string) error {
	return n.c.Write(ctx, http.MethodDelete, "/v1/namespace/"+url.PathEscape(name), nil, nil, nil)
}
