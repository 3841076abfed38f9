package docker

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

// TestDockerHostVolumeMount: a host volume is bound at its destination
// without docker.volumes.enabled (it is operator-declared), writes reach
// the host, and a read-only mount refuses writes.
func TestDockerHostVolumeMount(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t) // docker.volumes.enabled is off
	vol, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "in.txt"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	tt := newTestTask(t, busybox("sh", "-c",
		`cat /srv/data/in.txt; echo; echo from-task > /srv/data/out.txt && echo wrote; `+
			`if echo x > /srv/ro/x 2>/dev/null; then echo ro-writable; else echo ro-refused; fi`))
	tt.Mounts = []*drivers.MountConfig{
		{TaskPath: "/srv/data", HostPath: vol},
		{TaskPath: "/srv/ro", HostPath: ro, Readonly: true},
	}
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 60*time.Second); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	tt.stdout.waitContains(t, "ro-", 10*time.Second)
	out := tt.stdout.String()
	for _, want := range []string{"from-host", "wrote", "ro-refused"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output %q lacks %q", out, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(vol, "out.txt"))
	if err != nil || strings.TrimSpace(string(b)) != "from-task" {
		t.Fatalf("written back: %q, %v", b, err)
	}
}

// TestDockerPinnedToReservedCores: the container's cpuset is exactly the
// cores the scheduler reserved for the task.
func TestDockerPinnedToReservedCores(t *testing.T) {
	t.Parallel()
	if runtime.NumCPU() < 2 {
		t.Skip("needs two cores to tell a pinned task from an unpinned one")
	}
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", `grep Cpus_allowed_list /proc/self/status`))
	tt.Resources.Cpu.ReservedCores = []uint16{1}
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 60*time.Second); !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, tt.stderr.String())
	}
	tt.stdout.waitContains(t, "Cpus_allowed_list", 10*time.Second)
	got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(tt.stdout.String()), "Cpus_allowed_list:"))
	if got != "1" {
		t.Fatalf("container may run on %q, want only core 1", got)
	}
}

// TestDockerRefusesForeignNetworkNamespace: docker can only share another
// container's namespace, so a group namespace the driver did not create
// fails the start instead of running the task on the host network.
func TestDockerRefusesForeignNetworkNamespace(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("true"))
	tt.NetworkIsolation = &drivers.NetworkIsolationSpec{Mode: drivers.NetIsolationModeGroup, Path: "/var/run/netns/x"}
	_, err := d.Start(t.Context(), tt.TaskConfig)
	if err == nil || !drivers.IsNonRecoverable(err) || !strings.Contains(err.Error(), "cannot join") {
		t.Fatalf("start: %v, want a non-recoverable refusal", err)
	}
}
