package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestSecretBlockE2E: a task's `secret "db" { provider = "nomad" }` reads
// the Nomad variable at its path with the task's identity when the task
// starts; ${secret.db.<key>} resolves in the env block and the driver
// config; the key is not in the environment by itself. A secret whose
// variable is outside what the task may read fails the task's start.
func TestSecretBlockE2E(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	if out, code := a.cli(t, "var", "put", "nomad/jobs/sec", "password=s3cret-pw", "user=app"); code != 0 {
		t.Fatalf("var put: %s", out)
	}
	if out, code := a.cli(t, "var", "put", "other/place", "password=nope"); code != 0 {
		t.Fatalf("var put: %s", out)
	}
	job := func(id, path string) string {
		return `job "` + id + `" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "main" {
      driver = "exec"
      secret "db" {
        provider = "nomad"
        path     = "` + path + `"
      }
      env {
        DB_PASS = "${secret.db.password}"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "echo cfg:${secret.db.user}; echo env:$DB_PASS; env | grep -c s3cret-pw; sleep 600"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`
	}
	jt.run("sec", job("sec", "nomad/jobs/sec"))
	id := jt.oneAlloc("sec")
	waitTaskState(t, a, id, "main", 60*time.Second, "main running", func(_ *structs.Allocation, ts *structs.TaskState) bool {
		return ts != nil && ts.State == structs.TaskStateRunning
	})
	var out string
	waitFor(t, 20*time.Second, "the task's output", func() (bool, string) {
		out, _ = a.cli(t, "alloc", "logs", id, "main")
		return strings.Count(out, "\n") >= 3, out
	})
	if out != "cfg:app\nenv:s3cret-pw\n1\n" {
		t.Fatalf("task output %q, want the secret in its config and (once, as DB_PASS) in its env", out)
	}

	jt.run("sec2", job("sec2", "other/place"))
	id2 := jt.oneAlloc("sec2")
	al := waitTaskState(t, a, id2, "main", 60*time.Second, "main failed", func(_ *structs.Allocation, ts *structs.TaskState) bool {
		return ts != nil && ts.Failed
	})
	if ev := taskEvents(al.TaskStates["main"]); !strings.Contains(ev, "secret") {
		t.Fatalf("failed task's events do not name the secret: %s", ev)
	}
}
