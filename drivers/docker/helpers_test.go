package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// testLogger writes to stderr rather than t.Log: driver goroutines may
// still log while a test's cleanup runs.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newTestDriver(tb testing.TB, mods ...func(*Config)) *Driver {
	tb.Helper()
	needDocker(tb)
	cfg := Config{NodeID: testNodeID, Logger: testLogger(), PullTimeout: 30 * time.Second}
	for _, m := range mods {
		m(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return d
}

// testTask is a task config with real alloc/task dirs and FIFO log sinks,
// plus readers draining the FIFOs as the client's collector would.
type testTask struct {
	*drivers.TaskConfig
	stdout, stderr *fifoReader
}

func newTestTask(tb testing.TB, config map[string]any) *testTask {
	tb.Helper()
	cfg := newTestTaskConfig(tb, config)
	return &testTask{TaskConfig: cfg, stdout: readFIFO(tb, cfg.StdoutPath), stderr: readFIFO(tb, cfg.StderrPath)}
}

// newTestTaskConfig is a task config with real dirs and FIFOs, no readers.
func newTestTaskConfig(tb testing.TB, config map[string]any) *drivers.TaskConfig {
	tb.Helper()
	allocID := structs.GenerateUUID()
	allocDir := tb.TempDir()
	taskDir := filepath.Join(allocDir, "web")
	for _, dir := range []string{"local", "secrets", "tmp"} {
		if err := os.MkdirAll(filepath.Join(taskDir, dir), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	logDir := filepath.Join(allocDir, "alloc", "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	cfg := &drivers.TaskConfig{
		ID:        allocID + "/web",
		AllocID:   allocID,
		Namespace: "default",
		JobName:   "job",
		JobID:     "job",
		Group:     "group",
		Name:      "web",
		Config:    config,
		Env:       map[string]string{"ORCH_TEST": "yes"},
		Resources: &structs.AllocatedTaskResources{
			Cpu:    structs.AllocatedCpuResources{CpuShares: 100},
			Memory: structs.AllocatedMemoryResources{MemoryMB: 64},
		},
		AllocDir:   allocDir,
		TaskDir:    taskDir,
		StdoutPath: filepath.Join(logDir, ".web.stdout.fifo"),
		StderrPath: filepath.Join(logDir, ".web.stderr.fifo"),
	}
	for _, p := range []string{cfg.StdoutPath, cfg.StderrPath} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			tb.Fatalf("mkfifo %s: %v", p, err)
		}
	}
	return cfg
}

// fifoReader collects what a FIFO carries.
type fifoReader struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every read
}

func readFIFO(tb testing.TB, path string) *fifoReader {
	// Read-write, like the collector, so the open does not wait for a writer
	// and the reader survives writers coming and going.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatalf("open fifo: %v", err)
	}
	r := &fifoReader{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				r.mu.Lock()
				r.buf.Write(b[:n])
				close(r.changed)
				r.changed = make(chan struct{})
				r.mu.Unlock()
			}
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
					tb.Logf("fifo read: %v", err)
				}
				return
			}
		}
	}()
	tb.Cleanup(func() {
		f.Close()
		<-done
	})
	return r
}

func (r *fifoReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// waitFor waits until the collected output satisfies ok.
func (r *fifoReader) waitFor(tb testing.TB, what string, timeout time.Duration, ok func(string) bool) {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		s, ch := r.buf.String(), r.changed
		r.mu.Unlock()
		if ok(s) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("timed out after %s waiting for %s; output so far: %q", timeout, what, s)
		}
	}
}

func (r *fifoReader) waitContains(tb testing.TB, sub string, timeout time.Duration) {
	tb.Helper()
	r.waitFor(tb, strings.TrimSpace(sub), timeout, func(s string) bool { return strings.Contains(s, sub) })
}

// startTask starts a task and destroys it when the test ends.
func startTask(tb testing.TB, d *Driver, tt *testTask) *drivers.TaskHandle {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := d.Start(ctx, tt.TaskConfig)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { _ = d.Destroy(tt.ID, true) })
	return h
}

func waitExit(tb testing.TB, d *Driver, taskID string, timeout time.Duration) *drivers.ExitResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch, err := d.Wait(ctx, taskID)
	if err != nil {
		tb.Fatalf("Wait: %v", err)
	}
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		tb.Fatalf("task %s did not exit within %s", taskID, timeout)
		return nil
	}
}

func busybox(cmd string, args ...string) map[string]any {
	l := make([]any, len(args))
	for i, a := range args {
		l[i] = a
	}
	return map[string]any{"image": testImage, "command": cmd, "args": l}
}
