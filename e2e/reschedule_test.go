package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestCrashLoopIsRescheduledWithBackoff runs a service whose task always
// fails: replacements must follow the reschedule delay, not pile up.
func TestCrashLoopIsRescheduledWithBackoff(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	job := filepath.Join(t.TempDir(), "crash.hcl")
	src := `job "crash" {
  datacenters = ["*"]
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      delay          = "5s"
      delay_function = "constant"
      unlimited      = true
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exit 3"]
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
	// The first replacement waits out the 5 s delay; without the back-off
	// there would be dozens of failed allocations by then.
	start := time.Now()
	waitAllocs(t, a, "crash", 2, structs.AllocClientStatusFailed, 15*time.Second)
	if waited := time.Since(start); waited < 4*time.Second {
		t.Fatalf("second failure after %s: the 5s reschedule delay was not applied", waited)
	}
	allocs := jobAllocs(t, a, "crash")
	if len(allocs) > 3 {
		t.Fatalf("%d allocations within one 5s reschedule delay: back-off not applied", len(allocs))
	}
	var withTracker int
	for _, al := range allocs {
		full := struct {
			RescheduleTracker *structs.RescheduleTracker
		}{}
		if err := getJSON(a.addr()+"/v1/allocation/"+al.ID, &full); err != nil {
			t.Fatal(err)
		}
		if full.RescheduleTracker != nil && len(full.RescheduleTracker.Events) > 0 {
			withTracker++
			if d := full.RescheduleTracker.Events[len(full.RescheduleTracker.Events)-1].Delay; d != 5*time.Second {
				t.Fatalf("recorded reschedule delay %s, want 5s", d)
			}
		}
	}
	if withTracker == 0 {
		t.Fatal("no replacement carries a reschedule tracker")
	}
	a.cli(t, "job", "stop", "-purge", "crash")
}
