package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

// TestOOMKillIsReportedAsTaskEvent runs an exec task past its memory limit:
// the kernel kills it and the task's Terminated event says so.
func TestOOMKillIsReportedAsTaskEvent(t *testing.T) {
	testenv.Need(t, "root", rootErr())
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	job := filepath.Join(t.TempDir(), "oom.hcl")
	src := `job "oom" {
  type        = "batch"
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
    task "hog" {
      driver = "exec"
      config {
        command = "/usr/bin/tail"
        args    = ["/dev/zero"]
      }
      resources {
        memory = 32
      }
    }
  }
}
`
	if err := os.WriteFile(job, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := a.cli(t, "job", "run", "-detach", job); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
	allocs := waitAllocs(t, a, "oom", 1, structs.AllocClientStatusFailed, 30*time.Second)
	var full structs.Allocation
	if err := getJSON(a.addr()+"/v1/allocation/"+allocs[0].ID, &full); err != nil {
		t.Fatal(err)
	}
	ts := full.TaskStates["hog"]
	if ts == nil {
		t.Fatal("no task state for hog")
	}
	for _, ev := range ts.Events {
		if ev.Type == structs.TaskTerminated && ev.Details["oom_killed"] == "true" {
			return
		}
	}
	t.Fatalf("no Terminated event reporting the OOM kill: %+v", ts.Events)
}
