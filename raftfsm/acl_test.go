package raftfsm

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// applyErr applies an entry that every replica must refuse alike.
func applyErr(t *testing.T, f *FSM, index uint64, mt MessageType, body any, want string) {
	t.Helper()
	res := apply(t, f, index, encode(t, mt, body))
	if res.Err == nil || !strings.Contains(res.Err.Error(), want) {
		t.Fatalf("apply %s at %d: %v, want an error containing %q", mt, index, res.Err, want)
	}
}

func mgmtToken(n int) *structs.ACLToken {
	return &structs.ACLToken{AccessorID: id(n), SecretID: id(n + 1), Type: structs.ACLTokenTypeManagement}
}

func TestACLBootstrapOnceUnlessReset(t *testing.T) {
	f := newTestFSM(t)
	applyOK(t, f, 1, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: mgmtToken(10)})
	applyErr(t, f, 2, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: mgmtToken(20)}, "ACL bootstrap already done (reset index: 1)")
	applyErr(t, f, 3, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: mgmtToken(20), ResetIndex: 2}, "reset index: 1")
	applyOK(t, f, 4, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: mgmtToken(20), ResetIndex: 1})
	applyErr(t, f, 5, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: mgmtToken(30), ResetIndex: 1}, "reset index: 4")
	c := mgmtToken(40)
	c.Type = structs.ACLTokenTypeClient
	applyErr(t, f, 6, ACLTokenBootstrapType, &ACLTokenBootstrap{Token: c, ResetIndex: 4}, "management")
}

func TestNamespaceRulesInTheFSM(t *testing.T) {
	f := newTestFSM(t)
	job := testJob("web")
	job.Namespace = "prod"
	applyErr(t, f, 1, JobRegisterType, &JobRegister{Job: job}, `nonexistent namespace "prod"`)
	applyOK(t, f, 2, NamespaceUpsertType, &NamespaceUpsert{Namespaces: []*structs.Namespace{{Name: "prod"}}})
	applyOK(t, f, 3, JobRegisterType, &JobRegister{Job: job})
	applyErr(t, f, 4, NamespaceDeleteType, &NamespaceDelete{Names: []string{"prod"}}, "still holds jobs")
	applyErr(t, f, 5, NamespaceDeleteType, &NamespaceDelete{Names: []string{"default"}}, "cannot be deleted")
	applyErr(t, f, 6, NamespaceDeleteType, &NamespaceDelete{Names: []string{"nope"}}, "not found")
	applyOK(t, f, 7, JobDeregisterType, &JobDeregister{Namespace: "prod", JobID: "web", Purge: true})
	applyOK(t, f, 8, NamespaceDeleteType, &NamespaceDelete{Names: []string{"prod"}})
	if ns, _ := f.State().NamespaceByName(nil, "prod"); ns != nil {
		t.Fatal("namespace survived its delete")
	}
	if ns, _ := f.State().NamespaceByName(nil, ""); ns == nil || ns.Name != "default" {
		t.Fatalf("default namespace: %+v", ns)
	}
}

func TestACLObjectInvariants(t *testing.T) {
	f := newTestFSM(t)
	applyOK(t, f, 1, ACLPolicyUpsertType, &ACLPolicyUpsert{Policies: []*structs.ACLPolicy{{Name: "p", Rules: `node { policy = "read" }`}}})
	role := &structs.ACLRole{ID: id(1), Name: "r", Policies: []*structs.ACLRolePolicyLink{{Name: "p"}}}
	applyOK(t, f, 2, ACLRoleUpsertType, &ACLRoleUpsert{Roles: []*structs.ACLRole{role}})
	dup := &structs.ACLRole{ID: id(2), Name: "r", Policies: role.Policies}
	applyErr(t, f, 3, ACLRoleUpsertType, &ACLRoleUpsert{Roles: []*structs.ACLRole{dup}}, `name "r" already exists`)
	tok := &structs.ACLToken{AccessorID: id(3), SecretID: id(4), Type: structs.ACLTokenTypeClient, Policies: []string{"p"}}
	applyOK(t, f, 4, ACLTokenUpsertType, &ACLTokenUpsert{Tokens: []*structs.ACLToken{tok}})
	stolen := *tok
	stolen.SecretID = id(5)
	applyErr(t, f, 5, ACLTokenUpsertType, &ACLTokenUpsert{Tokens: []*structs.ACLToken{&stolen}}, "secret cannot change")
	other := &structs.ACLToken{AccessorID: id(6), SecretID: id(4), Type: structs.ACLTokenTypeClient, Policies: []string{"p"}}
	if res := apply(t, f, 6, encode(t, ACLTokenUpsertType, &ACLTokenUpsert{Tokens: []*structs.ACLToken{other}})); res.Err == nil {
		t.Fatal("two tokens with one secret")
	}
	applyErr(t, f, 7, ACLPolicyDeleteType, &ACLPolicyDelete{Names: []string{"nope"}}, "not found")
	applyOK(t, f, 8, ACLTokenDeleteType, &ACLTokenDelete{AccessorIDs: []string{id(99)}, MissingOK: true})
	applyErr(t, f, 9, ACLTokenDeleteType, &ACLTokenDelete{AccessorIDs: []string{id(99)}}, "not found")
	got, _ := f.State().Snapshot().ACLTokenBySecret(nil, id(4))
	if got == nil || got.AccessorID != id(3) || got.CreateIndex != 4 {
		t.Fatalf("token by secret: %+v", got)
	}
}
