package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// hostileScript is what a hostile task runs, under every driver: it tries
// to write into its log dir (which must fail), plants in alloc/data a link
// to the host's secret, a link to /, a FIFO and (where it may) a device
// node, then swaps alloc/data/race between a file and a link to the secret
// as fast as it can, forever.
const hostileScript = `B=busybox
D="$NOMAD_ALLOC_DIR/data"
L="$NOMAD_ALLOC_DIR/logs"
$B touch "$L/planted" 2>/dev/null && echo LOGDIR-WRITABLE-touch
$B ln -s "$SECRET" "$L/main.stdout.3" 2>/dev/null && echo LOGDIR-WRITABLE-symlink
$B mkfifo "$L/main.stdout.4" 2>/dev/null && echo LOGDIR-WRITABLE-fifo
$B ln -s "$SECRET" "$D/shadow"
$B ln -s / "$D/root"
$B mkfifo "$D/fifo"
$B mknod "$D/dev" c 1 3 2>/dev/null
$B ln "$SECRET" "$D/hard" 2>/dev/null && echo HARDLINKED
echo planted
while :; do
  echo ok > "$D/.r"; $B mv "$D/.r" "$D/race"
  $B ln -s "$SECRET" "$D/.l"; $B mv "$D/.l" "$D/race"
done
`

// hostileJob runs hostileScript as task "main" with driver; a raw_exec
// prestart task copies the test jar in for java.
func hostileJob(jobID, driver, payload, secret string) string {
	var cfg string
	memory := 64
	switch driver {
	case "raw_exec", "exec":
		cfg = `command = "/bin/sh"` + "\n        args = [\"-c\", " + hclString(hostileScript) + "]"
	case "docker":
		cfg = "image = " + hclString(busyboxImage) + "\n        command = \"sh\"\n        args = [\"-c\", " + hclString(hostileScript) + "]"
	case "java":
		cfg = "jar_path = " + hclString("${NOMAD_ALLOC_DIR}/data/app.jar") + "\n        args = [\"sh\", " + hclString(hostileScript) + "]"
		memory = 256
	}
	return fmt.Sprintf(`job %q {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "fetch" {
      driver = "raw_exec"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/cp"
        args    = ["-r", %s, %s]
      }
    }
    task "main" {
      driver       = %q
      kill_timeout = "1s"
      env {
        SECRET = %s
      }
      config {
        %s
      }
      resources {
        cpu    = 100
        memory = %d
      }
    }
  }
}
`, jobID, hclString(payload+"/."), hclString("${NOMAD_ALLOC_DIR}/data/"), driver, hclString(secret), cfg, memory)
}

// TestHostileTasksAllDrivers runs a hostile task under each driver and
// reads everything it planted through /v1/client/fs/* and the logs
// endpoint: nothing may come back but the task's own bytes and no special
// file may hang the agent. Isolated tasks (exec, java, docker) must not be
// able to write to their log dir at all; raw_exec runs as root with the
// agent's privileges by design (docs/security.md), so it can plant files
// there, and the agent must still refuse them.
func TestHostileTasksAllDrivers(t *testing.T) {
	drivers := usableDrivers(t)
	a := startAgent(t, newIP(), traversableDir(t), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	secret, marker := hostSecret(t)
	payload := payloadDir(t, "unused", true)
	for _, d := range drivers {
		job := "hostile-" + strings.ReplaceAll(d, "_", "-")
		jt.run(job, hostileJob(job, d, payload, secret))
	}
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			job := "hostile-" + strings.ReplaceAll(d, "_", "-")
			id := jt.oneAlloc(job)
			waitFor(t, 90*time.Second, job+" planted its files", func() (bool, string) {
				out, err := fetchLogs(a, id, "main", "stdout", "start", 0)
				if al := allocInfo(a, id); al != nil && al.ClientStatus == structs.AllocClientStatusFailed {
					t.Fatalf("%s failed: %s", job, taskEvents(al.TaskStates["main"]))
				}
				return strings.Contains(out, "planted"), fmt.Sprintf("%q %v", out, err)
			})
			out, _ := fetchLogs(a, id, "main", "stdout", "start", 0)
			if strings.Contains(out, marker) {
				t.Fatalf("%s: the logs endpoint served the secret through a planted link", d)
			}
			if d != "raw_exec" && strings.Contains(out, "LOGDIR-WRITABLE") {
				t.Errorf("%s: the task wrote into its log dir: %s", d, out)
			}
			checkHostileFiles(t, a, id, marker, d == "raw_exec")
		})
	}
}

// checkHostileFiles reads what hostileScript planted.
func checkHostileFiles(t *testing.T, a *agentProc, allocID, marker string, logDirWritable bool) {
	t.Helper()
	refused := map[string]string{
		"alloc/data/shadow":          "symbolic link",
		"alloc/data/root/etc/shadow": "symbolic link",
		"alloc/data/root/etc/passwd": "symbolic link",
		"alloc/data/fifo":            "FIFO",
		"alloc/logs/main.stdout.3":   "does not exist",
		"../../../../etc/passwd":     "escapes",
	}
	if logDirWritable {
		refused["alloc/logs/main.stdout.3"] = "symbolic link"
		refused["alloc/logs/main.stdout.4"] = "FIFO"
	}
	for path, why := range refused {
		for _, ep := range []string{"cat", "readat", "stream"} {
			code, body, err := fsGet(a, ep, allocID, path)
			if err != nil {
				t.Fatalf("%s %s: %v (did a planted file block the agent?)", ep, path, err)
			}
			if strings.Contains(body, marker) || strings.Contains(body, "root:") {
				t.Fatalf("%s %s served a host file", ep, path)
			}
			if code == 200 || !strings.Contains(body, why) {
				t.Errorf("%s %s: %d %q, want a refusal (%s)", ep, path, code, body, why)
			}
		}
	}
	// The device node exists only where the task could mknod (docker's
	// root); wherever it exists it is not read.
	if code, body, err := fsGet(a, "cat", allocID, "alloc/data/dev"); err != nil || code == 200 {
		t.Errorf("cat of a device node: %d %q %v", code, body, err)
	}
	if code, body, _ := fsGet(a, "cat", allocID, "alloc/data/hard"); code == 200 || strings.Contains(body, marker) {
		t.Errorf("cat of a hard link to the secret: %d %q", code, body)
	}
	code, body, err := fsGet(a, "ls", allocID, "alloc/data")
	if err != nil || code != 200 || !strings.Contains(body, `"shadow"`) {
		t.Fatalf("ls alloc/data: %d %q %v", code, body, err)
	}
	// The race: alloc/data/race flips between a file and a link to the
	// secret while it is read.
	var ok, refusedN int
	for i := 0; i < 300; i++ {
		code, body, err := fsGet(a, "cat", allocID, "alloc/data/race")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, marker) {
			t.Fatal("read the secret through a swapped link")
		}
		if code == 200 {
			ok++
		} else {
			refusedN++
		}
	}
	t.Logf("race: %d reads of the task's file, %d refusals of its link", ok, refusedN)
}

// traversableDir is a data dir a task user (raw_exec's user = "nobody")
// can reach its task dir through; t.TempDir's parents are 0700.
func traversableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "orch-e2e-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fsGet calls /v1/client/fs/<ep>/<alloc>?path=...; a stream is not
// followed.
func fsGet(a *agentProc, ep, allocID, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/v1/client/fs/%s/%s?follow=false&path=%s", a.addr(), ep, allocID, path)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// allocInfo reads one allocation, nil on error.
func allocInfo(a *agentProc, id string) *structs.Allocation {
	var al structs.Allocation
	if err := getJSON(a.addr()+"/v1/allocation/"+id, &al); err != nil {
		return nil
	}
	return &al
}
