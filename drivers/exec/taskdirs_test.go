package exec

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// TestUnprivilegedTaskWritesItsDirs runs two tasks of one allocation, as
// nobody (the default) and as another uid, in the alloc dir exactly as the
// client builds it (root-owned 0755): each writes its own /local, /secrets
// and /tmp and both share /alloc/data and /alloc/tmp.
func TestUnprivilegedTaskWritesItsDirs(t *testing.T) {
	requireIsolation(t)
	allocID := structs.GenerateUUID()
	ad := allocrunner.NewAllocDir(t.TempDir(), allocID)
	if err := ad.Build([]string{"web", "worker"}); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t)
	script := `set -e; for f in /local/f /secrets/f /tmp/f /alloc/data/$1 /alloc/tmp/$1; do echo hi > "$f"; done; echo wrote-all`
	users := map[string]string{"web": "", "worker": "1234:1234"}
	for task, user := range users {
		stdout := newFIFO(t, filepath.Join(ad.LogDir(), task+".stdout.fifo"))
		stderr := newFIFO(t, filepath.Join(ad.LogDir(), task+".stderr.fifo"))
		cfg := &drivers.TaskConfig{
			ID: allocID + "/" + task, AllocID: allocID, Name: task, JobName: "job", JobID: "job", Group: "g",
			Config: map[string]any{"command": "/bin/sh", "args": []any{"-c", script, "sh", task}},
			User:   user, AllocDir: ad.SharedDir(), TaskDir: ad.TaskDir(task),
			StdoutPath: stdout.path, StderrPath: stderr.path,
		}
		h, err := d.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: start: %v", task, err)
		}
		t.Cleanup(func() { _ = d.Destroy(cfg.ID, true) })
		if res := wait(t, d, h.Config.ID); !res.Successful() {
			t.Fatalf("%s (user %q): exit %+v, stdout %q, stderr %q", task, user, res, stdout.String(), stderr.String())
		}
		// The exit can be seen before the reader has drained the FIFO.
		stdout.waitFor(t, "wrote-all")
	}
	fi, err := os.Stat(filepath.Join(ad.TaskDir("worker"), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o700 || st.Uid != 1234 || st.Gid != 1234 {
		t.Fatalf("worker secrets/ is %v owned by %d:%d, want 0700 1234:1234", fi.Mode(), st.Uid, st.Gid)
	}
	fi, err = os.Stat(filepath.Join(ad.SharedDir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 {
		t.Fatalf("alloc tmp/ mode %v, want sticky", fi.Mode())
	}
}
