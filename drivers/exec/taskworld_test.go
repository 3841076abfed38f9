package exec

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/netns"
)

// TestExecHostVolumeMount: a host volume's directory is bound at the
// mount's destination inside the task's root, writes go back to the host,
// and a read-only mount refuses writes.
func TestExecHostVolumeMount(t *testing.T) {
	requireIsolation(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "in.txt"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c",
		`cat /srv/data/in.txt; echo; echo from-task > /srv/data/out.txt && echo wrote; `+
			`if echo x > /srv/ro/x 2>/dev/null; then echo ro-writable; else echo ro-refused; fi`)
	tt.cfg.Mounts = []*drivers.MountConfig{
		{TaskPath: "/srv/data", HostPath: vol},
		{TaskPath: "srv/ro", HostPath: ro, Readonly: true},
	}
	h := start(t, d, tt)
	if res := wait(t, d, h.Config.ID); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	out := tt.stdout.waitFor(t, "ro-")
	for _, want := range []string{"from-host", "wrote", "ro-refused"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output %q lacks %q", out, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(vol, "out.txt"))
	if err != nil || strings.TrimSpace(string(b)) != "from-task" {
		t.Fatalf("written back: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); !os.IsNotExist(err) {
		t.Fatalf("read-only volume was written: %v", err)
	}
}

// TestExecMountRefusesEscape: a destination with ".." is refused, not
// mounted somewhere outside the task's root.
func TestExecMountRefusesEscape(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/true")
	tt.cfg.Mounts = []*drivers.MountConfig{{TaskPath: "../../etc", HostPath: t.TempDir()}}
	if _, err := d.Start(t.Context(), tt.cfg); err == nil || !strings.Contains(err.Error(), "..") {
		t.Fatalf("start: %v, want a refusal naming ..", err)
	}
}

// TestExecPinnedToReservedCores: the task's cpuset (and so its allowed
// CPUs) is exactly the cores the scheduler reserved for it.
func TestExecPinnedToReservedCores(t *testing.T) {
	requireIsolation(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two cores to tell a pinned task from an unpinned one")
	}
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", `grep Cpus_allowed_list /proc/self/status`)
	tt.cfg.Resources.Cpu.ReservedCores = []uint16{1}
	h := start(t, d, tt)
	if res := wait(t, d, h.Config.ID); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	out := tt.stdout.waitFor(t, "Cpus_allowed_list")
	if got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Cpus_allowed_list:")); got != "1" {
		t.Fatalf("task may run on %q, want only core 1", got)
	}
}

// TestExecJoinsNetworkNamespace: a task given a group network namespace
// runs in it, not in the host's.
func TestExecJoinsNetworkNamespace(t *testing.T) {
	requireIsolation(t)
	ns := newTestNetNS(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", `readlink /proc/self/ns/net`)
	tt.cfg.NetworkIsolation = &drivers.NetworkIsolationSpec{Mode: drivers.NetIsolationModeGroup, Path: ns.path}
	h := start(t, d, tt)
	if res := wait(t, d, h.Config.ID); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	out := strings.TrimSpace(tt.stdout.waitFor(t, "net:["))
	if out != ns.id {
		t.Fatalf("task's network namespace %q, want %q", out, ns.id)
	}
}

type testNetNS struct{ path, id string }

// newTestNetNS makes a network namespace bound at a file, as the client's
// network hook does, and removes it at cleanup.
func newTestNetNS(t *testing.T) testNetNS {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netns")
	if err := netns.Create(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Remove(p) })
	id, err := netns.ID(p)
	if err != nil {
		t.Fatal(err)
	}
	if host, _ := os.Readlink("/proc/self/ns/net"); host == id {
		t.Fatal("namespace is the host's")
	}
	return testNetNS{path: p, id: id}
}
