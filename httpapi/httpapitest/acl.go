package httpapitest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// The namespace and ACL writes go through the real checks (acl.Prepare*)
// and the real FSM handlers, applied at the backend's next index without
// Raft, so HTTP tests see exactly what a server stores.

func (b *Backend) apply(t raftfsm.MessageType, body any) (uint64, error) {
	buf, err := raftfsm.Encode(t, body)
	if err != nil {
		return 0, err
	}
	idx := b.next()
	res, _ := b.fsm.Apply(&raft.Log{Index: idx, Data: buf}).(*raftfsm.ApplyResult)
	if res != nil && res.Err != nil {
		return 0, &httpErr{http.StatusBadRequest, res.Err.Error()}
	}
	return idx, nil
}

func bad(err error) error { return &httpErr{http.StatusBadRequest, err.Error()} }

func (b *Backend) UpsertNamespaces(ctx context.Context, nss []*structs.Namespace) (uint64, error) {
	for _, ns := range nss {
		if err := acl.ValidateNamespace(ns); err != nil {
			return 0, bad(err)
		}
	}
	return b.apply(raftfsm.NamespaceUpsertType, &raftfsm.NamespaceUpsert{Namespaces: nss})
}

func (b *Backend) DeleteNamespaces(ctx context.Context, names []string) (uint64, error) {
	for _, n := range names {
		ns, err := b.store.NamespaceByName(nil, n)
		if err != nil {
			return 0, err
		}
		if ns == nil {
			return 0, &httpErr{http.StatusNotFound, fmt.Sprintf("namespace %q not found", n)}
		}
	}
	return b.apply(raftfsm.NamespaceDeleteType, &raftfsm.NamespaceDelete{Names: names})
}

func (b *Backend) UpsertACLPolicies(ctx context.Context, policies []*structs.ACLPolicy) (uint64, error) {
	for _, p := range policies {
		if err := acl.ValidatePolicy(p); err != nil {
			return 0, bad(err)
		}
	}
	return b.apply(raftfsm.ACLPolicyUpsertType, &raftfsm.ACLPolicyUpsert{Policies: policies})
}

func (b *Backend) DeleteACLPolicies(ctx context.Context, names []string) (uint64, error) {
	return b.apply(raftfsm.ACLPolicyDeleteType, &raftfsm.ACLPolicyDelete{Names: names})
}

func (b *Backend) UpsertACLToken(ctx context.Context, in *structs.ACLToken) (*structs.ACLToken, uint64, error) {
	tok, err := acl.PrepareToken(b.store.Snapshot(), time.Now(), in)
	if err != nil {
		return nil, 0, bad(err)
	}
	idx, err := b.apply(raftfsm.ACLTokenUpsertType, &raftfsm.ACLTokenUpsert{Tokens: []*structs.ACLToken{tok}})
	if err != nil {
		return nil, 0, err
	}
	out, err := b.store.Snapshot().ACLTokenByAccessor(nil, tok.AccessorID)
	return out, idx, err
}

func (b *Backend) DeleteACLTokens(ctx context.Context, accessors []string) (uint64, error) {
	return b.apply(raftfsm.ACLTokenDeleteType, &raftfsm.ACLTokenDelete{AccessorIDs: accessors})
}

func (b *Backend) BootstrapACL(ctx context.Context, secret string) (*structs.ACLToken, uint64, error) {
	tok := &structs.ACLToken{AccessorID: structs.GenerateUUID(), SecretID: secret, Name: "Bootstrap Token",
		Type: structs.ACLTokenTypeManagement, Global: true, CreateTime: time.Now().UTC()}
	if tok.SecretID == "" {
		tok.SecretID = acl.NewSecret()
	}
	idx, err := b.apply(raftfsm.ACLTokenBootstrapType, &raftfsm.ACLTokenBootstrap{Token: tok})
	if err != nil {
		return nil, 0, err
	}
	out, err := b.store.Snapshot().ACLTokenByAccessor(nil, tok.AccessorID)
	return out, idx, err
}

func (b *Backend) UpsertACLRole(ctx context.Context, in *structs.ACLRole) (*structs.ACLRole, uint64, error) {
	role, err := acl.PrepareRole(b.store.Snapshot(), in)
	if err != nil {
		return nil, 0, bad(err)
	}
	idx, err := b.apply(raftfsm.ACLRoleUpsertType, &raftfsm.ACLRoleUpsert{Roles: []*structs.ACLRole{role}})
	if err != nil {
		return nil, 0, err
	}
	out, err := b.store.Snapshot().ACLRoleByID(nil, role.ID)
	return out, idx, err
}

func (b *Backend) DeleteACLRoles(ctx context.Context, ids []string) (uint64, error) {
	return b.apply(raftfsm.ACLRoleDeleteType, &raftfsm.ACLRoleDelete{IDs: ids})
}

// aclSource resolves tokens from the backend's store.
type aclSource struct{ b *Backend }

func (s aclSource) TokenBySecret(_ context.Context, secret string) (*structs.ACLToken, error) {
	return s.b.store.Snapshot().ACLTokenBySecret(nil, secret)
}

func (s aclSource) PoliciesByName(_ context.Context, names []string) ([]*structs.ACLPolicy, error) {
	var out []*structs.ACLPolicy
	for _, n := range names {
		p, err := s.b.store.Snapshot().ACLPolicyByName(nil, n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s aclSource) RolesByID(_ context.Context, ids []string) ([]*structs.ACLRole, error) {
	var out []*structs.ACLRole
	for _, id := range ids {
		r, err := s.b.store.Snapshot().ACLRoleByID(nil, id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s aclSource) Version() uint64 { return s.b.store.Snapshot().ACLVersion() + 1 }

// Resolver resolves tokens against the backend's state, as a server does.
func (b *Backend) Resolver() *acl.Resolver { return acl.NewResolver(aclSource{b}, 0, 0) }
