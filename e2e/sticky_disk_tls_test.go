package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// TestMigrateDiskTLSE2E: with tls { http verify_https_client } a migrating
// replacement fetches its previous allocation's data from the other client
// over HTTPS, presenting the agent's own certificate.
func TestMigrateDiskTLSE2E(t *testing.T) {
	p := newSecurePKI(t)
	srvIP, ipA, ipB := newIP(), newIP(), newIP()
	sc, sk := p.issue("s1", "server", srvIP)
	cliC, cliK := p.issue("cli", "cli", "127.0.0.1")
	startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1", "-config", agentConfig(t, tlsBlock(p, sc, sk, false)))
	raw := "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}"
	dirs := map[string]string{}
	for name, ip := range map[string]string{"a": ipA, "b": ipB} {
		c, k := p.issue("c-"+name, "client", ip)
		dirs[ip] = t.TempDir()
		startAgent(t, ip, dirs[ip], "-client", "-servers", srvIP, "-config", agentConfig(t, tlsBlock(p, c, k, false), raw))
	}
	env := []string{"NOMAD_ADDR=https://" + srvIP + ":4646", "NOMAD_CACERT=" + p.CAFile(), "NOMAD_CLIENT_CERT=" + cliC, "NOMAD_CLIENT_KEY=" + cliK}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	nc, err := nomad.NewClient(nomad.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = nc.Jobs().Deregister("sticky", true, nil) })
	waitFor(t, 60*time.Second, "two ready clients over HTTPS", func() (bool, string) {
		nodes, _, err := nc.Nodes().List(nil)
		ready := 0
		for _, n := range nodes {
			if n.Status == "ready" {
				ready++
			}
		}
		return ready == 2, fmt.Sprint(ready, err)
	})
	run := func(node string, version int) *nomad.AllocationListStub {
		f := filepath.Join(t.TempDir(), "sticky.hcl")
		if err := os.WriteFile(f, []byte(stickyJob("migrate = true", node, version)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := cliEnv(t, env, "job", "run", "-detach", f); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
		var got *nomad.AllocationListStub
		waitFor(t, 60*time.Second, fmt.Sprintf("version %d running", version-1), func() (bool, string) {
			allocs, _, err := nc.Jobs().Allocations("sticky", true, nil)
			if err != nil {
				return false, err.Error()
			}
			for _, al := range allocs {
				if al.JobVersion == uint64(version-1) && al.ClientStatus == "running" {
					got = al
					return true, ""
				}
			}
			return false, fmt.Sprint(len(allocs), " allocations")
		})
		return got
	}
	run("agent-"+ipA, 1)
	v1 := run("agent-"+ipB, 2)
	data, local := historyOf(t, dirs[ipB], v1.ID)
	if data != "v1\nv2\n" || local != "v1\nv2\n" {
		t.Fatalf("migrated over HTTPS: alloc/data/history %q, local/history %q; want v1 then v2", data, local)
	}
}
