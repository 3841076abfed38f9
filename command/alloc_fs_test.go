package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAllocFS(t *testing.T) {
	e := newEnv(t)
	e.addNode(t)
	if code, out, errs := e.run(t, "job", "run", "-detach", writeJob(t, "fsj")); code != 0 {
		t.Fatalf("run: %s %s", out, errs)
	}
	allocs, _ := e.backend.State().AllocsByJob(nil, "default", "fsj")
	id := allocs[0].ID
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "alloc", "data"), 0o755)
	os.MkdirAll(filepath.Join(dir, "t", "local"), 0o755)
	os.WriteFile(filepath.Join(dir, "alloc", "data", "f.txt"), []byte("1\n2\n3\n4\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "alloc", "data", "link"))
	e.client.AddAlloc(id, dir)

	code, out, errs := e.run(t, "alloc", "fs", id[:8])
	if code != 0 || !strings.Contains(out, "Mode") || !strings.Contains(out, "alloc/") || !strings.Contains(out, "t/") {
		t.Fatalf("ls /: %d %q %q", code, out, errs)
	}
	code, out, _ = e.run(t, "alloc", "fs", "-H", id, "alloc/data")
	if code != 0 || !strings.Contains(out, "f.txt") || !strings.Contains(out, " 8 ") || !strings.Contains(out, "Lrwxrwxrwx") {
		t.Fatalf("ls alloc/data: %d %q", code, out)
	}
	code, out, _ = e.run(t, "alloc", "fs", "-stat", id, "/alloc/data/f.txt")
	if code != 0 || !strings.Contains(out, "Content Type") || !strings.Contains(out, "text/plain") || !strings.Contains(out, "8 B") {
		t.Fatalf("stat: %d %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{id, "alloc/data/f.txt"}, "1\n2\n3\n4\n"},
		{[]string{"-tail", "-n", "2", id, "alloc/data/f.txt"}, "3\n4\n"},
		{[]string{"-tail", "-c", "4", id, "alloc/data/f.txt"}, "3\n4\n"},
		{[]string{"-job", "fsj", "alloc/data/f.txt"}, "1\n2\n3\n4\n"},
	} {
		code, out, errs := e.run(t, append([]string{"alloc", "fs"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("alloc fs %v: %d %q %q, want %q", tc.args, code, out, errs, tc.want)
		}
	}
	code, out, errs = e.run(t, "alloc", "fs", id, "alloc/data/link")
	if code != 1 || strings.Contains(out, "root:") || !strings.Contains(errs, "symbolic link") {
		t.Fatalf("cat of a link: %d %q %q", code, out, errs)
	}
	code, _, errs = e.run(t, "alloc", "fs", id, "../../etc/passwd")
	if code != 1 || !strings.Contains(errs, "escapes") {
		t.Fatalf("cat outside: %d %q", code, errs)
	}
	code, _, errs = e.run(t, "alloc", "fs", id, "nope")
	if code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("missing: %d %q", code, errs)
	}
}
