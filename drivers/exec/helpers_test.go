package exec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the container bootstrap, as orch does.
	if IsInitProcess() {
		Init()
	}
	if os.Getenv(fakeAgentEnv) != "" {
		os.Exit(runFakeAgent())
	}
	os.Exit(m.Run())
}

// requireIsolation skips without root/cgroups unless CI demands the test.
func requireIsolation(t testing.TB) {
	t.Helper()
	if ok, reason := isolation.Available(); !ok {
		testenv.Need(t, "exec isolation", errors.New(reason))
	}
}

// fifo collects what a task writes to a log FIFO.
type fifo struct {
	path string
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	kick chan struct{}
}

func newFIFO(t testing.TB, path string) *fifo {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open fifo: %v", err)
	}
	ff := &fifo{path: path, f: f, kick: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				ff.mu.Lock()
				ff.buf.Write(b[:n])
				ff.mu.Unlock()
				select {
				case ff.kick <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = f.Close() })
	return ff
}

func (f *fifo) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// waitFor waits until the output contains s.
func (f *fifo) waitFor(t testing.TB, s string) string {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		if out := f.String(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-f.kick:
		case <-deadline.C:
			t.Fatalf("output never contained %q; got:\n%s", s, f.String())
		}
	}
}

type testTask struct {
	cfg    *drivers.TaskConfig
	stdout *fifo
	stderr *fifo
}

var taskSeq struct {
	sync.Mutex
	n int
}

// newTask lays out an alloc dir the way the client does and returns a
// task config running command.
func newTask(t testing.TB, command string, args ...string) *testTask {
	t.Helper()
	base := t.TempDir()
	allocDir := filepath.Join(base, "alloc")
	taskDir := filepath.Join(allocDir, "web")
	for _, d := range []string{allocDir, filepath.Join(allocDir, "logs"), taskDir,
		filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets"), filepath.Join(taskDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{allocDir, filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets"), filepath.Join(taskDir, "tmp")} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	taskSeq.Lock()
	taskSeq.n++
	n := taskSeq.n
	taskSeq.Unlock()
	allocID := structs.GenerateUUID()
	tt := &testTask{
		stdout: newFIFO(t, filepath.Join(allocDir, "logs", "web.stdout.fifo")),
		stderr: newFIFO(t, filepath.Join(allocDir, "logs", "web.stderr.fifo")),
	}
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	tt.cfg = &drivers.TaskConfig{
		ID: allocID + "/web", AllocID: allocID, Name: "web", JobName: "job", JobID: "job", Group: "g",
		Config:     map[string]any{"command": command, "args": anyArgs},
		Env:        map[string]string{"TASK_SEQ": string(rune('a' + n%26))},
		Resources:  &structs.AllocatedTaskResources{Cpu: structs.AllocatedCpuResources{CpuShares: 100}, Memory: structs.AllocatedMemoryResources{MemoryMB: 64}},
		AllocDir:   allocDir,
		TaskDir:    taskDir,
		StdoutPath: tt.stdout.path,
		StderrPath: tt.stderr.path,
	}
	return tt
}

func newDriver(t testing.TB) *Driver {
	t.Helper()
	return New(Config{StateRoot: filepath.Join(t.TempDir(), "state")})
}

// start starts the task and registers a forced destroy for cleanup.
func start(t testing.TB, d *Driver, tt *testTask) *drivers.TaskHandle {
	t.Helper()
	h, err := d.Start(context.Background(), tt.cfg)
	if err != nil {
		t.Fatalf("start: %v (stderr: %s)", err, tt.stderr.String())
	}
	t.Cleanup(func() { _ = d.Destroy(tt.cfg.ID, true) })
	return h
}

func wait(t testing.TB, d *Driver, id string) *drivers.ExitResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := d.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	res, ok := <-ch
	if !ok || res == nil {
		t.Fatalf("task %s did not exit in time", id)
	}
	return res
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
