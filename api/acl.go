package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// ACL is the /v1/acl endpoints.
type ACL struct{ c *Client }

// ACL returns the ACL endpoints.
func (c *Client) ACL() *ACL { return &ACL{c: c} }

// Bootstrap creates the initial management token; secret may be empty.
func (a *ACL) Bootstrap(ctx context.Context, secret string) (*structs.ACLToken, error) {
	var out structs.ACLToken
	var in any
	if secret != "" {
		in = &structs.ACLBootstrapRequest{BootstrapSecret: secret}
	}
	err := a.c.Write(ctx, http.MethodPut, "/v1/acl/bootstrap", nil, in, &out)
	return &out, err
}

func (a *ACL) Policies(ctx context.Context) ([]*structs.ACLPolicyListStub, error) {
	var out []*structs.ACLPolicyListStub
	_, err := a.c.Query(ctx, "/v1/acl/policies", nil, &out)
	return out, err
}

func (a *ACL) Policy(ctx context.Context, name string) (*structs.ACLPolicy, error) {
	var out structs.ACLPolicy
	_, err := a.c.Query(ctx, "/v1/acl/policy/"+url.PathEscape(name), nil, &out)
	return &out, err
}

func (a *ACL) UpsertPolicy(ctx context.Context, p *structs.ACLPolicy) error {
	return a.c.Write(ctx, http.MethodPut, "/v1/acl/policy/"+url.PathEscape(p.Name), nil, p, nil)
}

func (a *ACL) DeletePolicy(ctx context.Context, name string) error {
	return a.c.Write(ctx, http.MethodDelete, "/v1/acl/policy/"+url.PathEscape(name), nil, nil, nil)
}

func (a *ACL) Tokens(ctx context.Context) ([]*structs.ACLTokenListStub, error) {
	var out []*structs.ACLTokenListStub
	_, err := a.c.Query(ctx, "/v1/acl/tokens", nil, &out)
	return out, err
}

func (a *ACL) Token(ctx context.Context, accessor string) (*structs.ACLToken, error) {
	var out structs.ACLToken
	_, err := a.c.Query(ctx, "/v1/acl/token/"+url.PathEscape(accessor), nil, &out)
	return &out, err
}

func (a *ACL) TokenSelf(ctx context.Context) (*structs.ACLToken, error) {
	var out structs.ACLToken
	_, err := a.c.Query(ctx, "/v1/acl/token/self", nil, &out)
	return &out, err
}

// UpsertToken creates a token (no AccessorID) or updates one.
func (a *ACL) UpsertToken(ctx context.Context, t *structs.ACLToken) (*structs.ACLToken, error) {
	path := "/v1/acl/token"
	if t.AccessorID != "" {
		path += "/" + url.PathEscape(t.AccessorID)
	}
	var out structs.ACLToken
	err := a.c.Write(ctx, http.MethodPut, path, nil, t, &out)
	return &out, err
}

func (a *ACL) DeleteToken(ctx context.Context, accessor string) error {
	return a.c.Write(ctx, http.MethodDelete, "/v1/acl/token/"+url.PathEscape(accessor), nil, nil, nil)
}

func (a *ACL) Roles(ctx context.Context) ([]*structs.ACLRole, error) {
	var out []*structs.ACLRole
	_, err := a.c.Query(ctx, "/v1/acl/roles", nil, &out)
	return out, err
}

// Role returns a role by ID, or by name with byName.
func (a *ACL) Role(ctx context.Context, idOrName string, byName bool) (*structs.ACLRole, error) {
	path := "/v1/acl/role/" + url.PathEscape(idOrName)
	if byName {
		path = "/v1/acl/role/name/" + url.PathEscape(idOrName)
	}
	var out structs.ACLRole
	_, err := a.c.Query(ctx, path, nil, &out)
	return &out, err
}

// UpsertRole creates a role (no ID) or updates one.
func (a *ACL) UpsertRole(ctx context.Context, r *structs.ACLRole) (*structs.ACLRole, error) {
	path := "/v1/acl/role"
	if r.ID != "" {
		path += "/" + url.PathEscape(r.ID)
	}
	var out structs.ACLRole
	err := a.c.Write(ctx, http.MethodPut, path, nil, r, &out)
	return &out, err
}

func (a *ACL) DeleteRole(ctx context.Context, id string) error {
	return a.c.Write(ctx, http.MethodDelete, "/v1/acl/role/"+url.PathEscape(id), nil, nil, nil)
}
