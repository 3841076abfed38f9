package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orch-project/orch/structs"
)

// hostSecret is a root-only file outside every alloc dir, standing in for
// /etc/shadow: no task may get the agent to read it.
func hostSecret(t *testing.T) (path, marker string) {
	t.Helper()
	marker = "TOP-SECRET-" + uuid.NewString()
	path = filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(path, []byte(marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, marker
}

// evilLogsJob is issue 8's attack 1 as a docker task (root in its
// container): it links alloc/logs/evil.stdout.5 to the host's secret and
// the next rotation index to a host path that must never be created, then
// writes 1.2 MB so the 1 MB log file rotates onto the link.
func evilLogsJob(jobID, secret, target string) string {
	script := strings.Join([]string{
		"busybox ln -s " + secret + " /alloc/logs/evil.stdout.5 && echo linked-read >&2",
		"busybox ln -s " + target + " /alloc/logs/evil.stdout.1 && echo linked-write >&2",
		"touch /alloc/logs/planted 2>/dev/null && echo planted >&2",
		"yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq | head -c 1200000",
		"echo; echo done-writing",
		"exec sleep 3600",
	}, "\n")
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
    task "evil" {
      driver       = "docker"
      kill_timeout = "1s"
      config {
        image   = %q
        command = "sh"
        args    = ["-c", %s]
      }
      logs {
        max_files     = 10
        max_file_size = 1
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`, jobID, busyboxImage, hclString(script))
}

// TestAttackLogSymlinks is issue 8's attack 1 end to end: a docker task
// plants symlinks in its log dir, then the agent serves and rotates logs.
// Neither the host secret may come back from /v1/client/fs/logs nor the
// host target be created by the rotator; the task's output still arrives.
func TestAttackLogSymlinks(t *testing.T) {
	needDocker(t)
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	secret, marker := hostSecret(t)
	target := filepath.Join(t.TempDir(), "created-by-agent")

	jt.run("evil-logs", evilLogsJob("evil-logs", secret, target))
	id := jt.oneAlloc("evil-logs")
	waitTaskState(t, a, id, "evil", 60*time.Second, "evil running", func(al *structs.Allocation, ts *structs.TaskState) bool {
		return ts.State == structs.TaskStateRunning
	})
	waitFor(t, 60*time.Second, "the task's output past the rotation", func() (bool, string) {
		out, err := fetchLogs(a, id, "evil", "stdout", "end", 200)
		return strings.Contains(out, "done-writing"), fmt.Sprintf("%q %v", tail(out, 2), err)
	})
	all, err := fetchLogs(a, id, "evil", "stdout", "start", 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(all, marker) {
		t.Fatal("GET /v1/client/fs/logs streamed the host's secret through a task's symlink")
	}
	if _, err := os.Lstat(target); err == nil {
		b, _ := os.ReadFile(target)
		t.Fatalf("the log rotator created a host file through a task's symlink (%d bytes)", len(b))
	}
	if n := strings.Count(all, "0123456789abcdefghijklmnopqrstuvwxyz"); n < 1200000/64 {
		t.Fatalf("only %d of %d output lines reached the logs", n, 1200000/64)
	}
	stderr, _ := fetchLogs(a, id, "evil", "stderr", "start", 0)
	for _, w := range []string{"linked-read", "linked-write", "planted"} {
		if strings.Contains(stderr, w) {
			t.Errorf("the task could write to its log dir (%s); stderr:\n%s", w, stderr)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != marker+"\n" {
		t.Fatalf("host secret changed: %q", b)
	}
}

// fetchLogs reads a task's log (not followed) through the HTTP API.
func fetchLogs(a *agentProc, allocID, task, typ, origin string, offset int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/v1/client/fs/logs/%s?task=%s&type=%s&origin=%s&offset=%d&follow=false&plain=true",
		a.addr(), allocID, task, typ, origin, offset)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return buf.String(), fmt.Errorf("status %d: %s", resp.StatusCode, buf.String())
	}
	return buf.String(), err
}

// TestRotationRaceWithPlantedFiles: a raw_exec task (root, so its log dir
// is writable: raw_exec has the agent's privileges by design) races the
// rotator, planting links to a host file, dangling links and FIFOs at the
// indices the rotator moves to while it writes 4 MB through 1 MB files. The
// host files stay untouched, the agent never blocks, and the output lands
// in the rotator's own files.
func TestRotationRaceWithPlantedFiles(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	secret, marker := hostSecret(t)
	target := filepath.Join(t.TempDir(), "created-by-agent")
	script := strings.Join([]string{
		`L="$NOMAD_ALLOC_DIR/logs"`,
		// Never -f: the planter only races to take a name first, as a
		// task that cannot replace the rotator's open file would.
		// Each plant that takes a name is reported on stderr.
		`( while :; do for i in 1 2 3 4 5 6 7 8; do`,
		`    busybox ln -s "$SECRET" "$L/race.stdout.$i" 2>/dev/null && echo "planted $i" >&2`,
		`    busybox ln -s "$TARGET" "$L/race.stdout.$((i+1))" 2>/dev/null && echo "planted $((i+1))" >&2`,
		`    busybox mkfifo "$L/race.stdout.$((i+2))" 2>/dev/null && echo "planted $((i+2))" >&2`,
		`  done; done ) &`,
		`yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq | head -c 4000000`,
		`echo; echo done-writing`,
		`kill $!`,
		`exec sleep 3600`,
	}, "\n")
	jt.run("race", fmt.Sprintf(`job "race" {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "race" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      env {
        SECRET = %s
        TARGET = %s
      }
      config {
        command = "/bin/sh"
        args    = ["-c", %s]
      }
      logs {
        max_files     = 20
        max_file_size = 1
      }
    }
  }
}
`, hclString(secret), hclString(target), hclString(script)))
	id := jt.oneAlloc("race")
	waitFor(t, 90*time.Second, "the task's output past the race", func() (bool, string) {
		out, err := fetchLogs(a, id, "race", "stdout", "end", 100)
		return strings.Contains(out, "done-writing"), fmt.Sprintf("%q %v", tail(out, 2), err)
	})
	all, err := fetchLogs(a, id, "race", "stdout", "start", 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(all, marker) {
		t.Fatal("the logs endpoint served the host secret")
	}
	if _, err := os.Lstat(target); err == nil {
		t.Fatal("the rotator created a host file through a planted link")
	}
	if b, _ := os.ReadFile(secret); string(b) != marker+"\n" {
		t.Fatalf("host secret changed: %q", b)
	}
	lines := strings.Count(all, "0123456789abcdefghijklmnopqrstuvwxyz")
	dropped := strings.Count(all, "bytes of task output dropped")
	const want = 4000000 / 64 // 63 characters and a newline
	if dropped == 0 && lines < want {
		t.Fatalf("output lost without a gap note: %d of %d lines", lines, want)
	}
	// Every index the planter took and the rotator later reached now holds
	// the rotator's own regular file: it met the plant and replaced it.
	stderr, _ := fetchLogs(a, id, "race", "stderr", "start", 0)
	logDir := filepath.Join(a.dataDir, "alloc", id, "alloc", "logs")
	replaced := 0
	for _, l := range strings.Split(stderr, "\n") {
		var i int
		if _, err := fmt.Sscanf(l, "planted %d", &i); err != nil {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(logDir, fmt.Sprintf("race.stdout.%d", i))); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			replaced++
		}
	}
	t.Logf("%d of %d lines in the logs, %d gap notes, %d planted names taken over by the rotator", lines, want, dropped, replaced)
	if replaced == 0 {
		t.Fatal("the rotator never met a planted file: the race did not run")
	}
}
