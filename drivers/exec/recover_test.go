package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// The fake agent is this test binary re-exec'd: it starts one task, prints
// its handle, and blocks until the test SIGKILLs it, leaving the task
// orphaned exactly as a crashed client would.
const (
	fakeAgentEnv  = "ORCH_EXEC_FAKE_AGENT"
	fakeConfigEnv = "ORCH_EXEC_FAKE_CONFIG"
	fakeStateEnv  = "ORCH_EXEC_FAKE_STATE"
)

func runFakeAgent() int {
	var cfg drivers.TaskConfig
	if err := json.Unmarshal([]byte(os.Getenv(fakeConfigEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "decode config:", err)
		return 2
	}
	d := New(Config{StateRoot: os.Getenv(fakeStateEnv)})
	h, err := d.Start(context.Background(), &cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(h); err != nil {
		return 2
	}
	select {}
}

// startInFakeAgent starts tt in a separate agent process, kills that process
// and returns the handle it persisted.
func startInFakeAgent(t *testing.T, stateRoot string, tt *testTask) *drivers.TaskHandle {
	t.Helper()
	cfgJSON, err := json.Marshal(tt.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeAgentEnv+"=1", fakeConfigEnv+"="+string(cfgJSON), fakeStateEnv+"="+stateRoot)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var h drivers.TaskHandle
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err != nil {
		t.Fatalf("fake agent handle: %v", err)
	}
	return &h
}

func TestRecoverAfterAgentDeath(t *testing.T) {
	requireIsolation(t)
	stateRoot := filepath.Join(t.TempDir(), "state")
	script := "echo up; while [ ! -e /local/go ]; do sleep 0.05; done; echo bye; exit 7"

	// One task is still running when the new agent recovers it; the other
	// ends while no agent is alive.
	running := newTask(t, "/bin/sh", "-c", script)
	finished := newTask(t, "/bin/sh", "-c", script)
	hRunning := startInFakeAgent(t, stateRoot, running)
	hFinished := startInFakeAgent(t, stateRoot, finished)
	running.stdout.waitFor(t, "up")
	finished.stdout.waitFor(t, "up")

	var st handleState
	if err := json.Unmarshal(hFinished.DriverState, &st); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(st.Container.Pid, 0)
	if err != nil {
		t.Fatalf("task init should outlive its agent: %v", err)
	}
	touch(t, filepath.Join(finished.cfg.TaskDir, "local", "go"))
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 20000); n != 1 || err != nil {
		t.Fatalf("orphaned task did not exit: %d %v", n, err)
	}
	_ = unix.Close(pidfd)

	d := New(Config{StateRoot: stateRoot})
	for _, h := range []*drivers.TaskHandle{hRunning, hFinished} {
		if err := d.Recover(context.Background(), h); err != nil {
			t.Fatalf("recover %s: %v", h.Config.ID, err)
		}
		id := h.Config.ID
		t.Cleanup(func() { _ = d.Destroy(id, true) })
	}
	if s, err := d.Inspect(hRunning.Config.ID); err != nil || s.State != drivers.TaskStateRunning {
		t.Fatalf("recovered task should run: %+v %v", s, err)
	}
	touch(t, filepath.Join(running.cfg.TaskDir, "local", "go"))
	for _, tt := range []*testTask{running, finished} {
		res := wait(t, d, tt.cfg.ID)
		if res.ExitCode != 7 || res.Signal != 0 || res.Err != nil {
			t.Errorf("%s: want exit 7, got %+v", tt.cfg.ID, res)
		}
		if err := d.Destroy(tt.cfg.ID, false); err != nil {
			t.Errorf("destroy: %v", err)
		}
	}
	running.stdout.waitFor(t, "bye")
}

func TestRecoverUnknownTask(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/true")
	st, _ := json.Marshal(handleState{})
	st2, _ := json.Marshal(map[string]any{"Container": map[string]any{"ContainerID": "nope", "StateRoot": d.cfg.StateRoot}})
	for _, ds := range [][]byte{st, st2} {
		err := d.Recover(context.Background(), &drivers.TaskHandle{Driver: Name, Config: tt.cfg, DriverState: ds, StartedAt: time.Now()})
		if err == nil {
			t.Fatal("recovering a task that never ran must fail")
		}
	}
	err := d.Recover(context.Background(), &drivers.TaskHandle{Driver: Name, Config: tt.cfg, DriverState: st2})
	if !errorsIs(err, drivers.ErrTaskNotFound) {
		t.Fatalf("want ErrTaskNotFound, got %v", err)
	}
}

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
