package rawexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers/tasklock"
)

func alive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}

// waitLines polls for the task's marker file to hold n lines: the tasks
// are separate processes, so there is no channel to wait on.
func waitLines(t *testing.T, path string, n int) [][]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := readFileString(path)
		lines := strings.Split(strings.TrimSpace(b), "\n")
		if b != "" && strings.HasSuffix(b, "\n") && len(lines) >= n {
			var out [][]int
			for _, l := range lines {
				var pids []int
				for _, f := range strings.Fields(l) {
					p, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("bad marker line %q", l)
					}
					pids = append(pids, p)
				}
				out = append(out, pids)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("marker %s has %q, want %d lines", path, b, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartAfterCrashKillsOrphan: the agent died after starting the task
// but before the client saved the handle, so the restarted client Starts
// the same task again; the first copy must not survive.
func TestStartAfterCrashKillsOrphan(t *testing.T) {
	stateDir := t.TempDir()
	cfg := newTaskConfig(t, `sleep 300 & echo $$ $! >> "$0.pids"; wait`)
	marker := filepath.Join(cfg.TaskDir, "m")
	cfg.Config["args"] = []any{"-c", `sleep 300 & echo $$ $! >> "$0.pids"; wait`, marker}
	d1 := New(Config{Enabled: true, StateDir: stateDir})
	if _, err := d1.Start(context.Background(), cfg); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	first := waitLines(t, marker+".pids", 1)[0]
	t.Cleanup(func() {
		for _, p := range first {
			if alive(p) {
				_ = killPid(p)
			}
		}
	})

	// d1 is dropped without its handle ever being persisted.
	d2 := New(Config{Enabled: true, StateDir: stateDir})
	startTask(t, d2, cfg)
	lines := waitLines(t, marker+".pids", 2)
	if len(lines) != 2 {
		t.Fatalf("%d copies started, want 2 starts total: %v", len(lines), lines)
	}
	// The first copy's group got SIGKILL before the new copy started (its
	// shim's lock was released by its death); the rest of the group may
	// take a moment longer to be reaped.
	for _, p := range first {
		waitGone(t, p)
	}
	for _, p := range lines[1] {
		if !alive(p) {
			t.Fatalf("process %d of the new copy is not running", p)
		}
	}
	if st, err := d2.Inspect(cfg.ID); err != nil || st.State != "running" {
		t.Fatalf("new copy: %+v, %v", st, err)
	}
}

// TestStartKillsCopyFromCrashMidStart: the agent died right after the shim
// started, before anything about it was recorded (no handle, no task in
// the driver). The shim holds the task's lock, so the next agent's Start
// finds and kills that copy before starting its own.
func TestStartKillsCopyFromCrashMidStart(t *testing.T) {
	stateDir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "m")
	script := `sleep 300 & echo $$ $! >> "$0.pids"; wait`
	cfg := newTaskConfig(t, script)
	cfg.Config["args"] = []any{"-c", script, marker}
	testCrashAfterShimStart = func() bool { return true }
	d1 := New(Config{Enabled: true, StateDir: stateDir})
	_, err := d1.Start(context.Background(), cfg)
	testCrashAfterShimStart = nil
	if !errors.Is(err, errCrashed) {
		t.Fatalf("simulated crash: %v", err)
	}
	first := waitLines(t, marker+".pids", 1)[0]
	t.Cleanup(func() {
		for _, p := range first {
			if alive(p) {
				_ = killPid(p)
			}
		}
	})
	if held, err := tasklock.Held(New(Config{StateDir: stateDir}).taskLockPath(cfg.ID)); err != nil || !held {
		t.Fatalf("orphaned copy does not hold the task lock: %v %v", held, err)
	}

	d2 := New(Config{Enabled: true, StateDir: stateDir})
	startTask(t, d2, cfg)
	lines := waitLines(t, marker+".pids", 2)
	for _, p := range first {
		waitGone(t, p)
	}
	for _, p := range lines[1] {
		if !alive(p) {
			t.Fatalf("process %d of the new copy is not running", p)
		}
	}
	// The new copy's shim recorded itself in the lock file before its task
	// started.
	b, _ := os.ReadFile(d2.taskLockPath(cfg.ID))
	if !strings.Contains(string(b), "intent task="+cfg.ID) || !strings.Contains(string(b), "pid ") {
		t.Fatalf("lock file %q", b)
	}
	// Destroy removes the lock file once the task is gone.
	if err := d2.Destroy(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d2.taskLockPath(cfg.ID)); !os.IsNotExist(err) {
		t.Fatalf("lock file after destroy: %v", err)
	}
}

// waitGone waits for a killed process to be gone (reaped or a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d of the orphaned copy still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFileString(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func writeFileString(p, s string) error { return os.WriteFile(p, []byte(s), 0o600) }

func killPid(p int) error { return syscall.Kill(p, syscall.SIGKILL) }
