package acl

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, rules string) *Policy {
	t.Helper()
	p, err := Parse(rules)
	if err != nil {
		t.Fatalf("parse %q: %v", rules, err)
	}
	return p
}

func TestParseRejectsWhatItDoesNotKnow(t *testing.T) {
	for _, bad := range []string{
		``,
		`namespace "default" { policy = "admin" }`,
		`namespace "default" { capabilities = ["launch-missiles"] }`,
		`namespace "default" { policy = "read" bogus = 1 }`,
		`node { policy = "scale" }`,
		`plugin { policy = "scale" }`,
		`agent { policy = "read" } agent { policy = "write" }`,
		`host_volume "x" { policy = "scale" }`,
		`namespace "default" { variables { path "a/*" { capabilities = ["exec"] } } }`,
		`unknown_block { policy = "read" }`,
		`namespace "default" {`,
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestNamespacePolicyExpansion(t *testing.T) {
	a := New([]*Policy{mustParse(t, `
namespace "default" { policy = "read" }
namespace "prod" { policy = "write" }
namespace "ops" { policy = "scale" }
namespace "dev" { capabilities = ["submit-job", "read-logs"] }
`)})
	cases := []struct {
		ns, cap string
		want    bool
	}{
		{"default", NamespaceCapabilityReadJob, true},
		{"default", NamespaceCapabilityListJobs, true},
		{"default", NamespaceCapabilityParseJob, true},
		{"default", NamespaceCapabilitySubmitJob, false},
		{"default", NamespaceCapabilityReadLogs, false},
		{"prod", NamespaceCapabilitySubmitJob, true},
		{"prod", NamespaceCapabilityAllocExec, true},
		{"prod", NamespaceCapabilityReadJob, true},
		{"prod", NamespaceCapabilityAllocNodeExec, false},
		{"ops", NamespaceCapabilityScaleJob, true},
		{"ops", NamespaceCapabilitySubmitJob, false},
		{"dev", NamespaceCapabilitySubmitJob, true},
		{"dev", NamespaceCapabilityReadJob, false},
		{"other", NamespaceCapabilityReadJob, false},
	}
	for _, c := range cases {
		if got := a.AllowNamespaceOperation(c.ns, c.cap); got != c.want {
			t.Errorf("%s in %s: got %v, want %v", c.cap, c.ns, got, c.want)
		}
	}
	if a.AllowNodeRead() || a.AllowAgentRead() || a.AllowOperatorRead() || a.AllowPluginList() {
		t.Error("namespace-only policy grants node/agent/operator/plugin")
	}
}

func TestDenyWinsAcrossPolicies(t *testing.T) {
	a := New([]*Policy{
		mustParse(t, "namespace \"default\" { policy = \"write\" }\nnode { policy = \"write\" }"),
		mustParse(t, "namespace \"default\" { policy = \"deny\" }\nnode { policy = \"deny\" }"),
	})
	if a.AllowNamespaceOperation("default", NamespaceCapabilityReadJob) || a.AllowNamespace("default") {
		t.Error("deny namespace still grants")
	}
	if a.AllowNodeRead() {
		t.Error("deny node still grants")
	}
	b := New([]*Policy{
		mustParse(t, `namespace "default" { capabilities = ["read-job"] }`),
		mustParse(t, `namespace "default" { capabilities = ["submit-job"] }`),
	})
	if !b.AllowNamespaceOperation("default", NamespaceCapabilityReadJob) || !b.AllowNamespaceOperation("default", NamespaceCapabilitySubmitJob) {
		t.Error("capabilities of two policies are not merged")
	}
}

func TestGlobsClosestMatchAndExactWins(t *testing.T) {
	a := New([]*Policy{mustParse(t, `
namespace "*" { policy = "read" }
namespace "prod-*" { policy = "deny" }
namespace "prod-web" { policy = "write" }
namespace "team-*-dev" { capabilities = ["submit-job"] }
`)})
	cases := []struct {
		ns, cap string
		want    bool
	}{
		{"anything", NamespaceCapabilityReadJob, true},
		{"prod-db", NamespaceCapabilityReadJob, false}, // prod-* is closer than *
		{"prod-web", NamespaceCapabilitySubmitJob, true},
		{"team-a-dev", NamespaceCapabilitySubmitJob, true},
		{"team-a-dev", NamespaceCapabilityReadJob, false}, // the closest rule alone decides
	}
	for _, c := range cases {
		if got := a.AllowNamespaceOperation(c.ns, c.cap); got != c.want {
			t.Errorf("%s in %s: got %v, want %v", c.cap, c.ns, got, c.want)
		}
	}
}

func TestLevels(t *testing.T) {
	a := New([]*Policy{mustParse(t, `
node { policy = "read" }
agent { policy = "write" }
plugin { policy = "list" }
operator { policy = "deny" }`)})
	if !a.AllowNodeRead() || a.AllowNodeWrite() {
		t.Error("node read")
	}
	if !a.AllowAgentRead() || !a.AllowAgentWrite() {
		t.Error("agent write implies read")
	}
	if !a.AllowPluginList() || a.AllowPluginRead() {
		t.Error("plugin list")
	}
	if a.AllowOperatorRead() {
		t.Error("operator deny")
	}
}

func TestVariablesPaths(t *testing.T) {
	a := New([]*Policy{mustParse(t, `
namespace "default" {
  policy = "read"
  variables {
    path "secret/*" { capabilities = ["deny"] }
    path "app/*" { capabilities = ["write", "read", "list"] }
  }
}
namespace "ops" {
  variables {
    path "*" { capabilities = ["list"] }
  }
}`)})
	cases := []struct {
		ns, path, op string
		want         bool
	}{
		{"default", "other/x", VariablesCapabilityRead, true}, // policy read implies it
		{"default", "other/x", VariablesCapabilityWrite, false},
		{"default", "secret/x", VariablesCapabilityRead, false},
		{"default", "app/x", VariablesCapabilityWrite, true},
		{"ops", "x", VariablesCapabilityList, true},
		{"ops", "x", VariablesCapabilityRead, false},
		{"nope", "x", VariablesCapabilityRead, false},
	}
	for _, c := range cases {
		if got := a.AllowVariableOperation(c.ns, c.path, c.op); got != c.want {
			t.Errorf("%s %s/%s: got %v want %v", c.op, c.ns, c.path, got, c.want)
		}
	}
	if !a.AllowVariableSearch("ops") || a.AllowVariableSearch("nope") {
		t.Error("variable search")
	}
}

func TestHostVolumes(t *testing.T) {
	a := New([]*Policy{mustParse(t, `
host_volume "*" { policy = "read" }
host_volume "prod-*" { policy = "write" }
host_volume "secrets" { policy = "deny" }`)})
	if !a.AllowHostVolumeOperation("x", HostVolumeCapabilityMountReadOnly) || a.AllowHostVolumeOperation("x", HostVolumeCapabilityMountReadWrite) {
		t.Error("* read")
	}
	if !a.AllowHostVolumeOperation("prod-db", HostVolumeCapabilityMountReadWrite) {
		t.Error("prod-* write")
	}
	if a.AllowHostVolume("secrets") {
		t.Error("deny")
	}
}

func TestJSONPolicy(t *testing.T) {
	p := mustParse(t, `{"namespace": {"default": {"policy": "write"}}, "node": {"policy": "read"}}`)
	a := New([]*Policy{p})
	if !a.AllowNamespaceOperation("default", NamespaceCapabilitySubmitJob) || !a.AllowNodeRead() {
		t.Error("JSON policy not applied")
	}
}

func TestManagementAndDenyAll(t *testing.T) {
	if !ManagementACL.AllowNamespaceOperation("x", NamespaceCapabilityAllocNodeExec) || !ManagementACL.AllowOperatorWrite() {
		t.Error("management")
	}
	if DenyAll.AllowNamespace("default") || DenyAll.AllowNodeRead() || DenyAll.AllowVariableOperation("default", "a", "read") {
		t.Error("deny all")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		p, n string
		want bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "abc", true}, {"a*c", "ab", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxc", false}, {"abc", "abc", true}, {"abc", "abcd", false},
	} {
		if got := globMatch(c.p, c.n); got != c.want {
			t.Errorf("globMatch(%q,%q)=%v", c.p, c.n, got)
		}
	}
}

func TestCapabilityListsAreValid(t *testing.T) {
	for _, pol := range []string{PolicyRead, PolicyWrite, PolicyScale, PolicyDeny} {
		for _, c := range expandNamespacePolicy(pol) {
			if !namespaceCapabilities[c] {
				t.Errorf("policy %s expands to unknown capability %s", pol, c)
			}
		}
	}
	if !strings.Contains(strings.Join(NamespaceCapabilities(), ","), "submit-job") {
		t.Error("capability list")
	}
}
