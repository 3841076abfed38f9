package tasklock

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// holdInChild starts a process that inherits l's file, as a shim does,
// and returns it once it runs.
func holdInChild(t *testing.T, l *Lock) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "300")
	cmd.ExtraFiles = []*os.File{l.File()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Reaped as soon as it dies, so its descriptor closes.
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd
}

func killRecorder() (Killer, func() []int) {
	var mu sync.Mutex
	var pids []int
	return func(pid int) error {
			mu.Lock()
			pids = append(pids, pid)
			mu.Unlock()
			return syscall.Kill(pid, syscall.SIGKILL)
		}, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), pids...)
		}
}

// TestLockOutlivesStarterAndIsReaped: a lock handed to a child stays held
// after the starter releases it (as after an agent crash); the next Acquire
// kills exactly that child and takes the lock.
func TestLockOutlivesStarterAndIsReaped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "task.lock")
	kill, killed := killRecorder()
	l, err := Acquire(path, "intent one", kill, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	child := holdInChild(t, l)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if held, err := Held(path); err != nil || !held {
		t.Fatalf("held after the starter released: %v %v", held, err)
	}
	if hs, err := Holders(path); err != nil || len(hs) != 1 || hs[0] != child.Process.Pid {
		t.Fatalf("holders %v %v, want [%d]", hs, err, child.Process.Pid)
	}
	l2, err := Acquire(path, "intent two", kill, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release()
	if got := killed(); len(got) != 1 || got[0] != child.Process.Pid {
		t.Fatalf("killed %v, want [%d]", got, child.Process.Pid)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "intent two\n" {
		t.Fatalf("lock file %q", b)
	}
}

// TestAcquireFreeLockKillsNobody, and a recorded pid that no longer holds
// the file (reused by an unrelated process) is never killed.
func TestAcquireFreeLockKillsNobody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.lock")
	// A stale record naming a process (init) that does not hold the file.
	if err := os.WriteFile(path, []byte("intent old\npid 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var killed []int
	l, err := Acquire(path, "intent new", func(pid int) error { killed = append(killed, pid); return nil }, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) != 0 {
		t.Fatalf("killed %v with the lock free", killed)
	}
	if err := l.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("discarded lock file still there: %v", err)
	}
}

// TestDiscardKeepsFileWhileHeld: a failed start whose supervisor still
// holds the lock leaves the file for the next start to reap; Remove kills
// the holder before unlinking.
func TestDiscardKeepsFileWhileHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.lock")
	kill, killed := killRecorder()
	l, err := Acquire(path, "intent", kill, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	child := holdInChild(t, l)
	if err := l.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("lock file of a live holder removed: %v", err)
	}
	if err := Remove(path, kill, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := killed(); len(got) != 1 || got[0] != child.Process.Pid {
		t.Fatalf("killed %v", got)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("removed lock file still there: %v", err)
	}
	if err := Remove(path, kill, time.Second); err != nil {
		t.Fatalf("removing a missing lock: %v", err)
	}
}

// TestAcquireGivesUpOnUnkillableHolder: a holder that does not die within
// the wait fails the start with a clear error instead of running a second
// copy.
func TestAcquireGivesUpOnUnkillableHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.lock")
	l, err := Acquire(path, "intent", func(int) error { return nil }, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	holdInChild(t, l)
	l.Release()
	_, err = Acquire(path, "intent", func(int) error { return nil }, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still holds it") {
		t.Fatalf("Acquire over a live holder: %v", err)
	}
}

// BenchmarkStartCycle is what the lock adds to a task start and destroy
// when no earlier copy holds it: Acquire (open, flock, intent record),
// Release, and Remove (open, flock, unlink).
func BenchmarkStartCycle(b *testing.B) {
	path := filepath.Join(b.TempDir(), "task.lock")
	kill := func(int) error { return nil }
	for i := 0; i < b.N; i++ {
		l, err := Acquire(path, "intent task=bench", kill, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
		if err := Remove(path, kill, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
