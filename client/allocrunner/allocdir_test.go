package allocrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

func TestValidTaskName(t *testing.T) {
	for _, name := range []string{"web", "a.b", "...", "..x", "täsk", "a b"} {
		if err := ValidTaskName(name); err != nil {
			t.Errorf("ValidTaskName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "../x", "../../../etc", "/", "/etc", "a/b", `a\b`,
		"a\x00b", "a\nb", "a\x7f", "alloc", invalidTaskDir} {
		if err := ValidTaskName(name); err == nil {
			t.Errorf("ValidTaskName(%q) accepted", name)
		}
	}
}

func TestAllocDirTaskDirStaysInside(t *testing.T) {
	d := NewAllocDir(t.TempDir(), "a1")
	for _, name := range []string{"..", "../x", "../../../../", "/", "x/../../y"} {
		if got := d.TaskDir(name); filepath.Dir(got) != d.Root {
			t.Errorf("TaskDir(%q) = %s, outside %s", name, got, d.Root)
		}
	}
	if got, want := d.TaskDir("web"), filepath.Join(d.Root, "web"); got != want {
		t.Fatalf("TaskDir(web) = %s, want %s", got, want)
	}
}

func TestAllocDirBuildRefusesTraversal(t *testing.T) {
	base := filepath.Join(t.TempDir(), "allocs")
	d := NewAllocDir(base, "a1")
	for _, name := range []string{"../../escape", "..", "/", "a\x00"} {
		err := d.Build([]string{"ok", name})
		if err == nil || !strings.Contains(err.Error(), "invalid task name") {
			t.Fatalf("Build(%q) = %v, want invalid task name", name, err)
		}
		if d.Built(name) {
			t.Fatalf("Built(%q) = true", name)
		}
	}
	// Refused before anything was created: neither the tree nor an escape.
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Fatalf("alloc base exists after refused Build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(base), "escape")); !os.IsNotExist(err) {
		t.Fatalf("escape dir created: %v", err)
	}
	if err := d.Build([]string{"web"}); err != nil {
		t.Fatal(err)
	}
	if !d.Built("web") {
		t.Fatal("web not built")
	}
}

func TestTaskRunnerFailsOnTraversalTaskName(t *testing.T) {
	outside := t.TempDir()
	root := filepath.Join(outside, "allocs")
	task := shTask("../../escape", `touch "$NOMAD_TASK_DIR/pwned"`)
	alloc := testAlloc(structs.JobTypeBatch, nil, task)
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, root, nil)
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	st := f.tr.State()
	if !st.Failed {
		t.Fatalf("task with traversal name did not fail: %+v", st)
	}
	var msg string
	for _, e := range st.Events {
		if e.Type == structs.TaskSetupFailure {
			msg = e.DisplayMessage
		}
	}
	if !strings.Contains(msg, `invalid task name "../../escape"`) {
		t.Fatalf("events %s; setup failure message %q", eventTypes(st), msg)
	}
	if _, err := os.Stat(filepath.Join(outside, "escape")); !os.IsNotExist(err) {
		t.Fatalf("directory created outside the alloc dir: %v", err)
	}
}

// TestAllocDirRebuildRefusesPlantedLinks: a task (root in its container,
// /alloc writable) replaced alloc/tmp with a link to a host dir before an
// agent restart rebuilds the tree; the rebuild must fail rather than chmod
// the host dir 1777, and Destroy must remove the link, not the host dir.
func TestAllocDirRebuildRefusesPlantedLinks(t *testing.T) {
	hostDir := t.TempDir()
	os.Chmod(hostDir, 0o700)
	os.WriteFile(filepath.Join(hostDir, "keep"), []byte("x"), 0o600)
	d := NewAllocDir(t.TempDir(), "a1")
	if err := d.Build([]string{"web"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(d.Root, "alloc/tmp")); fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Fatalf("shared tmp mode %v, want sticky 0777", fi.Mode())
	}
	for _, p := range []string{"alloc/tmp", "web/local"} {
		os.RemoveAll(filepath.Join(d.Root, p))
		if err := os.Symlink(hostDir, filepath.Join(d.Root, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Build([]string{"web"}); err == nil {
		t.Fatal("Build accepted a symlinked alloc/tmp")
	}
	if fi, _ := os.Stat(hostDir); fi.Mode().Perm() != 0o700 || fi.Mode()&os.ModeSticky != 0 {
		t.Fatalf("host dir mode changed to %v", fi.Mode())
	}
	if d.Built("web") {
		// web/tmp is intact, but local is a link: Built looks at tmp only,
		// so Build is what must refuse.
		if err := d.Build([]string{"web"}); err == nil {
			t.Fatal("Build accepted a symlinked task dir")
		}
	}
	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "keep")); err != nil {
		t.Fatalf("Destroy followed a link into a host dir: %v", err)
	}
	if _, err := os.Lstat(d.Root); !os.IsNotExist(err) {
		t.Fatalf("alloc dir still there: %v", err)
	}
}
