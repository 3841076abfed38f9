package rawexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

func newTaskConfig(t *testing.T, script string) *drivers.TaskConfig {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"local", "secrets", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &drivers.TaskConfig{
		ID:      "alloc1/" + t.Name(),
		AllocID: "alloc1",
		Name:    "web",
		Config:  map[string]any{"command": "/bin/sh", "args": []any{"-c", script}},
		Env:     map[string]string{},
		TaskDir: dir,
	}
}

func startTask(t *testing.T, d *Driver, cfg *drivers.TaskConfig) *drivers.TaskHandle {
	t.Helper()
	h, err := d.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = d.Destroy(cfg.ID, true) })
	return h
}

func waitExit(t *testing.T, d *Driver, id string, within time.Duration) *drivers.ExitResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ch, err := d.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	res, ok := <-ch
	if !ok || res == nil {
		t.Fatalf("task %s did not exit within %s", id, within)
	}
	return res
}

// waitForFile polls for a file the task writes; the task is a separate
// process, so there is no channel to wait on.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return string(b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("file %s never written", path)
	return ""
}

// processGone reports whether pid no longer runs (zombies count as gone:
// an orphan's reaper is outside our control).
func processGone(pid int) bool {
	st, err := readProcStat(pid)
	return err != nil || st.State == 'Z'
}

func TestFingerprint(t *testing.T) {
	off := New(Config{}).Fingerprint(context.Background())
	if off.Detected || off.Healthy {
		t.Fatalf("disabled driver fingerprinted as %+v", off)
	}
	on := New(Config{Enabled: true}).Fingerprint(context.Background())
	if !on.Detected || !on.Healthy || on.Attributes["driver.raw_exec"] != "1" {
		t.Fatalf("enabled driver fingerprinted as %+v", on)
	}
}

func TestStartRefusedWhenDisabled(t *testing.T) {
	d := New(Config{})
	if _, err := d.Start(context.Background(), newTaskConfig(t, "true")); err == nil {
		t.Fatal("disabled driver started a task")
	}
}

func TestValidateConfig(t *testing.T) {
	d := New(Config{Enabled: true})
	good := []map[string]any{
		{"command": "/bin/true"},
		{"command": "echo", "args": []any{"a", "b"}},
		{"command": "echo", "args": []string{"a"}},
	}
	for _, c := range good {
		if err := d.ValidateConfig(c); err != nil {
			t.Errorf("ValidateConfig(%v) = %v", c, err)
		}
	}
	bad := []map[string]any{
		{},
		{"command": 3},
		{"command": "echo", "args": "a b"},
		{"command": "echo", "args": []any{"a", 1}},
		{"command": "echo", "image": "x"},
	}
	for _, c := range bad {
		if err := d.ValidateConfig(c); err == nil {
			t.Errorf("ValidateConfig(%v) accepted bad config", c)
		}
	}
	if d.ConfigSpec() == nil {
		t.Fatal("nil spec")
	}
}

func TestExitCodeAndSignal(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, "exit 3")
	startTask(t, d, cfg)
	res := waitExit(t, d, cfg.ID, 5*time.Second)
	if res.ExitCode != 3 || res.Signal != 0 || res.Successful() {
		t.Fatalf("exit result %+v, want code 3", res)
	}
	st, err := d.Inspect(cfg.ID)
	if err != nil || st.State != drivers.TaskStateExited || st.ExitResult.ExitCode != 3 {
		t.Fatalf("Inspect = %+v, %v", st, err)
	}

	cfg2 := newTaskConfig(t, "kill -KILL $$")
	startTask(t, d, cfg2)
	res = waitExit(t, d, cfg2.ID, 5*time.Second)
	if res.Signal != int(syscall.SIGKILL) || res.ExitCode != 128+9 {
		t.Fatalf("exit result %+v, want signal 9", res)
	}

	cfg3 := newTaskConfig(t, "exit 0")
	startTask(t, d, cfg3)
	if res := waitExit(t, d, cfg3.ID, 5*time.Second); !res.Successful() {
		t.Fatalf("exit result %+v, want success", res)
	}
}

func TestEnvAndWorkingDir(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `echo "$FOO|$(pwd)|$PATH" > out.txt`)
	cfg.Env["FOO"] = "bar baz"
	startTask(t, d, cfg)
	if res := waitExit(t, d, cfg.ID, 5*time.Second); !res.Successful() {
		t.Fatalf("task failed: %+v", res)
	}
	got := strings.TrimSpace(waitForFile(t, filepath.Join(cfg.TaskDir, "out.txt")))
	want := "bar baz|" + cfg.TaskDir + "|" + os.Getenv("PATH")
	if got != want {
		t.Fatalf("task saw %q, want %q", got, want)
	}
}

func TestCommandResolvedInTaskDir(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, "")
	script := filepath.Join(cfg.TaskDir, "local", "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho ran > ran.txt\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Config = map[string]any{"command": "run.sh"}
	startTask(t, d, cfg)
	if res := waitExit(t, d, cfg.ID, 5*time.Second); !res.Successful() {
		t.Fatalf("task failed: %+v", res)
	}
	waitForFile(t, filepath.Join(cfg.TaskDir, "ran.txt"))

	cfg2 := newTaskConfig(t, "")
	cfg2.Config = map[string]any{"command": "definitely-not-a-command-xyz"}
	if _, err := d.Start(context.Background(), cfg2); err == nil {
		t.Fatal("started a missing command")
	}
}

func TestOutputThroughFIFO(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `echo out; echo err >&2`)
	read := func(path string) <-chan string {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		ch := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(f).ReadString('\n')
			ch <- line
		}()
		return ch
	}
	cfg.StdoutPath = filepath.Join(cfg.TaskDir, "stdout.fifo")
	cfg.StderrPath = filepath.Join(cfg.TaskDir, "stderr.fifo")
	outCh, errCh := read(cfg.StdoutPath), read(cfg.StderrPath)
	startTask(t, d, cfg)
	for name, ch := range map[string]<-chan string{"out": outCh, "err": errCh} {
		select {
		case got := <-ch:
			if got != name+"\n" {
				t.Fatalf("read %q, want %q", got, name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s output", name)
		}
	}
	waitExit(t, d, cfg.ID, 5*time.Second)
}

func TestStopGracefulWithTrap(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `trap 'echo term > trapped.txt; exit 0' TERM; echo up > ready.txt; while :; do sleep 0.05; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	if err := d.Stop(cfg.ID, 5*time.Second, ""); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	res := waitExit(t, d, cfg.ID, time.Second)
	if !res.Successful() {
		t.Fatalf("trap should have exited 0, got %+v", res)
	}
	if got := waitForFile(t, filepath.Join(cfg.TaskDir, "trapped.txt")); got != "term\n" {
		t.Fatalf("trap output %q", got)
	}
}

func TestStopCustomSignal(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `trap 'echo int > trapped.txt; exit 7' INT; echo up > ready.txt; while :; do sleep 0.05; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	if err := d.Stop(cfg.ID, 5*time.Second, "SIGINT"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if res := waitExit(t, d, cfg.ID, time.Second); res.ExitCode != 7 {
		t.Fatalf("want exit 7 from the INT trap, got %+v", res)
	}
	if err := d.Stop(cfg.ID, time.Second, "SIGNOPE"); err == nil {
		t.Fatal("bad signal name accepted")
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `trap '' TERM; echo up > ready.txt; while :; do sleep 0.05; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	start := time.Now()
	if err := d.Stop(cfg.ID, 300*time.Millisecond, "SIGTERM"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("Stop returned after %s, before the kill timeout", el)
	}
	if res := waitExit(t, d, cfg.ID, time.Second); res.Signal != int(syscall.SIGKILL) {
		t.Fatalf("want SIGKILL, got %+v", res)
	}
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(waitForFile(t, path)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	return pids
}

func TestStopKillsWholeTree(t *testing.T) {
	d := New(Config{Enabled: true})
	// A child shell that itself spawns grandchildren.
	cfg := newTaskConfig(t, `sh -c 'sleep 1000 & sleep 1000 & echo $! $$ > pids.txt; wait' & wait`)
	startTask(t, d, cfg)
	pids := readPids(t, filepath.Join(cfg.TaskDir, "pids.txt"))
	for _, p := range pids {
		if processGone(p) {
			t.Fatalf("descendant %d not running", p)
		}
	}
	if err := d.Stop(cfg.ID, 2*time.Second, ""); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitExit(t, d, cfg.ID, time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for _, p := range pids {
		for !processGone(p) {
			if time.Now().After(deadline) {
				t.Fatalf("descendant %d survived Stop", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestDestroyKillsLeftovers(t *testing.T) {
	d := New(Config{Enabled: true})
	// The main process exits at once, leaving a background child.
	cfg := newTaskConfig(t, `sleep 1000 & echo $! > pids.txt`)
	startTask(t, d, cfg)
	waitExit(t, d, cfg.ID, 5*time.Second)
	pid := readPids(t, filepath.Join(cfg.TaskDir, "pids.txt"))[0]
	if processGone(pid) {
		t.Fatal("leftover not running before Destroy")
	}
	if err := d.Destroy(cfg.ID, false); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatal("leftover survived Destroy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := d.Inspect(cfg.ID); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Inspect after Destroy: %v", err)
	}
}

func TestDestroyRunningNeedsForce(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `exec sleep 1000`)
	startTask(t, d, cfg)
	if err := d.Destroy(cfg.ID, false); err == nil {
		t.Fatal("Destroy without force killed a running task")
	}
	if err := d.Destroy(cfg.ID, true); err != nil {
		t.Fatalf("forced Destroy: %v", err)
	}
}

func TestStats(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `exec sleep 1000`)
	h := startTask(t, d, cfg)
	var ds driverState
	if err := json.Unmarshal(h.DriverState, &ds); err != nil {
		t.Fatal(err)
	}
	u, err := d.Stats(context.Background(), cfg.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if u.Pids[strconv.Itoa(ds.Pid)] == 0 || u.MemoryRSS == 0 {
		t.Fatalf("stats %+v miss the task's pid %d", u, ds.Pid)
	}
}

func TestRecoverInFreshDriver(t *testing.T) {
	d1 := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `exec sleep 1000`)
	h := startTask(t, d1, cfg)

	// Round-trip the handle as the client persists it.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var h2 drivers.TaskHandle
	if err := json.Unmarshal(b, &h2); err != nil {
		t.Fatal(err)
	}
	d2 := New(Config{Enabled: true})
	if err := d2.Recover(context.Background(), &h2); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() { _ = d2.Destroy(cfg.ID, true) })
	st1, _ := d1.Inspect(cfg.ID)
	st2, err := d2.Inspect(cfg.ID)
	if err != nil || st2.State != drivers.TaskStateRunning || st2.Attributes["pid"] != st1.Attributes["pid"] {
		t.Fatalf("recovered status %+v (%v), original %+v", st2, err, st1)
	}
	if err := d2.Stop(cfg.ID, 2*time.Second, ""); err != nil {
		t.Fatalf("Stop of recovered task: %v", err)
	}
	res := waitExit(t, d2, cfg.ID, 2*time.Second)
	if res.Err != nil || res.Signal != int(syscall.SIGTERM) || res.ExitCode != 128+int(syscall.SIGTERM) {
		t.Fatalf("recovered exit %+v, want the shim's record of SIGTERM", res)
	}
	// The real parent still learns the truth.
	if res := waitExit(t, d1, cfg.ID, 2*time.Second); res.Signal != int(syscall.SIGTERM) {
		t.Fatalf("parent saw %+v", res)
	}
}

func TestRecoverRejectsGoneOrReusedPid(t *testing.T) {
	d1 := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `exit 0`)
	h := startTask(t, d1, cfg)
	waitExit(t, d1, cfg.ID, 5*time.Second)
	var st driverState
	if err := json.Unmarshal(h.DriverState, &st); err != nil {
		t.Fatal(err)
	}
	// Without the shim's record an exited task is gone for good.
	if err := os.Remove(filepath.Join(st.StateDir, statusFileName)); err != nil {
		t.Fatal(err)
	}
	d2 := New(Config{Enabled: true})
	if err := d2.Recover(context.Background(), h); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Recover of exited task: %v", err)
	}
	// Our own pid with a wrong start time stands for a reused pid.
	ds, _ := json.Marshal(driverState{Pid: os.Getpid(), StartTicks: 1, BootID: bootID()})
	h.DriverState = ds
	if err := d2.Recover(context.Background(), h); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Recover of reused pid: %v", err)
	}
	h.DriverState = []byte("{")
	if err := d2.Recover(context.Background(), h); err == nil {
		t.Fatal("Recover accepted garbage state")
	}
}

func TestSignalReachesLeader(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `trap 'echo usr1 > got.txt; exit 0' USR1; echo up > ready.txt; while :; do sleep 0.05; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	if err := d.Signal(cfg.ID, "usr1"); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	waitForFile(t, filepath.Join(cfg.TaskDir, "got.txt"))
	waitExit(t, d, cfg.ID, 2*time.Second)
}

// A task starts with every signal at its default action and none blocked,
// whatever the agent inherited: under nohup (SIGHUP ignored, inherited
// across exec) a shell could not trap SIGHUP, so a template's
// change_mode = "signal" reload did nothing.
func TestTaskStartsWithDefaultSignals(t *testing.T) {
	signal.Ignore(syscall.SIGHUP, syscall.SIGUSR2)
	t.Cleanup(func() { signal.Reset(syscall.SIGHUP, syscall.SIGUSR2) })
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, `grep -E '^Sig(Ign|Blk):' /proc/self/status > sig.txt; trap 'echo hup > got.txt; exit 0' HUP; echo up > ready.txt; while :; do sleep 0.05; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	status := waitForFile(t, filepath.Join(cfg.TaskDir, "sig.txt"))
	// grep itself is the process read: it started as the task's shell's
	// child with what the shell got.
	for _, l := range strings.Split(strings.TrimSpace(status), "\n") {
		f := strings.Fields(l)
		var mask uint64
		if len(f) == 2 {
			mask, _ = strconv.ParseUint(f[1], 16, 64)
		}
		// Signals 32 and 33 are glibc's own (thread cancellation, setxid):
		// glibc refuses to change them and sets its handlers at start.
		if mask &^= 1<<31 | 1<<32; len(f) != 2 || mask != 0 {
			t.Errorf("task started with %q, want no ignored or blocked signals", l)
		}
	}
	if err := d.Signal(cfg.ID, "SIGHUP"); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	waitForFile(t, filepath.Join(cfg.TaskDir, "got.txt"))
	waitExit(t, d, cfg.ID, 2*time.Second)
}
