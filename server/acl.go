package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// The namespace and ACL write API. Every write is checked on the leader
// (acl.Prepare*/Validate*) before it reaches Raft; the FSM re-checks what
// concurrent writes could invalidate (unique role names, empty namespaces,
// a single bootstrap).

// badInput turns a validation failure into a 400 with its own text.
func badInput(err error) error { return &statusError{400, err.Error()} }

// UpsertNamespaces creates or updates namespaces.
func (s *Server) UpsertNamespaces(ctx context.Context, nss []*structs.Namespace) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	if len(nss) == 0 {
		return 0, badInput(errors.New("must specify at least one namespace"))
	}
	for _, ns := range nss {
		if err := acl.ValidateNamespace(ns); err != nil {
			return 0, badInput(err)
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.NamespaceUpsertType, &raftfsm.NamespaceUpsert{Namespaces: nss})
}

// DeleteNamespaces removes namespaces that hold nothing.
func (s *Server) DeleteNamespaces(ctx context.Context, names []string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	snap := s.State().Snapshot()
	for _, n := range names {
		if n == structs.DefaultNamespace {
			return 0, badInput(errors.New("default namespace can not be deleted"))
		}
		ns, err := snap.NamespaceByName(nil, n)
		if err != nil {
			return 0, err
		}
		if ns == nil {
			return 0, fmt.Errorf("%w: namespace %q", ErrNotFound, n)
		}
		what, err := snap.NamespaceInUse(n)
		if err != nil {
			return 0, err
		}
		if what != "" {
			return 0, badInput(fmt.Errorf("namespace %q has %s; delete them first", n, what))
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.NamespaceDeleteType, &raftfsm.NamespaceDelete{Names: names})
}

// UpsertACLPolicies creates or updates policies.
func (s *Server) UpsertACLPolicies(ctx context.Context, policies []*structs.ACLPolicy) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	for _, p := range policies {
		if err := acl.ValidatePolicy(p); err != nil {
			return 0, badInput(err)
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.ACLPolicyUpsertType, &raftfsm.ACLPolicyUpsert{Policies: policies})
}

// DeleteACLPolicies removes policies.
func (s *Server) DeleteACLPolicies(ctx context.Context, names []string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	snap := s.State().Snapshot()
	for _, n := range names {
		if p, err := snap.ACLPolicyByName(nil, n); err != nil {
			return 0, err
		} else if p == nil {
			return 0, fmt.Errorf("%w: ACL policy %q", ErrNotFound, n)
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.ACLPolicyDeleteType, &raftfsm.ACLPolicyDelete{Names: names})
}

// UpsertACLToken creates a token (no AccessorID) or updates one, and
// returns it as stored.
func (s *Server) UpsertACLToken(ctx context.Context, in *structs.ACLToken) (*structs.ACLToken, uint64, error) {
	if !s.IsLeader() {
		return nil, 0, ErrNotLeader
	}
	tok, err := acl.PrepareToken(s.State().Snapshot(), time.Now(), in)
	if err != nil {
		return nil, 0, badInput(err)
	}
	idx, err := s.raftApplyCtx(ctx, raftfsm.ACLTokenUpsertType, &raftfsm.ACLTokenUpsert{Tokens: []*structs.ACLToken{tok}})
	if err != nil {
		return nil, 0, err
	}
	stored, err := s.State().Snapshot().ACLTokenByAccessor(nil, tok.AccessorID)
	if err != nil || stored == nil {
		return nil, 0, fmt.Errorf("reading back token %s: %v", tok.AccessorID, err)
	}
	return stored, idx, nil
}

// DeleteACLTokens removes tokens by accessor ID.
func (s *Server) DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	snap := s.State().Snapshot()
	for _, a := range accessors {
		if t, err := snap.ACLTokenByAccessor(nil, a); err != nil {
			return 0, err
		} else if t == nil {
			return 0, fmt.Errorf("%w: ACL token %q", ErrNotFound, a)
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.ACLTokenDeleteType, &raftfsm.ACLTokenDelete{AccessorIDs: accessors})
}

// BootstrapACL creates the initial management token, once. A second
// bootstrap needs the reset index, which the operator writes to
// <data_dir>/server/acl-bootstrap-reset on the leader, as in Nomad.
func (s *Server) BootstrapACL(ctx context.Context, secret string) (*structs.ACLToken, uint64, error) {
	if !s.IsLeader() {
		return nil, 0, ErrNotLeader
	}
	cur, err := s.State().Snapshot().ACLBootstrapIndex()
	if err != nil {
		return nil, 0, err
	}
	reset := s.bootstrapResetIndex()
	if cur != 0 && reset != cur {
		return nil, 0, badInput(fmt.Errorf("ACL bootstrap already done (reset index: %d)", cur))
	}
	if secret != "" && len(secret) < 8 {
		return nil, 0, badInput(errors.New("bootstrap secret is too short"))
	}
	now := time.Now().UTC()
	tok := &structs.ACLToken{
		AccessorID: structs.GenerateUUID(), SecretID: secret, Name: "Bootstrap Token",
		Type: structs.ACLTokenTypeManagement, Global: true, CreateTime: now,
	}
	if tok.SecretID == "" {
		tok.SecretID = acl.NewSecret()
	}
	idx, err := s.raftApplyCtx(ctx, raftfsm.ACLTokenBootstrapType, &raftfsm.ACLTokenBootstrap{Token: tok, ResetIndex: reset})
	if err != nil {
		return nil, 0, err
	}
	if reset != 0 {
		// A reset index is good for one bootstrap.
		_ = os.Remove(s.bootstrapResetPath())
	}
	stored, err := s.State().Snapshot().ACLTokenByAccessor(nil, tok.AccessorID)
	if err != nil || stored == nil {
		return nil, 0, fmt.Errorf("reading back bootstrap token: %v", err)
	}
	return stored, idx, nil
}

func (s *Server) bootstrapResetPath() string {
	return filepath.Join(s.cfg.DataDir, "server", "acl-bootstrap-reset")
}

func (s *Server) bootstrapResetIndex() uint64 {
	b, err := os.ReadFile(s.bootstrapResetPath())
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		s.logger.Warn("ignoring unreadable ACL bootstrap reset file", "path", s.bootstrapResetPath(), "error", err)
		return 0
	}
	return n
}

// UpsertACLRole creates (no ID) or updates a role and returns it as stored.
func (s *Server) UpsertACLRole(ctx context.Context, in *structs.ACLRole) (*structs.ACLRole, uint64, error) {
	if !s.IsLeader() {
		return nil, 0, ErrNotLeader
	}
	role, err := acl.PrepareRole(s.State().Snapshot(), in)
	if err != nil {
		return nil, 0, badInput(err)
	}
	idx, err := s.raftApplyCtx(ctx, raftfsm.ACLRoleUpsertType, &raftfsm.ACLRoleUpsert{Roles: []*structs.ACLRole{role}})
	if err != nil {
		return nil, 0, err
	}
	stored, err := s.State().Snapshot().ACLRoleByID(nil, role.ID)
	if err != nil || stored == nil {
		return nil, 0, fmt.Errorf("reading back role %s: %v", role.ID, err)
	}
	return stored, idx, nil
}

// DeleteACLRoles removes roles by ID.
func (s *Server) DeleteACLRoles(ctx context.Context, ids []string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	snap := s.State().Snapshot()
	for _, id := range ids {
		if r, err := snap.ACLRoleByID(nil, id); err != nil {
			return 0, err
		} else if r == nil {
			return 0, fmt.Errorf("%w: ACL role %q", ErrNotFound, id)
		}
	}
	return s.raftApplyCtx(ctx, raftfsm.ACLRoleDeleteType, &raftfsm.ACLRoleDelete{IDs: ids})
}

// stateACLSource resolves tokens from this server's replica; its version is
// the ACL tables' index, so cached ACLs are dropped by any ACL write.
type stateACLSource struct{ s *Server }

func (src stateACLSource) TokenBySecret(_ context.Context, secret string) (*structs.ACLToken, error) {
	return src.s.State().Snapshot().ACLTokenBySecret(nil, secret)
}

func (src stateACLSource) PoliciesByName(_ context.Context, names []string) ([]*structs.ACLPolicy, error) {
	snap := src.s.State().Snapshot()
	out := make([]*structs.ACLPolicy, 0, len(names))
	for _, n := range names {
		p, err := snap.ACLPolicyByName(nil, n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func (src stateACLSource) RolesByID(_ context.Context, ids []string) ([]*structs.ACLRole, error) {
	snap := src.s.State().Snapshot()
	out := make([]*structs.ACLRole, 0, len(ids))
	for _, id := range ids {
		r, err := snap.ACLRoleByID(nil, id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// Version is never 0 (which would mean "unknown, use the TTL").
func (src stateACLSource) Version() uint64 { return src.s.State().Snapshot().ACLVersion() + 1 }

// ACLResolver resolves request tokens against this server's state.
func (s *Server) ACLResolver() *acl.Resolver {
	s.aclOnce.Do(func() { s.aclResolver = acl.NewResolver(stateACLSource{s}, 0, 0) })
	return s.aclResolver
}

// checkJobNamespace refuses a job whose namespace does not exist or whose
// namespace capabilities forbid one of its drivers or network modes.
func (s *Server) checkJobNamespace(job *structs.Job) error {
	ns, err := s.State().Snapshot().NamespaceByName(nil, job.Namespace)
	if err != nil {
		return fmt.Errorf("reading namespace: %w", err)
	}
	if ns == nil {
		return badInput(fmt.Errorf("job %q is in nonexistent namespace %q", job.ID, job.Namespace))
	}
	return badInputOrNil(ns.AllowsJob(job))
}

func badInputOrNil(err error) error {
	if err == nil {
		return nil
	}
	return badInput(err)
}
