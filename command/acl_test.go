package command

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
)

func newACLEnv(t *testing.T) string {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: httpapitest.NewClient(""),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ACLEnabled: true, Resolver: b.Resolver()}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cliAt runs a CLI command (of 1-3 words) against addr with a token.
func cliAt(t *testing.T, addr, token string, words int, args ...string) (int, string, string) {
	t.Helper()
	full := append(append([]string{}, args[:words]...), "-address", addr)
	if token != "" {
		full = append(full, "-token", token)
	}
	return runCLI(t, append(full, args[words:]...)...)
}

var secretLine = regexp.MustCompile(`(?m)^Secret ID\s+= (\S+)$`)

// The ACL workflow an operator follows with the CLI, end to end.
func TestACLCommands(t *testing.T) {
	addr := newACLEnv(t)
	code, out, errOut := cliAt(t, addr, "", 2, "acl", "bootstrap")
	if code != 0 {
		t.Fatalf("bootstrap: %d %s", code, errOut)
	}
	for _, want := range []string{"Accessor ID", "Secret ID", "Name         = Bootstrap Token", "Type         = management",
		"Global       = true", "Expiry Time  = <none>", "Policies     = n/a", "Roles        = n/a"} {
		if !strings.Contains(out, want) {
			t.Errorf("bootstrap output lacks %q:\n%s", want, out)
		}
	}
	root := secretLine.FindStringSubmatch(out)[1]
	if code, _, errOut := cliAt(t, addr, "", 2, "acl", "bootstrap"); code != 1 || !strings.Contains(errOut, "already done") {
		t.Fatalf("second bootstrap: %d %s", code, errOut)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "readonly.hcl")
	if err := os.WriteFile(pol, []byte("namespace \"default\" {\n  policy = \"read\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cliAt(t, addr, root, 3, "acl", "policy", "apply", "-description", "read only", "readonly", pol)
	if code != 0 || !strings.Contains(out, `Successfully wrote "readonly" ACL policy!`) {
		t.Fatalf("policy apply: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cliAt(t, addr, root, 3, "acl", "policy", "list"); code != 0 || !strings.Contains(out, "readonly  read only") {
		t.Fatalf("policy list: %s", out)
	}
	if code, out, _ := cliAt(t, addr, root, 3, "acl", "policy", "info", "readonly"); code != 0 || !strings.Contains(out, "Rules") || !strings.Contains(out, `policy = "read"`) {
		t.Fatalf("policy info: %s", out)
	}
	code, out, errOut = cliAt(t, addr, root, 3, "acl", "role", "create", "-name", "readers", "-policy", "readonly")
	if code != 0 || !strings.Contains(out, "Policies     = readonly") {
		t.Fatalf("role create: %d %s %s", code, out, errOut)
	}
	code, out, errOut = cliAt(t, addr, root, 3, "acl", "token", "create", "-name", "ci", "-role-name", "readers", "-ttl", "2h")
	if code != 0 || !strings.Contains(out, "Type         = client") || !strings.Contains(out, "readers") || strings.Contains(out, "Expiry Time  = <none>") {
		t.Fatalf("token create: %d %s %s", code, out, errOut)
	}
	ci := secretLine.FindStringSubmatch(out)[1]
	if code, out, _ := cliAt(t, addr, ci, 3, "acl", "token", "self"); code != 0 || !strings.Contains(out, "Name         = ci") {
		t.Fatalf("token self: %s", out)
	}
	if code, out, _ := cliAt(t, addr, root, 3, "acl", "token", "list"); code != 0 || !strings.Contains(out, "Accessor ID") || !strings.Contains(out, "ci") {
		t.Fatalf("token list: %s", out)
	}
	// The reader may read jobs but not submit, nor manage ACLs.
	if code, _, errOut := cliAt(t, addr, ci, 3, "acl", "token", "list"); code != 1 || !strings.Contains(errOut, "403") {
		t.Fatalf("reader lists tokens: %d %s", code, errOut)
	}
	if code, _, errOut := cliAt(t, addr, ci, 2, "job", "status"); code != 0 {
		t.Fatalf("reader job status: %d %s", code, errOut)
	}
	t.Setenv("NOMAD_TOKEN", ci)
	if code, out, _ := cliAt(t, addr, "", 3, "acl", "token", "self"); code != 0 || !strings.Contains(out, "Name         = ci") {
		t.Fatalf("NOMAD_TOKEN not used: %s", out)
	}
	self := regexp.MustCompile(`(?m)^Accessor ID\s+= (\S+)$`).FindStringSubmatch(out)[1]
	if code, out, errOut := cliAt(t, addr, root, 3, "acl", "token", "update", "-name", "ci2", self); code != 0 || !strings.Contains(out, "Name         = ci2") {
		t.Fatalf("token update: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cliAt(t, addr, root, 3, "acl", "token", "delete", self); code != 0 || !strings.Contains(out, "successfully deleted") {
		t.Fatalf("token delete: %s", out)
	}
	if code, out, _ := cliAt(t, addr, root, 3, "acl", "policy", "delete", "readonly"); code != 0 || !strings.Contains(out, "Successfully deleted") {
		t.Fatalf("policy delete: %s", out)
	}
}

func TestNamespaceCommands(t *testing.T) {
	e := newEnv(t)
	if code, out, errOut := e.run(t, "namespace", "apply", "-description", "QA", "web-qa"); code != 0 || out != "Successfully applied namespace \"web-qa\"!\n" {
		t.Fatalf("apply: %d %q %s", code, out, errOut)
	}
	spec := filepath.Join(t.TempDir(), "ns.hcl")
	if err := os.WriteFile(spec, []byte(`name = "prod"
description = "Production"
capabilities {
  enabled_task_drivers = ["docker", "exec"]
  disabled_task_drivers = ["raw_exec"]
}
meta {
  owner = "platform"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := e.run(t, "namespace", "apply", spec); code != 0 {
		t.Fatalf("apply spec: %s", errOut)
	}
	code, out, _ := e.run(t, "namespace", "list")
	if code != 0 || !strings.Contains(out, "default  Default shared namespace") || !strings.Contains(out, "prod     Production") || !strings.Contains(out, "web-qa   QA") {
		t.Fatalf("list:\n%s", out)
	}
	code, out, _ = e.run(t, "namespace", "status", "prod")
	for _, want := range []string{"Name                 = prod", "EnabledDrivers       = docker,exec", "DisabledDrivers      = raw_exec", "Metadata", "owner = platform"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(bad, []byte("name = \"x\"\nquota = \"q\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := e.run(t, "namespace", "apply", bad); code != 1 || !strings.Contains(errOut, "quotas are not supported") {
		t.Fatalf("quota accepted: %d %s", code, errOut)
	}
	if code, out, _ := e.run(t, "namespace", "delete", "web-qa"); code != 0 || !strings.Contains(out, `Successfully deleted namespace "web-qa"!`) {
		t.Fatalf("delete: %s", out)
	}
	if code, _, errOut := e.run(t, "namespace", "delete", "default"); code != 1 || errOut == "" {
		t.Fatalf("default deleted: %d %s", code, errOut)
	}
}
