package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// remoteACLSource resolves tokens for a client-only agent by asking its
// servers, with the caller's own secret: the token reads itself, and the
// policies and roles it carries, which any token may. Answers are cached by
// the resolver for the acl block's TTLs.
type remoteACLSource struct {
	servers func() []string
	hc      *http.Client
	tls     *tls.Config // set when the servers serve HTTPS
}

// ask GETs path from the first server that answers; a 403 or 404 means
// "no such object" to the resolver.
func (r *remoteACLSource) ask(ctx context.Context, path string, out any) (bool, error) {
	var lastErr error = errors.New("no servers known")
	for _, addr := range r.servers() {
		c, err := api.NewClient(api.Config{Address: addr, HTTPClient: r.hc, TLS: r.tls})
		if err != nil {
			lastErr = err
			continue
		}
		_, err = c.Query(ctx, path, &api.QueryOptions{AuthToken: acl.SecretFromContext(ctx)}, out)
		var se *api.StatusError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &se) && (se.Code == http.StatusForbidden || se.Code == http.StatusNotFound):
			return false, nil
		case ctx.Err() != nil:
			return false, ctx.Err()
		}
		lastErr = err
	}
	return false, fmt.Errorf("asking servers for %s: %w", path, lastErr)
}

func (r *remoteACLSource) TokenBySecret(ctx context.Context, secret string) (*structs.ACLToken, error) {
	var tok structs.ACLToken
	ok, err := r.ask(ctx, "/v1/acl/token/self", &tok)
	if err != nil || !ok {
		return nil, err
	}
	return &tok, nil
}

func (r *remoteACLSource) PoliciesByName(ctx context.Context, names []string) ([]*structs.ACLPolicy, error) {
	var out []*structs.ACLPolicy
	for _, n := range names {
		var p structs.ACLPolicy
		ok, err := r.ask(ctx, "/v1/acl/policy/"+url.PathEscape(n), &p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &p)
		}
	}
	return out, nil
}

func (r *remoteACLSource) RolesByID(ctx context.Context, ids []string) ([]*structs.ACLRole, error) {
	var out []*structs.ACLRole
	for _, id := range ids {
		var role structs.ACLRole
		ok, err := r.ask(ctx, "/v1/acl/role/"+url.PathEscape(id), &role)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &role)
		}
	}
	return out, nil
}

// Version is unknown remotely: the resolver falls back to its TTL.
func (r *remoteACLSource) Version() uint64 { return 0 }
