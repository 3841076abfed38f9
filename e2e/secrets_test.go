package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/structs"
)

// TestSecretsTmpfsE2E: `resources { secrets = 3 }` gives the task a
// secrets dir that is a tmpfs of 3 MiB, as the task sees it at /secrets in
// an exec and a docker container.
func TestSecretsTmpfsE2E(t *testing.T) {
	dataDir := t.TempDir()
	t.Cleanup(func() { unmountUnder(t, dataDir) })
	a := startAgent(t, newIP(), dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	for _, d := range usableDrivers(t) {
		if d != "exec" && d != "docker" {
			continue
		}
		job := "secrets-" + d
		cfg := `command = "/bin/sh"`
		if d == "docker" {
			cfg = `image = "` + busyboxImage + `"
        command = "sh"`
		}
		jt.run(job, fmt.Sprintf(`job %q {
  group "g" {
    task "main" {
      driver = %q
      config {
        %s
        args = ["-c", "grep ' /secrets ' /proc/mounts; sleep 600"]
      }
      resources {
        cpu     = 50
        memory  = 32
        secrets = 3
      }
    }
  }
}
`, job, d, cfg))
		id := jt.oneAlloc(job)
		waitTaskState(t, a, id, "main", 60*time.Second, d+" main running", func(_ *structs.Allocation, ts *structs.TaskState) bool {
			return ts != nil && ts.State == structs.TaskStateRunning
		})
		var out string
		waitFor(t, 20*time.Second, d+" task's mount line", func() (bool, string) {
			out, _ = a.cli(t, "alloc", "logs", id, "main")
			return strings.Contains(out, "/secrets"), out
		})
		t.Logf("%s: %s", d, strings.TrimSpace(out))
		if !strings.Contains(out, " /secrets tmpfs ") || !strings.Contains(out, "size=3072k") {
			t.Fatalf("%s: the task's /secrets is not a 3 MiB tmpfs: %q", d, out)
		}
	}
}

// unmountUnder lazily unmounts whatever an agent left mounted under dir
// (the secrets tmpfs of allocations not yet garbage collected), so that
// the test's directory can be removed.
func unmountUnder(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], dir+"/") {
			points = append(points, fs[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}
