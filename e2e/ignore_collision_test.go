package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestIgnoreCollisionE2E: two allocations of a group whose static port has
// ignore_collision run side by side on one node with the same host port
// (through the scheduler, the plan applier and the client's port
// allocator); without ignore_collision the second is not placed.
func TestIgnoreCollisionE2E(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev", "-config", rawExecConfig(t))
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	job := func(id string, ignore bool) string {
		return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  group "g" {
    count = 2
    network {
      port "http" {
        static           = 18077
        ignore_collision = %v
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_PORT_http $NOMAD_HOST_PORT_http > $NOMAD_TASK_DIR/port; exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, id, ignore)
	}
	run := func(id string, ignore bool) {
		jt.add(id)
		if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, id+".hcl", job(id, ignore))); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
	}
	run("shared", true)
	allocs := waitAllocs(t, a, "shared", 2, structs.AllocClientStatusRunning, 60*time.Second)
	for _, al := range allocs {
		var got []byte
		waitFor(t, 10*time.Second, "port file", func() (bool, string) {
			var err error
			got, err = os.ReadFile(filepath.Join(dataDir, "alloc", al.ID, "t/local/port"))
			return err == nil, fmt.Sprint(err)
		})
		if string(got) != "18077 18077\n" {
			t.Fatalf("alloc %s: NOMAD_PORT_http/NOMAD_HOST_PORT_http = %q", al.Name, got)
		}
	}

	// The same group without ignore_collision: the sharers do not hold
	// the port, so one plain allocation fits; the second collides with it.
	run("plain", false)
	waitAllocs(t, a, "plain", 1, structs.AllocClientStatusRunning, 60*time.Second)
	time.Sleep(time.Second)
	if n := len(jobAllocs(t, a, "plain")); n != 1 {
		t.Fatalf("plain static port placed %d allocations on one node, want 1", n)
	}
}
