package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

// TestBindSourceSwappedAfterCheck is the attack on a relative bind
// source: the task's local/x passes the check, then the task swaps it for
// a symlink to a host directory before the daemon binds it. The container
// must see the directory that was checked, never the host's, and no
// staging mount may be left behind.
func TestBindSourceSwappedAfterCheck(t *testing.T) {
	d := newTestDriver(t, func(c *Config) { c.StateDir = t.TempDir() })
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "marker"), []byte("host-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := busybox("sh", "-c", "cat /x/marker")
	cfg["volumes"] = []any{"local/x:/x:ro"}
	tt := newTestTask(t, cfg)
	x := filepath.Join(tt.TaskDir, "local", "x")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(x, "marker"), []byte("task-own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	swapped := false
	testBeforeCreate = func(*drivers.TaskConfig) {
		if err := os.Rename(x, x+".old"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(host, x); err != nil {
			t.Error(err)
		}
		swapped = true
	}
	defer func() { testBeforeCreate = nil }()
	startTask(t, d, tt)
	res := waitExit(t, d, tt.ID, 60*time.Second)
	if !swapped {
		t.Fatal("the swap hook did not run")
	}
	time.Sleep(200 * time.Millisecond)
	out := tt.stdout.String()
	if strings.Contains(out, "host-secret") || !strings.Contains(out, "task-own") || res.ExitCode != 0 {
		t.Fatalf("the container bound what the task swapped in: exit %d, stdout %q, stderr %q", res.ExitCode, out, tt.stderr.String())
	}
	left, _ := os.ReadDir(d.cfg.StateDir)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "binds-") {
			t.Fatalf("staging dir left behind: %s", e.Name())
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), d.cfg.StateDir) {
		t.Fatalf("staging mount left behind:\n%s", mi)
	}
}

// A symlink planted where a bind source was checked is refused at the pin
// (the start fails) instead of being followed.
func TestPinBindsRefusesLinks(t *testing.T) {
	cfg := allocTree(t)
	d := &Driver{cfg: Config{StateDir: t.TempDir()}, logger: testLogger()}
	if err := os.Symlink("/", filepath.Join(cfg.TaskDir, "local", "evil")); err != nil {
		t.Fatal(err)
	}
	spec, err := (&Driver{}).buildContainerSpec(cfg, &taskConfig{Image: "x",
		Volumes: []volumeSpec{{Host: "../alloc/data", Container: "/data"}}}, "x")
	if err != nil {
		t.Fatal(err)
	}
	// The check passed; now the source becomes the planted link.
	data := filepath.Join(filepath.Dir(cfg.TaskDir), "alloc", "data")
	if err := os.Rename(data, data+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", data); err != nil {
		t.Fatal(err)
	}
	p, err := d.pinBinds(cfg, spec.host)
	if err == nil {
		p.release()
		t.Fatalf("a planted link was pinned: %v", spec.host.Binds)
	}
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("unexpected error: %v", err)
	}
	left, _ := os.ReadDir(d.cfg.StateDir)
	if len(left) != 0 {
		t.Fatalf("staging left behind after a refusal: %v", left)
	}
}

// An agent killed between pinning and starting leaves staging mounts; the
// next driver on the same state dir unmounts and removes them without
// touching the task files they show.
func TestNewSweepsLeftoverPins(t *testing.T) {
	cfg := allocTree(t)
	stateDir := t.TempDir()
	d := &Driver{cfg: Config{StateDir: stateDir}, logger: testLogger()}
	spec, err := (&Driver{}).buildContainerSpec(cfg, &taskConfig{Image: "x",
		Volumes: []volumeSpec{{Host: "../alloc/data", Container: "/data"}}}, "x")
	if err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(filepath.Dir(cfg.TaskDir), "alloc", "data", "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pinBinds(cfg, spec.host); err != nil { // never released: the crash
		t.Fatal(err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); !strings.Contains(string(mi), stateDir) {
		t.Fatal("no staging mount to sweep")
	}
	newTestDriver(t, func(c *Config) { c.StateDir = stateDir })
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), stateDir) {
		t.Fatalf("staging mount left after New:\n%s", mi)
	}
	if left, _ := os.ReadDir(stateDir); len(left) != 0 {
		t.Fatalf("staging left after New: %v", left)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the sweep touched the task's files: %v", err)
	}
}
