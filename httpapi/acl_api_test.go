package httpapi_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
)

func aclServer(t *testing.T) (*httptest.Server, *httpapitest.Backend) {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: httpapitest.NewClient(""),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ACLEnabled: true, Resolver: b.Resolver()}))
	t.Cleanup(srv.Close)
	return srv, b
}

func nomadClient(t *testing.T, addr, token string) *nomad.Client {
	t.Helper()
	c, err := nomad.NewClient(&nomad.Config{Address: addr, SecretID: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The ACL lifecycle through Nomad's Go client: bootstrap once, policies,
// roles, tokens (create, self, update, expiry, delete) and what each token
// may then do.
func TestACLLifecycleWithNomadClient(t *testing.T) {
	srv, _ := aclServer(t)
	anon := nomadClient(t, srv.URL, "")
	if _, _, err := anon.Jobs().List(nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("job list without a token: %v, want 403", err)
	}
	root, _, err := anon.ACLTokens().Bootstrap(nil)
	if err != nil || root.SecretID == "" || root.Type != "management" {
		t.Fatalf("bootstrap: %+v %v", root, err)
	}
	if _, _, err := anon.ACLTokens().Bootstrap(nil); err == nil || !strings.Contains(err.Error(), "ACL bootstrap already done") {
		t.Fatalf("second bootstrap: %v", err)
	}
	mgmt := nomadClient(t, srv.URL, root.SecretID)

	if _, err := mgmt.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "readonly", Description: "r",
		Rules: "namespace \"default\" {\n  policy = \"read\"\n}\nnode {\n  policy = \"read\"\n}\n"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := mgmt.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "bad", Rules: `namespace "default" { policy = "root" }`}, nil); err == nil {
		t.Fatal("invalid policy accepted")
	}
	pols, _, err := mgmt.ACLPolicies().List(nil)
	if err != nil || len(pols) != 1 || pols[0].Name != "readonly" {
		t.Fatalf("policy list: %+v %v", pols, err)
	}
	role, _, err := mgmt.ACLRoles().Create(&nomad.ACLRole{Name: "readers", Policies: []*nomad.ACLRolePolicyLink{{Name: "readonly"}}}, nil)
	if err != nil || role.ID == "" {
		t.Fatalf("role create: %+v %v", role, err)
	}
	if byName, _, err := mgmt.ACLRoles().GetByName("readers", nil); err != nil || byName.ID != role.ID {
		t.Fatalf("role by name: %+v %v", byName, err)
	}
	tok, _, err := mgmt.ACLTokens().Create(&nomad.ACLToken{Name: "reader", Type: "client",
		Roles: []*nomad.ACLTokenRoleLink{{Name: "readers"}}, ExpirationTTL: time.Hour}, nil)
	if err != nil || tok.SecretID == "" || tok.ExpirationTime == nil || len(tok.Roles) != 1 || tok.Roles[0].ID != role.ID {
		t.Fatalf("token create: %+v %v", tok, err)
	}
	reader := nomadClient(t, srv.URL, tok.SecretID)
	self, _, err := reader.ACLTokens().Self(nil)
	if err != nil || self.AccessorID != tok.AccessorID {
		t.Fatalf("self: %+v %v", self, err)
	}
	if _, _, err := reader.Jobs().List(nil); err != nil {
		t.Fatalf("reader lists jobs: %v", err)
	}
	if _, _, err := reader.Nodes().List(nil); err != nil {
		t.Fatalf("reader lists nodes: %v", err)
	}
	job := nomad.NewBatchJob("j", "j", "global", 50)
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/true")))
	if _, _, err := reader.Jobs().Register(job, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("reader registers a job: %v", err)
	}
	// A reader sees its own role and policy, not others' tokens.
	if _, _, err := reader.ACLRoles().Get(role.ID, nil); err != nil {
		t.Fatalf("reader reads its role: %v", err)
	}
	if _, _, err := reader.ACLPolicies().Info("readonly", nil); err != nil {
		t.Fatalf("reader reads its policy: %v", err)
	}
	if _, _, err := reader.ACLTokens().List(nil); err == nil {
		t.Fatal("reader lists tokens")
	}
	// Updating the token to a plain policy list keeps its secret.
	self.Roles = nil
	self.Policies = []string{"readonly"}
	upd, _, err := mgmt.ACLTokens().Update(self, nil)
	if err != nil || upd.SecretID != tok.SecretID || len(upd.Roles) != 0 {
		t.Fatalf("update: %+v %v", upd, err)
	}
	// Deleting the policy takes effect at once (resolution cache follows).
	if _, err := mgmt.ACLPolicies().Delete("readonly", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reader.Nodes().List(nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("after its policy was deleted the token still lists nodes: %v", err)
	}
	if _, err := mgmt.ACLTokens().Delete(tok.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reader.ACLTokens().Self(nil); err == nil || !strings.Contains(err.Error(), "ACL token not found") {
		t.Fatalf("deleted token still resolves: %v", err)
	}
	// An expired token is refused as such.
	if _, _, err := mgmt.ACLTokens().Create(&nomad.ACLToken{Type: "client", Policies: []string{"x"}}, nil); err == nil {
		t.Fatal("token with an unknown policy accepted")
	}
	if _, _, err := mgmt.ACLTokens().Create(&nomad.ACLToken{Type: "client", Roles: []*nomad.ACLTokenRoleLink{{Name: "readers"}}, ExpirationTTL: time.Second}, nil); err == nil {
		t.Fatal("token TTL below the minimum accepted")
	}
}

// The anonymous policy decides what callers without a token may do.
func TestAnonymousPolicy(t *testing.T) {
	srv, _ := aclServer(t)
	anon := nomadClient(t, srv.URL, "")
	root, _, err := anon.ACLTokens().Bootstrap(nil)
	if err != nil {
		t.Fatal(err)
	}
	mgmt := nomadClient(t, srv.URL, root.SecretID)
	if _, _, err := anon.Nodes().List(nil); err == nil {
		t.Fatal("anonymous lists nodes without an anonymous policy")
	}
	if _, err := mgmt.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "anonymous", Rules: `node { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := anon.Nodes().List(nil); err != nil {
		t.Fatalf("anonymous policy not applied: %v", err)
	}
	if _, _, err := anon.Jobs().List(nil); err == nil {
		t.Fatal("anonymous policy grants more than it says")
	}
}

// Namespaces: default always there, jobs scoped by them, deletion refused
// while they hold jobs, capabilities enforced at submission.
func TestNamespacesWithNomadClient(t *testing.T) {
	srv, b := aclServer(t)
	root, _, err := b.BootstrapACL(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := nomadClient(t, srv.URL, root.SecretID)
	nss, _, err := c.Namespaces().List(nil)
	if err != nil || len(nss) != 1 || nss[0].Name != "default" || nss[0].Description != "Default shared namespace" {
		t.Fatalf("namespaces: %+v %v", nss, err)
	}
	job := nomad.NewBatchJob("j", "j", "global", 50)
	job.Namespace = ptr("prod")
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/true")))
	if _, _, err := c.Jobs().Register(job, nil); err == nil || !strings.Contains(err.Error(), "nonexistent namespace") {
		t.Fatalf("job in a missing namespace: %v", err)
	}
	if _, err := c.Namespaces().Register(&nomad.Namespace{Name: "prod", Description: "production",
		Capabilities: &nomad.NamespaceCapabilities{DisabledTaskDrivers: []string{"raw_exec"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Register(job, nil); err == nil || !strings.Contains(err.Error(), "not allowed in namespace") {
		t.Fatalf("raw_exec job in a namespace that disables it: %v", err)
	}
	if _, err := c.Namespaces().Register(&nomad.Namespace{Name: "prod", Description: "production"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Register(job, &nomad.WriteOptions{Namespace: "prod"}); err != nil {
		t.Fatalf("job in prod: %v", err)
	}
	if _, _, err := c.Jobs().Info("j", nil); err == nil {
		t.Fatal("prod job visible in default")
	}
	if _, _, err := c.Jobs().Info("j", &nomad.QueryOptions{Namespace: "prod"}); err != nil {
		t.Fatalf("prod job: %v", err)
	}
	if _, err := c.Namespaces().Delete("prod", nil); err == nil || !strings.Contains(err.Error(), "jobs") {
		t.Fatalf("delete of a namespace holding a job: %v", err)
	}
	if _, err := c.Namespaces().Delete("default", nil); err == nil {
		t.Fatal("default namespace deleted")
	}
	if _, err := c.Namespaces().Register(&nomad.Namespace{Name: "q", Quota: "big"}, nil); err == nil {
		t.Fatal("quota accepted")
	}
	if _, err := c.Namespaces().Register(&nomad.Namespace{Name: "bad name"}, nil); err == nil {
		t.Fatal("invalid namespace name accepted")
	}
	if _, _, err := c.Jobs().Deregister("j", true, &nomad.WriteOptions{Namespace: "prod"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Namespaces().Delete("prod", nil); err != nil {
		t.Fatalf("delete of an emptied namespace: %v", err)
	}
	// A token scoped to one namespace sees only that namespace.
	if _, err := c.Namespaces().Register(&nomad.Namespace{Name: "dev"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ACLPolicies().Upsert(&nomad.ACLPolicy{Name: "dev", Rules: `namespace "dev" { policy = "write" }`}, nil); err != nil {
		t.Fatal(err)
	}
	devTok, _, err := c.ACLTokens().Create(&nomad.ACLToken{Type: "client", Policies: []string{"dev"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := nomadClient(t, srv.URL, devTok.SecretID)
	nss, _, err = dev.Namespaces().List(nil)
	if err != nil || len(nss) != 1 || nss[0].Name != "dev" {
		t.Fatalf("dev token's namespaces: %+v %v", nss, err)
	}
	if _, _, err := dev.Namespaces().Info("default", nil); err == nil {
		t.Fatal("dev token reads the default namespace")
	}
}

func ptr[T any](v T) *T { return &v }
