package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/orch-project/orch/structs"
)

// Variables is the /v1/var and /v1/vars endpoints.
type Variables struct{ c *Client }

// Variables returns the variable endpoints.
func (c *Client) Variables() *Variables { return &Variables{c: c} }

// CASConflictError is a variable write refused by its check index or a
// lock; Current is the variable as it stands (empty when there is none).
type CASConflictError struct {
	Current *structs.VariableDecrypted
	Body    string
}

func (e *CASConflictError) Error() string {
	if strings.Contains(e.Body, "lock") {
		return "lock conflict: " + strings.TrimSpace(e.Body)
	}
	var cur uint64
	if e.Current != nil {
		cur = e.Current.ModifyIndex
	}
	return fmt.Sprintf("check-and-set conflict: the variable's modify index is %d", cur)
}

func varPath(p string) string {
	parts := strings.Split(strings.Trim(p, " /"), "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "/v1/var/" + strings.Join(parts, "/")
}

// conflict turns a 409 reply into a *CASConflictError.
func conflict(err error) error {
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict {
		return err
	}
	ce := &CASConflictError{Body: se.Body}
	var cur structs.VariableDecrypted
	if json.Unmarshal([]byte(se.Body), &cur) == nil {
		ce.Current = &cur
		ce.Body = ""
	}
	return ce
}

// Read returns a variable; a missing one is a 404 *StatusError.
func (v *Variables) Read(ctx context.Context, path string, q *QueryOptions) (*structs.VariableDecrypted, *QueryMeta, error) {
	var out structs.VariableDecrypted
	qm, err := v.c.Query(ctx, varPath(path), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Put writes a variable; with checkIndex it is a check-and-set.
func (v *Variables) Put(ctx context.Context, vr *structs.VariableDecrypted, checkIndex *uint64, q *QueryOptions) (*structs.VariableDecrypted, error) {
	if checkIndex != nil {
		q = withParam(q, "cas", strconv.FormatUint(*checkIndex, 10))
	}
	var out structs.VariableDecrypted
	if err := v.c.Write(ctx, http.MethodPut, varPath(vr.Path), q, vr, &out); err != nil {
		return nil, conflict(err)
	}
	return &out, nil
}

// Delete removes a variable; with checkIndex it is a check-and-set.
func (v *Variables) Delete(ctx context.Context, path string, checkIndex *uint64, q *QueryOptions) error {
	if checkIndex != nil {
		q = withParam(q, "cas", strconv.FormatUint(*checkIndex, 10))
	}
	return conflict(v.c.Write(ctx, http.MethodDelete, varPath(path), q, nil, nil))
}

// List lists variable metadata under prefix, one page when q.Params sets
// per_page.
func (v *Variables) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.VariableMetadata, *QueryMeta, error) {
	var out []*structs.VariableMetadata
	qm, err := v.c.Query(ctx, "/v1/vars", withPrefix(q, prefix), &out)
	return out, qm, err
}

// Lock performs a lock operation ("lock-acquire", "lock-renew",
// "lock-release") and returns the variable's state after it.
func (v *Variables) Lock(ctx context.Context, op string, vr *structs.VariableDecrypted, q *QueryOptions) (*structs.VariableDecrypted, error) {
	var out structs.VariableDecrypted
	if err := v.c.Write(ctx, http.MethodPut, varPath(vr.Path)+"?"+op, q, vr, &out); err != nil {
		return nil, conflict(err)
	}
	return &out, nil
}

// Keyring is the /v1/operator/keyring endpoints.
type Keyring struct{ c *Client }

// Keyring returns the keyring endpoints.
func (c *Client) Keyring() *Keyring { return &Keyring{c: c} }

// List returns the root keys' metadata.
func (k *Keyring) List(ctx context.Context) ([]*structs.RootKeyMeta, error) {
	var out []*structs.RootKeyMeta
	_, err := k.c.Query(ctx, "/v1/operator/keyring/keys", nil, &out)
	return out, err
}

// Rotate creates a new root key; see the server's RotateRootKey.
func (k *Keyring) Rotate(ctx context.Context, full bool, publishTime int64) (*structs.RootKeyMeta, error) {
	q := &QueryOptions{Params: map[string]string{}}
	if full {
		q.Params["full"] = "true"
	}
	if publishTime > 0 {
		q.Params["publish_time"] = strconv.FormatInt(publishTime, 10)
	}
	var out structs.KeyringRotateResponse
	if err := k.c.Write(ctx, http.MethodPut, "/v1/operator/keyring/rotate", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Key, nil
}

// Delete removes a root key.
func (k *Keyring) Delete(ctx context.Context, id string, force bool) error {
	q := &QueryOptions{Params: map[string]string{"force": strconv.FormatBool(force)}}
	return k.c.Write(ctx, http.MethodDelete, "/v1/operator/keyring/key/"+url.PathEscape(id), q, nil, nil)
}
