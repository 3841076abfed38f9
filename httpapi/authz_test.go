package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// memSource is an in-memory acl.Source for guard tests; the matrix test
// runs against the real state store.
type memSource struct {
	tokens   map[string]*structs.ACLToken
	policies map[string]*structs.ACLPolicy
}

func (m *memSource) TokenBySecret(_ context.Context, s string) (*structs.ACLToken, error) {
	return m.tokens[s], nil
}

func (m *memSource) PoliciesByName(_ context.Context, names []string) ([]*structs.ACLPolicy, error) {
	var out []*structs.ACLPolicy
	for _, n := range names {
		if p := m.policies[n]; p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memSource) RolesByID(context.Context, []string) ([]*structs.ACLRole, error) { return nil, nil }
func (m *memSource) Version() uint64                                                 { return 1 }

func guardServer(t *testing.T, enabled bool, src acl.Source, register func(s *Server, rt *router)) *httptest.Server {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Server: b, Logger: quietLogger(), ACLEnabled: enabled, Resolver: acl.NewResolver(src, 0, 0)})
	register(s, s.router)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, strings.TrimSpace(sb.String())
}

// A handler on a deferred route that answers without checking is refused:
// a forgotten check fails closed, with or without ACLs.
func TestDeferredCheckIsEnforced(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		src := &memSource{tokens: map[string]*structs.ACLToken{
			"mgmt": {AccessorID: "a", SecretID: "mgmt", Type: structs.ACLTokenTypeManagement},
		}}
		ts := guardServer(t, enabled, src, func(s *Server, rt *router) {
			rt.handle("GET /forgot", nsObject(acl.NamespaceCapabilityReadJob), func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, r, 200, "leak")
			})
			rt.handle("GET /checked", nsObject(acl.NamespaceCapabilityReadJob), func(w http.ResponseWriter, r *http.Request) {
				if err := authzOf(r).AllowNamespace("default", acl.NamespaceCapabilityReadJob); err != nil {
					writeError(w, err)
					return
				}
				writeJSON(w, r, 200, "ok")
			})
		})
		hdr := map[string]string{"X-Nomad-Token": "mgmt"}
		if code, body := get(t, ts.URL+"/forgot", hdr); code != 500 || strings.Contains(body, "leak") {
			t.Errorf("acl=%v: unchecked deferred route answered %d %q", enabled, code, body)
		}
		if code, body := get(t, ts.URL+"/checked", hdr); code != 200 {
			t.Errorf("acl=%v: checked route answered %d %q", enabled, code, body)
		}
	}
}

func TestTokenHeadersAndErrors(t *testing.T) {
	exp := time.Now().Add(-time.Minute)
	src := &memSource{
		tokens: map[string]*structs.ACLToken{
			"reader":  {AccessorID: "r", SecretID: "reader", Type: structs.ACLTokenTypeClient, Policies: []string{"read"}},
			"expired": {AccessorID: "e", SecretID: "expired", Type: structs.ACLTokenTypeClient, Policies: []string{"read"}, ExpirationTime: &exp},
		},
		policies: map[string]*structs.ACLPolicy{"read": {Name: "read", Rules: `node { policy = "read" }`}},
	}
	ts := guardServer(t, true, src, func(s *Server, rt *router) {
		rt.handle("GET /node", nodeLevel(acl.PolicyRead), func(w http.ResponseWriter, r *http.Request) { writeJSON(w, r, 200, "ok") })
		rt.handle("GET /nodew", nodeLevel(acl.PolicyWrite), func(w http.ResponseWriter, r *http.Request) { writeJSON(w, r, 200, "ok") })
		rt.handle("GET /pub", public(), func(w http.ResponseWriter, r *http.Request) { writeJSON(w, r, 200, "ok") })
	})
	cases := []struct {
		path string
		hdr  map[string]string
		code int
		body string
	}{
		{"/node", nil, 403, "Permission denied"},
		{"/node", map[string]string{"X-Nomad-Token": "reader"}, 200, ""},
		{"/node", map[string]string{"Authorization": "Bearer reader"}, 200, ""},
		{"/node", map[string]string{"X-Nomad-Token": "nope"}, 403, "ACL token not found"},
		{"/node", map[string]string{"X-Nomad-Token": "expired"}, 403, "ACL token expired"},
		{"/nodew", map[string]string{"X-Nomad-Token": "reader"}, 403, "Permission denied"},
		{"/pub", map[string]string{"X-Nomad-Token": "nope"}, 200, ""},
	}
	for _, c := range cases {
		code, body := get(t, ts.URL+c.path, c.hdr)
		if code != c.code || (c.body != "" && body != c.body) {
			t.Errorf("GET %s %v: %d %q, want %d %q", c.path, c.hdr, code, body, c.code, c.body)
		}
	}
}
