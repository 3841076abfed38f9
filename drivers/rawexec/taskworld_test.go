package rawexec

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/netns"
	"github.com/orch-project/orch/structs"
)

// TestRawExecRunsInGroupNetworkNamespace: a raw_exec task given its
// allocation's network namespace runs in it (raw_exec in bridge mode),
// and the agent's own threads stay in the host's.
func TestRawExecRunsInGroupNetworkNamespace(t *testing.T) {
	ns := filepath.Join(t.TempDir(), "netns")
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Remove(ns) })
	want, err := netns.ID(ns)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Readlink("/proc/thread-self/ns/net")
	d := New(Config{Enabled: true, StateDir: t.TempDir()})
	cfg := newTaskConfig(t, "")
	cfg.Config["args"] = []any{"-c", `readlink /proc/self/ns/net > "$0/ns"; grep Cpus_allowed_list /proc/self/status > "$0/cpus"`, cfg.TaskDir}
	cfg.NetworkIsolation = &drivers.NetworkIsolationSpec{Mode: drivers.NetIsolationModeGroup, Path: ns}
	pin := runtime.NumCPU() >= 2
	if pin {
		cfg.Resources = &structs.AllocatedTaskResources{Cpu: structs.AllocatedCpuResources{ReservedCores: []uint16{1}}}
	}
	h := startTask(t, d, cfg)
	if res := waitExit(t, d, h.Config.ID, 10*time.Second); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	if got := strings.TrimSpace(waitForFile(t, filepath.Join(cfg.TaskDir, "ns"))); got != want {
		t.Fatalf("task ran in %s, want the group's %s", got, want)
	}
	if pin {
		got := strings.TrimSpace(waitForFile(t, filepath.Join(cfg.TaskDir, "cpus")))
		if got = strings.TrimSpace(strings.TrimPrefix(got, "Cpus_allowed_list:")); got != "1" {
			t.Fatalf("task may run on %q, want only core 1", got)
		}
	}
	// Every thread of this process is back in the host's namespace.
	threads, _ := os.ReadDir("/proc/self/task")
	for _, th := range threads {
		if l, err := os.Readlink("/proc/self/task/" + th.Name() + "/ns/net"); err == nil && l != host {
			t.Fatalf("agent thread %s left in %s", th.Name(), l)
		}
	}
}

// TestRawExecRefusesMounts: raw_exec has no mount namespace, so a bind
// mount fails the start for good instead of being ignored.
func TestRawExecRefusesMounts(t *testing.T) {
	d := New(Config{Enabled: true, StateDir: t.TempDir()})
	cfg := newTaskConfig(t, "true")
	cfg.Mounts = []*drivers.MountConfig{{TaskPath: "/srv", HostPath: t.TempDir()}}
	_, err := d.Start(t.Context(), cfg)
	if err == nil || !drivers.IsNonRecoverable(err) || !strings.Contains(err.Error(), "no mount namespace") {
		t.Fatalf("start: %v", err)
	}
}
