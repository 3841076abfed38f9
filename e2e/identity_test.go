package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestWorkloadIdentityInTask: a task with identity { env = true, file =
// true } finds its JWT in NOMAD_TOKEN and secrets/nomad_token, reads its
// own job's variable with it through the agent's API, and is refused
// another job's variable; once the allocation has finished the token no
// longer works.
func TestWorkloadIdentityInTask(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev", "-acl-enabled")
	waitFor(t, 20*time.Second, "leader", func() (bool, string) {
		var leader string
		err := getJSON(a.addr()+"/v1/status/leader", &leader)
		return err == nil && leader != "", leader
	})
	out, code := cliWithToken(t, a.addr(), "", "acl", "bootstrap")
	m := regexp.MustCompile(`(?m)^Secret ID\s+= (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("bootstrap: %s", out)
	}
	root := m[1]
	mgmt := tokenClient(t, a.addr(), root)
	waitFor(t, 20*time.Second, "the dev node", func() (bool, string) {
		nodes, _, err := mgmt.Nodes().List(t.Context(), "", nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == structs.NodeStatusReady, fmt.Sprint(err)
	})
	for path, val := range map[string]string{"nomad/jobs/wi": "db_password=own-secret", "nomad/jobs/other": "db_password=not-yours"} {
		if out, code := cliWithToken(t, a.addr(), root, "var", "put", path, val); code != 0 {
			t.Fatalf("var put %s: %s", path, out)
		}
	}
	script := fmt.Sprintf(`%[1]s var get -address %[2]s -item db_password nomad/jobs/wi
echo "---"
%[1]s var get -address %[2]s nomad/jobs/other 2>&1
echo "---"
if [ "$(cat $NOMAD_SECRETS_DIR/nomad_token)" = "$NOMAD_TOKEN" ]; then echo file-matches-env; fi
echo "$NOMAD_TOKEN" > %[3]s
`, binPath, a.addr(), filepath.Join(t.TempDir(), "leaked-token"))
	tokenOut := strings.TrimSpace(strings.Split(strings.Split(script, "> ")[1], "\n")[0])
	job := filepath.Join(t.TempDir(), "wi.hcl")
	if err := os.WriteFile(job, []byte(fmt.Sprintf(`job "wi" {
  type = "batch"
  datacenters = ["*"]
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      identity {
        env  = true
        file = true
      }
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
    }
  }
}
`, script)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cliWithToken(t, a.addr(), root, "job", "run", "-detach", job); code != 0 {
		t.Fatalf("job run: %s", out)
	}
	var allocID string
	waitFor(t, 30*time.Second, "the task finishes", func() (bool, string) {
		allocs, _, err := mgmt.Jobs().Allocations(t.Context(), "wi", false, nil)
		if err != nil || len(allocs) == 0 {
			return false, fmt.Sprint(err)
		}
		allocID = allocs[0].ID
		return allocs[0].ClientStatus == structs.AllocClientStatusComplete || allocs[0].ClientStatus == structs.AllocClientStatusFailed, allocs[0].ClientStatus
	})
	logs, _ := cliWithToken(t, a.addr(), root, "alloc", "logs", allocID, "t")
	parts := strings.Split(logs, "---")
	if len(parts) != 3 {
		t.Fatalf("task output: %q", logs)
	}
	if strings.TrimSpace(parts[0]) != "own-secret" {
		t.Errorf("the task did not read its own variable: %q", parts[0])
	}
	if !strings.Contains(parts[1], "403") || strings.Contains(parts[1], "not-yours") {
		t.Errorf("the task read another job's variable: %q", parts[1])
	}
	if !strings.Contains(parts[2], "file-matches-env") {
		t.Errorf("secrets/nomad_token differs from NOMAD_TOKEN: %q", parts[2])
	}
	// The allocation is complete: its identity is refused from now on.
	leaked, err := os.ReadFile(tokenOut)
	if err != nil || !strings.HasPrefix(string(leaked), "eyJ") {
		t.Fatalf("token the task saw: %q %v", leaked, err)
	}
	if out, code := cliWithToken(t, a.addr(), strings.TrimSpace(string(leaked)), "var", "get", "nomad/jobs/wi"); code == 0 || strings.Contains(out, "own-secret") {
		t.Fatalf("a finished allocation's identity still reads: %s", out)
	}
	// The keys verifiers need are public.
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg string } `json:"keys"`
	}
	if err := getJSON(a.addr()+"/.well-known/jwks.json", &jwks); err != nil || len(jwks.Keys) == 0 || jwks.Keys[0].Alg != "RS256" {
		t.Fatalf("jwks: %+v %v", jwks, err)
	}
}
