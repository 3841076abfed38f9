package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// TestJobActionE2E: a task's `action` block runs inside the running task
// (exec driver: the task's environment, its input, its exit code) through
// `orch action` by group and task, through `orch job action` by allocation
// prefix (the task found from the action's name), and through the stock
// nomad/api client's ActionExec; an action the task does not declare is
// refused.
func TestJobActionE2E(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	marker := "act-" + structs.GenerateUUID()[:8]
	jt.run("act", `job "act" {
  group "g" {
    task "main" {
      driver = "exec"
      env {
        MARKER = "`+marker+`"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 600"]
      }
      action "report" {
        command = "/bin/sh"
        args    = ["-c", "echo $MARKER; read x; echo got:$x; exit 5"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`)
	id := jt.oneAlloc("act")
	waitTaskState(t, a, id, "main", 60*time.Second, "main running", func(_ *structs.Allocation, ts *structs.TaskState) bool {
		return ts != nil && ts.State == structs.TaskStateRunning
	})
	want := marker + "\ngot:in-line\n"
	out, errOut, code := a.cliIn(t, "in-line\n", "action", "-job", "act", "-group", "g", "-task", "main", "report")
	if code != 5 || out != want {
		t.Fatalf("orch action: exit %d stdout %q stderr %q", code, out, errOut)
	}
	out, errOut, code = a.cliIn(t, "in-line\n", "job", "action", "-job", "act", "-allocation", id[:8], "report")
	if code != 5 || out != want {
		t.Fatalf("orch job action -allocation: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if _, errOut, code = a.cliIn(t, "", "action", "-job", "act", "-group", "g", "nope"); code != 1 || !strings.Contains(errOut, `Action "nope" not found`) {
		t.Fatalf("unknown action: exit %d stderr %q", code, errOut)
	}

	nc, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	alloc, _, err := nc.Allocations().Info(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	code, err = nc.Jobs().ActionExec(ctx, alloc, "act", "main", false, nil, "report",
		strings.NewReader("in-line\n"), &stdout, &stderr, nil, nil)
	if err != nil || code != 5 || stdout.String() != want {
		t.Fatalf("nomad/api ActionExec: code %d err %v stdout %q stderr %q", code, err, stdout.String(), stderr.String())
	}
	code, err = nc.Jobs().ActionExec(ctx, alloc, "act", "main", false, nil, "nope", strings.NewReader(""), &stdout, &stderr, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("nomad/api ActionExec of an unknown action: code %d err %v", code, err)
	}
}
