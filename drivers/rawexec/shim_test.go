package rawexec

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

// roundTrip returns the handle as a restarted client reads it back.
func roundTrip(t *testing.T, h *drivers.TaskHandle) *drivers.TaskHandle {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var h2 drivers.TaskHandle
	if err := json.Unmarshal(b, &h2); err != nil {
		t.Fatal(err)
	}
	return &h2
}

func TestRecoverAfterExitReportsRealCode(t *testing.T) {
	stateDir := t.TempDir()
	d1 := New(Config{Enabled: true, StateDir: stateDir})
	cfg := newTaskConfig(t, `exit 7`)
	h := startTask(t, d1, cfg)
	if res := waitExit(t, d1, cfg.ID, 5*time.Second); res.ExitCode != 7 {
		t.Fatalf("parent saw %+v", res)
	}
	// A fresh driver (the restarted agent) learns the code from the shim.
	d2 := New(Config{Enabled: true, StateDir: stateDir})
	if err := d2.Recover(context.Background(), roundTrip(t, h)); err != nil {
		t.Fatalf("Recover of a task that exited meanwhile: %v", err)
	}
	res := waitExit(t, d2, cfg.ID, time.Second)
	if res.ExitCode != 7 || res.Signal != 0 || res.Err != nil {
		t.Fatalf("recovered exit %+v, want code 7", res)
	}
	if err := d2.Destroy(cfg.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d2.taskStateDir(cfg.ID)); !os.IsNotExist(err) {
		t.Fatalf("state dir left after Destroy: %v", err)
	}
}

func TestRecoverWhileRunningThenExit(t *testing.T) {
	stateDir := t.TempDir()
	d1 := New(Config{Enabled: true, StateDir: stateDir})
	cfg := newTaskConfig(t, `while [ ! -e go ]; do sleep 0.01; done; exit 3`)
	h := startTask(t, d1, cfg)
	d2 := New(Config{Enabled: true, StateDir: stateDir})
	if err := d2.Recover(context.Background(), roundTrip(t, h)); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() { _ = d2.Destroy(cfg.ID, true) })
	if st, _ := d2.Inspect(cfg.ID); st.State != drivers.TaskStateRunning {
		t.Fatalf("recovered state %+v", st)
	}
	if err := os.WriteFile(filepath.Join(cfg.TaskDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := waitExit(t, d2, cfg.ID, 5*time.Second); res.ExitCode != 3 || res.Err != nil {
		t.Fatalf("recovered exit %+v, want code 3", res)
	}
}

// TestSignalOnlyLeaderStopWholeGroup: Signal reaches the main process
// alone, Stop every process of the group, each exactly once.
func TestSignalOnlyLeaderStopWholeGroup(t *testing.T) {
	d := New(Config{Enabled: true, StateDir: t.TempDir()})
	cfg := newTaskConfig(t, `sh -c 'trap "echo child >> got.txt" USR1; trap "echo child-term >> got.txt; exit 0" TERM; echo $$ > child.txt; while :; do sleep 0.02; done' &
trap 'echo leader >> got.txt' USR1; trap 'echo leader-term >> got.txt; wait; exit 0' TERM
while [ ! -s child.txt ]; do sleep 0.01; done; echo up > ready.txt; while :; do sleep 0.02; done`)
	startTask(t, d, cfg)
	waitForFile(t, filepath.Join(cfg.TaskDir, "ready.txt"))
	if err := d.Signal(cfg.ID, "USR1"); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	got := waitForFile(t, filepath.Join(cfg.TaskDir, "got.txt"))
	if err := d.Stop(cfg.ID, 3*time.Second, ""); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	res := waitExit(t, d, cfg.ID, 3*time.Second)
	got = waitForFile(t, filepath.Join(cfg.TaskDir, "got.txt"))
	lines := strings.Fields(got)
	sort.Strings(lines)
	if strings.Join(lines, ",") != "child-term,leader,leader-term" {
		t.Fatalf("signals seen %q (exit %+v)", got, res)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
}

// TestShimMemory: the supervisor of each task stays small.
func TestShimMemory(t *testing.T) {
	d := New(Config{Enabled: true, StateDir: t.TempDir()})
	cfg := newTaskConfig(t, `exec sleep 1000`)
	h := startTask(t, d, cfg)
	var ds driverState
	if err := json.Unmarshal(h.DriverState, &ds); err != nil {
		t.Fatal(err)
	}
	// The task is the shim's child; its RSS is the task's, not overhead.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(ds.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var rssKB int
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			rssKB, _ = strconv.Atoi(f[1])
		}
	}
	t.Logf("shim pid %d VmRSS %d KiB", ds.Pid, rssKB)
	if rssKB <= 0 || rssKB > 5*1024 {
		t.Fatalf("shim RSS %d KiB, want (0, 5 MiB]", rssKB)
	}
}

func TestExecFailureReported(t *testing.T) {
	d := New(Config{Enabled: true, StateDir: t.TempDir()})
	cfg := newTaskConfig(t, "")
	script := filepath.Join(cfg.TaskDir, "noexec")
	if err := os.WriteFile(script, []byte("\x00\x01garbage"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Config = map[string]any{"command": script}
	if _, err := d.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("Start of a non-executable: %v", err)
	}
}

func BenchmarkStartWaitTrue(b *testing.B) {
	d := New(Config{Enabled: true, StateDir: b.TempDir()})
	dir := b.TempDir()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		cfg := &drivers.TaskConfig{ID: "bench/" + strconv.Itoa(i), Name: "t", TaskDir: dir,
			Config: map[string]any{"command": "/bin/true"}}
		t0 := time.Now()
		if _, err := d.Start(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		ch, err := d.Wait(context.Background(), cfg.ID)
		if err != nil {
			b.Fatal(err)
		}
		if res := <-ch; res == nil || res.ExitCode != 0 {
			b.Fatalf("exit %+v", res)
		}
		lat = append(lat, time.Since(t0))
		_ = d.Destroy(cfg.ID, true)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
