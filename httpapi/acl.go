package httpapi

import (
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// aclRoutes are Nomad's /v1/acl endpoints. Reads of policies, tokens and
// roles are open to management tokens and to the tokens that carry them
// (a token may read itself, its policies and its roles).
func (s *Server) aclRoutes(rt *router) {
	rt.handle("PUT /v1/acl/bootstrap", public(), s.write(s.aclBootstrap))
	rt.handle("POST /v1/acl/bootstrap", public(), s.write(s.aclBootstrap))

	rt.handle("GET /v1/acl/policies", tokenHolder(), s.read(s.aclPolicyList))
	rt.handle("GET /v1/acl/policy/{name}", tokenHolder(), s.read(s.aclPolicyInfo))
	rt.handle("PUT /v1/acl/policy/{name}", management(), s.write(s.aclPolicyUpsert))
	rt.handle("POST /v1/acl/policy/{name}", management(), s.write(s.aclPolicyUpsert))
	rt.handle("DELETE /v1/acl/policy/{name}", management(), s.write(s.aclPolicyDelete))

	rt.handle("GET /v1/acl/tokens", management(), s.read(s.aclTokenList))
	rt.handle("PUT /v1/acl/token", management(), s.write(s.aclTokenUpsert))
	rt.handle("POST /v1/acl/token", management(), s.write(s.aclTokenUpsert))
	rt.handle("GET /v1/acl/token/self", tokenHolder(), s.read(s.aclTokenSelf))
	rt.handle("GET /v1/acl/token/{accessor}", tokenHolder(), s.read(s.aclTokenInfo))
	rt.handle("PUT /v1/acl/token/{accessor}", management(), s.write(s.aclTokenUpsert))
	rt.handle("POST /v1/acl/token/{accessor}", management(), s.write(s.aclTokenUpsert))
	rt.handle("DELETE /v1/acl/token/{accessor}", management(), s.write(s.aclTokenDelete))

	rt.handle("GET /v1/acl/roles", tokenHolder(), s.read(s.aclRoleList))
	rt.handle("PUT /v1/acl/role", management(), s.write(s.aclRoleUpsert))
	rt.handle("POST /v1/acl/role", management(), s.write(s.aclRoleUpsert))
	rt.handle("GET /v1/acl/role/{id}", tokenHolder(), s.read(s.aclRoleInfo))
	rt.handle("GET /v1/acl/role/name/{name}", tokenHolder(), s.read(s.aclRoleByName))
	rt.handle("PUT /v1/acl/role/{id}", management(), s.write(s.aclRoleUpsert))
	rt.handle("POST /v1/acl/role/{id}", management(), s.write(s.aclRoleUpsert))
	rt.handle("DELETE /v1/acl/role/{id}", management(), s.write(s.aclRoleDelete))
}

// errACLDisabled is Nomad's answer to ACL endpoints on an agent without ACLs.
func (s *Server) aclDisabled() error {
	if s.cfg.ACLEnabled {
		return nil
	}
	return codedErr(http.StatusBadRequest, "ACL support disabled")
}

var aclTables = []string{state.TableACLPolicies, state.TableACLTokens, state.TableACLRoles}

func (s *Server) aclBootstrap(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	var req structs.ACLBootstrapRequest
	// The body is optional: without one Nomad generates the secret.
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	if err != nil {
		return nil, 0, codedErr(http.StatusBadRequest, "Failed to read request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := decodeBody(r, &req); err != nil {
			return nil, 0, err
		}
	}
	tok, idx, err := s.srv.BootstrapACL(r.Context(), req.BootstrapSecret)
	if err != nil {
		return nil, 0, err
	}
	return tok, idx, nil
}

// tokenPolicySet is every policy a token grants, directly or by role.
func tokenPolicySet(st *state.Snapshot, tok *structs.ACLToken) (map[string]bool, error) {
	out := map[string]bool{}
	if tok == nil {
		return out, nil
	}
	for _, p := range tok.Policies {
		out[p] = true
	}
	for _, l := range tok.Roles {
		if l == nil {
			continue
		}
		role, err := st.ACLRoleByID(nil, l.ID)
		if err != nil {
			return nil, err
		}
		if role != nil {
			for _, p := range role.PolicyNames() {
				out[p] = true
			}
		}
	}
	return out, nil
}

func (s *Server) aclPolicyList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	z := authzOf(r)
	mgmt := z.ACL().IsManagement()
	mine, err := tokenPolicySet(st, z.Token())
	if err != nil {
		return 0, nil, err
	}
	all, err := st.ACLPolicies(ws, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]*structs.ACLPolicyListStub, 0, len(all))
	for _, p := range all {
		if mgmt || mine[p.Name] {
			out = append(out, p.Stub())
		}
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, out, err
}

func (s *Server) aclPolicyInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	z := authzOf(r)
	mine, err := tokenPolicySet(st, z.Token())
	if err != nil {
		return 0, nil, err
	}
	if err := z.Decide(z.ACL().IsManagement() || mine[name]); err != nil {
		return 0, nil, err
	}
	p, err := st.ACLPolicyByName(ws, name)
	if err != nil {
		return 0, nil, err
	}
	if p == nil {
		return 0, nil, codedErr(http.StatusNotFound, "ACL policy not found")
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, p, err
}

func (s *Server) aclPolicyUpsert(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	var p structs.ACLPolicy
	if err := decodeBody(r, &p); err != nil {
		return nil, 0, err
	}
	name := r.PathValue("name")
	if p.Name == "" {
		p.Name = name
	}
	if p.Name != name {
		return nil, 0, codedErr(http.StatusBadRequest, "Policy name does not match request path")
	}
	idx, err := s.srv.UpsertACLPolicies(r.Context(), []*structs.ACLPolicy{&p})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}

func (s *Server) aclPolicyDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	idx, err := s.srv.DeleteACLPolicies(r.Context(), []string{r.PathValue("name")})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}

func (s *Server) aclTokenList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	all, err := st.ACLTokens(ws)
	if err != nil {
		return 0, nil, err
	}
	prefix := r.URL.Query().Get("prefix")
	out := make([]*structs.ACLTokenListStub, 0, len(all))
	for _, t := range all {
		if strings.HasPrefix(t.AccessorID, prefix) {
			out = append(out, t.Stub())
		}
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, out, err
}

func (s *Server) aclTokenSelf(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	z := authzOf(r)
	tok := z.Token()
	_ = z.Decide(true) // a token may always read itself
	if tok == nil || tok == structs.AnonymousACLToken {
		return 0, nil, codedErr(http.StatusForbidden, "ACL token not found")
	}
	// Read it back so a blocking query sees its changes.
	cur, err := st.ACLTokenByAccessor(ws, tok.AccessorID)
	if err != nil {
		return 0, nil, err
	}
	if cur == nil {
		return 0, nil, codedErr(http.StatusForbidden, "ACL token not found")
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, cur, err
}

func (s *Server) aclTokenInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	accessor := r.PathValue("accessor")
	z := authzOf(r)
	own := z.Token() != nil && z.Token().AccessorID == accessor
	if err := z.Decide(z.ACL().IsManagement() || own); err != nil {
		return 0, nil, err
	}
	t, err := st.ACLTokenByAccessor(ws, accessor)
	if err != nil {
		return 0, nil, err
	}
	if t == nil {
		return 0, nil, codedErr(http.StatusNotFound, "ACL token not found")
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, t, err
}

func (s *Server) aclTokenUpsert(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	var t structs.ACLToken
	if err := decodeBody(r, &t); err != nil {
		return nil, 0, err
	}
	if a := r.PathValue("accessor"); a != "" {
		if t.AccessorID == "" {
			t.AccessorID = a
		}
		if t.AccessorID != a {
			return nil, 0, codedErr(http.StatusBadRequest, "Token accessor ID does not match request path")
		}
	} else if t.AccessorID != "" {
		return nil, 0, codedErr(http.StatusBadRequest, "Token accessor ID must not be set on create")
	}
	out, idx, err := s.srv.UpsertACLToken(r.Context(), &t)
	if err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

func (s *Server) aclTokenDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	idx, err := s.srv.DeleteACLTokens(r.Context(), []string{r.PathValue("accessor")})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}

// ownsRole reports whether the caller's token links the role.
func ownsRole(tok *structs.ACLToken, id string) bool {
	if tok == nil {
		return false
	}
	for _, l := range tok.Roles {
		if l != nil && l.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) aclRoleList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	z := authzOf(r)
	mgmt := z.ACL().IsManagement()
	all, err := st.ACLRoles(ws)
	if err != nil {
		return 0, nil, err
	}
	prefix := r.URL.Query().Get("prefix")
	out := make([]*structs.ACLRole, 0, len(all))
	for _, role := range all {
		if strings.HasPrefix(role.ID, prefix) && (mgmt || ownsRole(z.Token(), role.ID)) {
			out = append(out, role)
		}
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, out, err
}

func (s *Server) aclRoleInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	return s.aclRoleRead(r, ws, st, func() (*structs.ACLRole, error) { return st.ACLRoleByID(ws, r.PathValue("id")) })
}

func (s *Server) aclRoleByName(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	return s.aclRoleRead(r, ws, st, func() (*structs.ACLRole, error) { return st.ACLRoleByName(ws, r.PathValue("name")) })
}

func (s *Server) aclRoleRead(r *http.Request, ws memdb.WatchSet, st *state.Snapshot, lookup func() (*structs.ACLRole, error)) (uint64, any, error) {
	if err := s.aclDisabled(); err != nil {
		return 0, nil, err
	}
	z := authzOf(r)
	role, err := lookup()
	if err != nil {
		return 0, nil, err
	}
	// Whether a role exists is itself guarded: a caller who may not read
	// it gets 403 whether or not it exists.
	allowed := z.ACL().IsManagement() || (role != nil && ownsRole(z.Token(), role.ID))
	if err := z.Decide(allowed); err != nil {
		return 0, nil, err
	}
	if role == nil {
		return 0, nil, codedErr(http.StatusNotFound, "ACL role not found")
	}
	idx, err := maxIndex(st, aclTables...)
	return idx, role, err
}

func (s *Server) aclRoleUpsert(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	var role structs.ACLRole
	if err := decodeBody(r, &role); err != nil {
		return nil, 0, err
	}
	if id := r.PathValue("id"); id != "" {
		if role.ID == "" {
			role.ID = id
		}
		if role.ID != id {
			return nil, 0, codedErr(http.StatusBadRequest, "ACL role ID does not match request path")
		}
	} else if role.ID != "" {
		return nil, 0, codedErr(http.StatusBadRequest, "ACL role ID must not be set on create")
	}
	out, idx, err := s.srv.UpsertACLRole(r.Context(), &role)
	if err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

func (s *Server) aclRoleDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	if err := s.aclDisabled(); err != nil {
		return nil, 0, err
	}
	idx, err := s.srv.DeleteACLRoles(r.Context(), []string{r.PathValue("id")})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}
