package logs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/internal/testenv"
)

// secretFile is a host file outside the log dir the rotator must never
// write to or create.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func secretIntact(t *testing.T, p string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != "secret\n" {
		t.Fatalf("host file changed: %q, %v", b, err)
	}
}

// TestRotatorNeverFollowsPlantedFiles plants, at the index the rotator
// moves to next, each thing a hostile task could leave there: a symlink to
// a host file, a dangling symlink (rotation would create its target), a
// hard link to a host file, a FIFO (an open would block) and a directory.
func TestRotatorNeverFollowsPlantedFiles(t *testing.T) {
	for _, plant := range []string{"symlink", "dangling", "hardlink", "fifo", "dir"} {
		t.Run(plant, func(t *testing.T) {
			dir := t.TempDir()
			secret := secretFile(t)
			created := filepath.Join(t.TempDir(), "created")
			next := filepath.Join(dir, "t.stdout.1")
			switch plant {
			case "symlink":
				os.Symlink(secret, next)
			case "dangling":
				os.Symlink(created, next)
			case "hardlink":
				if err := os.Link(secret, next); err != nil {
					t.Fatal(err)
				}
			case "fifo":
				syscall.Mkfifo(next, 0o644)
			case "dir":
				os.MkdirAll(filepath.Join(next, "sub"), 0o755)
			}
			r, err := NewRotator(openRoot(t, dir), "t.stdout", 5, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.RetryInterval = 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < 4; i++ {
					r.Write([]byte("abcd"))
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("rotator blocked on a planted file")
			}
			r.Close()
			secretIntact(t, secret)
			if _, err := os.Lstat(created); err == nil {
				t.Fatal("rotator created the target of a dangling link")
			}
			got := files(t, dir)
			var total int
			for _, v := range got {
				total += strings.Count(v, "abcd")
			}
			if plant == "dir" {
				// The directory's index is skipped; one write went while
				// the rotator found that out.
				if total < 3 {
					t.Fatalf("files %v", got)
				}
				return
			}
			if total != 4 {
				t.Fatalf("want all 4 writes in regular log files, got %v", got)
			}
			if fi, err := os.Lstat(next); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("index 1 is %v, %v; want the rotator's own file", fi, err)
			}
		})
	}
}

// TestRotatorResumeIgnoresPlantedLink: after an agent restart the rotator
// resumes at the highest index; a link there is not appended to.
func TestRotatorResumeIgnoresPlantedLink(t *testing.T) {
	dir := t.TempDir()
	secret := secretFile(t)
	os.WriteFile(filepath.Join(dir, "t.stdout.0"), []byte("ab"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "t.stdout.7"))
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 10, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Index() != 0 {
		t.Fatalf("resumed at %d: a link counted as a log file", r.Index())
	}
	r.Write([]byte("cd"))
	r.Close()
	secretIntact(t, secret)
	if got := files(t, dir)["t.stdout.0"]; got != "abcd" {
		t.Fatalf("t.stdout.0 = %q", got)
	}
}

// TestRotatorRecoversFromFullDisk fills a small tmpfs, so writes fail with
// ENOSPC, then frees it: output is dropped (the writer is never failed or
// blocked), and once space is back the rotator moves to a new file, notes
// the gap, and keeps writing.
func TestRotatorRecoversFromFullDisk(t *testing.T) {
	dir := smallTmpfs(t, "64k")
	filler := filepath.Join(dir, "filler")
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 5, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	r.Now = func() time.Time { return now }
	r.Write([]byte("before\n"))
	fill(t, filler)
	chunk := []byte(strings.Repeat("x", 4096))
	for i := 0; i < 8; i++ {
		if n, err := r.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write on a full disk = %d, %v; want the bytes taken", n, err)
		}
	}
	os.Remove(filler)
	// Within the retry interval the rotator keeps dropping.
	r.Write([]byte("still dropped\n"))
	now = now.Add(2 * DefaultRetryInterval)
	r.Write([]byte("after\n"))
	r.Write([]byte("more\n"))
	r.Close()
	got := files(t, dir)
	var all string
	for i := 0; i < 5; i++ {
		all += got["t.stdout."+string(rune('0'+i))]
	}
	if !strings.HasPrefix(got["t.stdout.0"], "before\n") {
		t.Fatalf("first file %q", got["t.stdout.0"])
	}
	if !strings.Contains(all, "bytes of task output dropped") || !strings.HasSuffix(all, "after\nmore\n") {
		t.Fatalf("logs after recovery: %q", all)
	}
	if strings.Contains(all, "still dropped") {
		t.Fatal("wrote during the retry interval")
	}
}

// TestRotatorRecoversFromImmutableDir makes the log dir immutable
// (chattr +i: creating a file fails with EPERM even for root, as an EACCES
// would for an unprivileged agent) while the rotator is between files,
// then mutable again.
func TestRotatorRecoversFromImmutableDir(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 5, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RetryInterval = 0
	r.Write([]byte("12345678")) // fills file 0: the next write rotates
	setImmutable(t, dir, true)
	r.Write([]byte("lost\n"))
	setImmutable(t, dir, false)
	r.Write([]byte("back\n"))
	r.Close()
	got := files(t, dir)
	var rest string
	for i := 1; i < 10; i++ { // in index order
		rest += got["t.stdout."+strconv.Itoa(i)]
	}
	if got["t.stdout.0"] != "12345678" || !strings.Contains(rest, "5 bytes of task output dropped") || !strings.HasSuffix(rest, "back\n") {
		t.Fatalf("files %v", got)
	}
}

// setImmutable sets or clears a directory's immutable attribute.
func setImmutable(t *testing.T, dir string, on bool) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		if on {
			flags |= fsImmutableFL
		} else {
			flags &^= fsImmutableFL
		}
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags)
	}
	if on {
		testenv.Need(t, "chattr +i on the temp dir's file system", err)
		t.Cleanup(func() { setImmutable(t, dir, false) })
	} else if err != nil {
		t.Fatal(err)
	}
}

// smallTmpfs mounts a tmpfs of size for the test.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	var err error
	if os.Geteuid() != 0 {
		err = os.ErrPermission
	}
	testenv.Need(t, "root (tmpfs mounts)", err)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes until the file system is full.
func fill(t *testing.T, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h.
const fsImmutableFL = 0x10
