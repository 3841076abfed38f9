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

// Issue 8, attack 6: with nothing to turn on, any caller that reaches the
// API (a task on the host network included) could submit a raw_exec job
// and read every job's secrets. The control half shows the attack working
// on an agent without ACLs (the only mode orch had); with ACLs on, the
// same calls are refused, from outside and from inside a task.
func TestAttackUnauthenticatedAPI(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.hcl")
	if err := os.WriteFile(evil, []byte(`job "evil" {
  type = "batch"
  datacenters = ["*"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "id"]
      }
    }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	secretJob := filepath.Join(dir, "secret.hcl")
	if err := os.WriteFile(secretJob, []byte(`job "payroll" {
  type = "batch"
  datacenters = ["*"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      env {
        DB_PASSWORD = "hunter2"
      }
      config {
        command = "/bin/true"
      }
    }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("without ACLs the attack works", func(t *testing.T) {
		a := startAgent(t, newIP(), t.TempDir(), "-dev")
		waitReady(t, a, 1)
		if out, code := cliWithToken(t, a.addr(), "", "job", "run", "-detach", evil); code != 0 {
			t.Fatalf("control: unauthenticated submit failed on an open agent: %s", out)
		}
	})

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
	if out, code := cliWithToken(t, a.addr(), root, "job", "run", "-detach", secretJob); code != 0 {
		t.Fatalf("operator submits payroll: %s", out)
	}

	// From outside: no token, a forged token, a token of another namespace.
	if out, code := cliWithToken(t, a.addr(), "", "job", "run", "-detach", evil); code == 0 || !strings.Contains(out, "403") {
		t.Fatalf("unauthenticated submit: exit %d %s", code, out)
	}
	if out, code := cliWithToken(t, a.addr(), "6f4d3a3e-1111-4000-8000-000000000000", "job", "run", "-detach", evil); code == 0 || !strings.Contains(out, "ACL token not found") {
		t.Fatalf("forged token submit: exit %d %s", code, out)
	}
	if out, code := cliWithToken(t, a.addr(), "", "job", "inspect", "payroll"); code == 0 || strings.Contains(out, "hunter2") {
		t.Fatalf("unauthenticated read of a job's env: exit %d %s", code, out)
	}
	if err := mgmt.Namespaces().Register(t.Context(), &structs.Namespace{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := mgmt.ACL().UpsertPolicy(t.Context(), &structs.ACLPolicy{Name: "other-ns", Rules: `namespace "other" { policy = "write" }`}); err != nil {
		t.Fatal(err)
	}
	other, err := mgmt.ACL().UpsertToken(t.Context(), &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: []string{"other-ns"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, code := cliWithToken(t, a.addr(), other.SecretID, "job", "inspect", "payroll"); code == 0 || strings.Contains(out, "hunter2") {
		t.Fatalf("another namespace's token reads payroll: exit %d %s", code, out)
	}

	// From inside a task on the host network: the task runs the CLI
	// against the agent and gets 403 (it has no token).
	inside := filepath.Join(dir, "inside.hcl")
	if err := os.WriteFile(inside, []byte(fmt.Sprintf(`job "inside" {
  type = "batch"
  datacenters = ["*"]
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = %q
        args    = ["job", "run", "-detach", "-address", %q, %q]
      }
    }
  }
}
`, binPath, a.addr(), evil)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cliWithToken(t, a.addr(), root, "job", "run", "-detach", inside); code != 0 {
		t.Fatalf("submit inside: %s", out)
	}
	var allocID string
	waitFor(t, 30*time.Second, "the task's attempt", func() (bool, string) {
		allocs, _, err := mgmt.Jobs().Allocations(t.Context(), "inside", false, nil)
		if err != nil || len(allocs) == 0 {
			return false, fmt.Sprint(err)
		}
		allocID = allocs[0].ID
		return allocs[0].ClientStatus == structs.AllocClientStatusFailed || allocs[0].ClientStatus == structs.AllocClientStatusComplete, allocs[0].ClientStatus
	})
	logs, _ := cliWithToken(t, a.addr(), root, "alloc", "logs", "-stderr", allocID, "t")
	if !strings.Contains(logs, "403") {
		t.Fatalf("the task's submit was not refused with 403: %q", logs)
	}
	if _, _, err := mgmt.Jobs().Info(t.Context(), "evil", nil); err == nil {
		t.Fatal("the evil job exists")
	}
}
