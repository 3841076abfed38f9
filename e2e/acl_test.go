package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// cliWithToken runs the orch CLI against addr with NOMAD_TOKEN set.
func cliWithToken(t testing.TB, addr, token string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "ORCH_ADDR="+addr, "NOMAD_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running orch %v: %v", args, err)
	}
	return string(out), 0
}

func tokenClient(t testing.TB, addr, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A server and a client-only agent with ACLs: the operator bootstraps,
// writes a policy, hands out a token; the token holder runs a job and reads
// its logs from the client agent, which resolves the token through the
// servers; callers without a token, or with the wrong one, are refused.
func TestACLServerAndClientAgents(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1", "-acl-enabled")
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("acl {\n  enabled = true\n  token_ttl = \"1s\"\n  policy_ttl = \"1s\"\n}\nplugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg)
	waitFor(t, 20*time.Second, "leader", func() (bool, string) {
		var leader string
		err := getJSON(srv.addr()+"/v1/status/leader", &leader)
		return err == nil && leader != "", leader
	})

	out, code := cliWithToken(t, srv.addr(), "", "acl", "bootstrap")
	m := regexp.MustCompile(`(?m)^Secret ID\s+= (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "Accessor ID") {
		t.Fatalf("acl bootstrap: exit %d\n%s", code, out)
	}
	root := m[1]
	mgmt := tokenClient(t, srv.addr(), root)
	waitFor(t, 20*time.Second, "the client's node", func() (bool, string) {
		nodes, _, err := mgmt.Nodes().List(t.Context(), "", nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == structs.NodeStatusReady, ""
	})

	if out, code := cliWithToken(t, srv.addr(), "", "job", "run", "-detach", example("hello.nomad.hcl")); code == 0 || !strings.Contains(out, "403") {
		t.Fatalf("job run without a token: exit %d\n%s", code, out)
	}
	pol := filepath.Join(t.TempDir(), "dev.hcl")
	if err := os.WriteFile(pol, []byte("namespace \"default\" {\n  policy = \"write\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cliWithToken(t, srv.addr(), root, "acl", "policy", "apply", "dev", pol); code != 0 {
		t.Fatalf("policy apply: %s", out)
	}
	out, code = cliWithToken(t, srv.addr(), root, "acl", "token", "create", "-name", "dev", "-policy", "dev")
	m = regexp.MustCompile(`(?m)^Secret ID\s+= (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("token create: %s", out)
	}
	dev := m[1]
	if out, code := cliWithToken(t, srv.addr(), dev, "job", "run", "-detach", example("hello.nomad.hcl")); code != 0 {
		t.Fatalf("job run with the dev token: exit %d\n%s", code, out)
	}
	devc := tokenClient(t, srv.addr(), dev)
	var allocID string
	waitFor(t, 30*time.Second, "hello completes", func() (bool, string) {
		allocs, _, err := devc.Jobs().Allocations(t.Context(), "hello", false, nil)
		if err != nil || len(allocs) == 0 {
			return false, ""
		}
		allocID = allocs[0].ID
		return allocs[0].ClientStatus == structs.AllocClientStatusComplete, allocs[0].ClientStatus
	})
	// Logs straight from the client agent: it resolves tokens itself.
	logs := func(token string) (string, int) {
		return cliWithToken(t, cl.addr(), token, "alloc", "logs", allocID, "say")
	}
	if out, code := logs(dev); code != 0 || !strings.Contains(out, "hello from say") {
		t.Fatalf("logs with the dev token from the client agent: exit %d\n%s", code, out)
	}
	if out, code := logs(""); code == 0 || strings.Contains(out, "hello from say") {
		t.Fatalf("logs without a token: exit %d\n%s", code, out)
	}
	if out, code := logs("00000000-0000-4000-8000-000000000000"); code == 0 || strings.Contains(out, "hello from say") {
		t.Fatalf("logs with an unknown token: exit %d\n%s", code, out)
	}
	// A read-only token may list the job but not read its logs.
	if err := mgmt.ACL().UpsertPolicy(t.Context(), &structs.ACLPolicy{Name: "ro", Rules: `namespace "default" { policy = "read" }`}); err != nil {
		t.Fatal(err)
	}
	ro, err := mgmt.ACL().UpsertToken(t.Context(), &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: []string{"ro"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, code := cliWithToken(t, srv.addr(), ro.SecretID, "job", "status", "hello"); code != 0 {
		t.Fatalf("job status with a read token: %s", out)
	}
	if out, code := logs(ro.SecretID); code == 0 || strings.Contains(out, "hello from say") {
		t.Fatalf("logs with a read-only token: exit %d\n%s", code, out)
	}
	// Revoking the dev token reaches the client agent within its TTL.
	if err := mgmt.ACL().DeleteToken(t.Context(), accessorOf(t, mgmt, "dev")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "revoked token refused by the client agent", func() (bool, string) {
		out, code := logs(dev)
		return code != 0 && !strings.Contains(out, "hello from say"), out
	})
}

func accessorOf(t testing.TB, c *api.Client, name string) string {
	t.Helper()
	toks, err := c.ACL().Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Name == name {
			return tok.AccessorID
		}
	}
	t.Fatalf("no token named %q", name)
	return ""
}
