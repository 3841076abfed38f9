package safefs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// modes runs f under every resolver combination: openat2 or the
// per-component fallback, and re-open through /proc or openat.
func modes(t *testing.T, f func(t *testing.T)) {
	for _, m := range []struct {
		name   string
		noOA2  bool
		procFD string
	}{
		{"openat2+proc", false, "/proc/self/fd/"},
		{"openat2+openat", false, ""},
		{"fallback+proc", true, "/proc/self/fd/"},
		{"fallback+openat", true, ""},
	} {
		t.Run(m.name, func(t *testing.T) {
			oldOA2, oldProc := noOpenat2.Load(), procFD
			noOpenat2.Store(m.noOA2)
			procFD = m.procFD
			defer func() { noOpenat2.Store(oldOA2); procFD = oldProc }()
			f(t)
		})
	}
}

// fixture is a root dir with a secret file outside it that no operation
// may read, write, chmod, chown or delete.
type fixture struct {
	root    *Root
	dir     string // the root's path
	outside string // a directory next to it
	secret  string // outside/secret
}

const secretText = "root:$6$hash:19000::::::\n"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{dir: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{fx.dir, fx.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx.secret = filepath.Join(fx.outside, "secret")
	if err := os.WriteFile(fx.secret, []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	fx.root = r
	return fx
}

// intact fails the test if the secret was changed in any way.
func (fx *fixture) intact(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(fx.secret)
	if err != nil || string(b) != secretText {
		t.Fatalf("secret changed: %q, %v", b, err)
	}
	fi, err := os.Stat(fx.secret)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode changed: %v, %v", fi.Mode(), err)
	}
}

func (fx *fixture) write(t *testing.T, name, data string) {
	t.Helper()
	p := filepath.Join(fx.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) symlink(t *testing.T, target, name string) {
	t.Helper()
	p := filepath.Join(fx.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestNamesThatLeaveTheRoot(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.write(t, "a/b", "x")
		for _, name := range []string{"../outside/secret", "a/../../outside/secret", "/etc/passwd", "a/..", "..", "a/b\x00"} {
			_, err := fx.root.Open(name)
			wantErr(t, err, ErrEscape)
			_, err = fx.root.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
			wantErr(t, err, ErrEscape)
			_, err = fx.root.Lstat(name)
			wantErr(t, err, ErrEscape)
			_, err = fx.root.ReadDir(name)
			wantErr(t, err, ErrEscape)
			wantErr(t, fx.root.MkdirAll(name+"/x", 0o755), ErrEscape)
			wantErr(t, fx.root.RemoveAll(name), ErrEscape)
			wantErr(t, fx.root.WriteFile(name, []byte("pwned"), 0o644), ErrEscape)
			wantErr(t, fx.root.Rename("a/b", name), ErrEscape)
		}
		fx.intact(t)
	})
}

func TestSymlinkAsLastComponent(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.symlink(t, fx.secret, "logs/web.stdout.5")
		fx.write(t, "inside", "fine")
		fx.symlink(t, "inside", "rel") // even a link that stays inside is refused

		for _, name := range []string{"logs/web.stdout.5", "rel"} {
			_, err := fx.root.Open(name)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.ReadFile(name)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0o644)
			wantErr(t, err, ErrSymlink)
			wantErr(t, fx.root.Chmod(name, 0o777), ErrSymlink)
			wantErr(t, fx.root.Lchown(name, 65534, 65534), ErrSymlink)
			_, err = fx.root.OpenFIFO(name)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.OpenRoot(name)
			wantErr(t, err, ErrSymlink)
			fi, err := fx.root.Lstat(name)
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("Lstat(%s) = %v, %v; want the link itself", name, fi, err)
			}
		}
		// WriteFile replaces the link, it does not write through it.
		if err := fx.root.WriteFile("logs/web.stdout.5", []byte("new"), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(fx.dir, "logs/web.stdout.5")); string(b) != "new" {
			t.Fatalf("WriteFile wrote %q", b)
		}
		// Remove removes a link, not its target.
		if err := fx.root.Remove("rel"); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(fx.dir, "inside")); string(b) != "fine" {
			t.Fatal("Remove followed the link")
		}
		fx.intact(t)
	})
}

func TestSymlinkInTheMiddle(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.symlink(t, fx.outside, "alloc/logs")
		fx.symlink(t, "/", "task/local")

		for _, name := range []string{"alloc/logs/secret", "task/local/etc/shadow"} {
			_, err := fx.root.Open(name)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
			wantErr(t, err, ErrSymlink)
			_, err = fx.root.Lstat(name)
			wantErr(t, err, ErrSymlink)
			wantErr(t, fx.root.Remove(name), ErrSymlink)
			wantErr(t, fx.root.RemoveAll(name), ErrSymlink)
			wantErr(t, fx.root.Mkfifo(name+".fifo", 0o600), ErrSymlink)
			wantErr(t, fx.root.Rename(name, "stolen"), ErrSymlink)
		}
		_, err := fx.root.ReadDir("alloc/logs")
		wantErr(t, err, ErrSymlink)
		wantErr(t, fx.root.MkdirAll("alloc/logs/sub", 0o755), ErrSymlink)
		if _, err := os.Stat(filepath.Join(fx.outside, "sub")); err == nil {
			t.Fatal("MkdirAll created a directory through a link")
		}
		fx.intact(t)
	})
}

func TestSpecialFilesAreNotOpened(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		if err := unix.Mkfifo(filepath.Join(fx.dir, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("unix", filepath.Join(fx.dir, "sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// A device node as a container with CAP_MKNOD could make one:
		// /dev/null's numbers, so a mistaken open would be harmless.
		if err := unix.Mknod(filepath.Join(fx.dir, "dev"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(fx.dir, "dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, name := range []string{"fifo", "sock", "dev", "dir"} {
				_, err := fx.root.Open(name)
				wantErr(t, err, ErrNotRegular)
				_, err = fx.root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				wantErr(t, err, ErrNotRegular)
				if name != "dir" {
					wantErr(t, fx.root.Chmod(name, 0o777), ErrNotRegular)
				}
			}
			_, err := fx.root.OpenFIFO("dev")
			wantErr(t, err, ErrNotFIFO)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("opening a special file blocked")
		}
	})
}

func TestHardLinksAreRefused(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		// As a task would if it could link a host file it cannot read.
		if err := os.Link(fx.secret, filepath.Join(fx.dir, "web.stdout.0")); err != nil {
			t.Fatal(err)
		}
		_, err := fx.root.Open("web.stdout.0")
		wantErr(t, err, ErrHardLink)
		_, err = fx.root.OpenFile("web.stdout.0", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		wantErr(t, err, ErrHardLink)
		wantErr(t, fx.root.Chmod("web.stdout.0", 0o644), ErrHardLink)
		wantErr(t, fx.root.Lchown("web.stdout.0", 65534, 65534), ErrHardLink)
		fi, err := fx.root.Lstat("web.stdout.0")
		if err != nil || Links(fi) != 2 {
			t.Fatalf("Lstat links = %v, %v", fi, err)
		}
		fx.intact(t)
	})
}

func TestFilesAndDirectories(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		r := fx.root
		if err := r.MkdirAll("alloc/logs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.MkdirAll("alloc/logs", 0o755); err != nil {
			t.Fatalf("MkdirAll of an existing tree: %v", err)
		}
		f, err := r.OpenFile("alloc/logs/t.stdout.0", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("one\n")
		f.Close()
		f, err = r.OpenFile("alloc/logs/t.stdout.0", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatalf("reopening an existing file: %v", err)
		}
		f.WriteString("two\n")
		f.Close()
		if b, err := r.ReadFile("alloc/logs/t.stdout.0"); err != nil || string(b) != "one\ntwo\n" {
			t.Fatalf("ReadFile = %q, %v", b, err)
		}
		f, err = r.OpenFile("alloc/logs/t.stdout.0", os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if fi, err := r.Lstat("alloc/logs/t.stdout.0"); err != nil || fi.Size() != 0 {
			t.Fatalf("O_TRUNC: %v, %v", fi, err)
		}
		if _, err := r.OpenFile("alloc/logs/t.stdout.0", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, os.ErrExist) {
			t.Fatalf("O_EXCL on an existing file: %v", err)
		}
		if err := r.WriteFile("alloc/data/x", []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("WriteFile into a missing dir: %v", err)
		}
		if err := r.WriteFile("secrets.txt", []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if fi, _ := r.Lstat("secrets.txt"); fi.Mode().Perm() != 0o600 {
			t.Fatalf("WriteFile mode %v", fi.Mode())
		}
		if err := r.Rename("secrets.txt", "alloc/moved"); err != nil {
			t.Fatal(err)
		}
		ents, err := r.ReadDir("alloc")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != "logs,moved" || !ents[0].IsDir() || ents[1].Size() != 6 {
			t.Fatalf("ReadDir = %v", names)
		}
		if err := r.Chmod("alloc", os.ModeSticky|0o777); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(fx.dir, "alloc")); fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
			t.Fatalf("Chmod gave %v", fi.Mode())
		}
		if err := r.Lchown("alloc/moved", 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(fx.dir, "alloc/moved")); fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Fatal("Lchown did not change the owner")
		}
		if err := r.Chmod("", 0o711); err != nil {
			t.Fatalf("Chmod of the root: %v", err)
		}
		sub, err := r.OpenRoot("alloc")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if b, err := sub.ReadFile("moved"); err != nil || string(b) != "s3cret" {
			t.Fatalf("sub-root ReadFile = %q, %v", b, err)
		}
		if _, err := sub.Open("../secrets.txt"); !errors.Is(err, ErrEscape) {
			t.Fatalf("sub-root escape: %v", err)
		}
		if err := r.Remove("alloc/moved"); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove("alloc/logs/t.stdout.0"); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove("alloc/logs"); err != nil {
			t.Fatalf("Remove of an empty dir: %v", err)
		}
	})
}

func TestFIFO(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		if err := fx.root.Mkfifo("out.fifo", 0o600); err != nil {
			t.Fatal(err)
		}
		if err := fx.root.Mkfifo("out.fifo", 0o600); !errors.Is(err, os.ErrExist) {
			t.Fatalf("second Mkfifo: %v", err)
		}
		f, err := fx.root.OpenFIFO("out.fifo")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		f.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q, %v", buf, err)
		}
		fx.write(t, "regular", "x")
		_, err = fx.root.OpenFIFO("regular")
		wantErr(t, err, ErrNotFIFO)
	})
}

func TestRemoveAll(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.write(t, "a/b/c/file", "x")
		fx.symlink(t, fx.outside, "a/b/out")
		fx.symlink(t, fx.secret, "a/secret")
		if err := os.Link(fx.secret, filepath.Join(fx.dir, "a/hard")); err != nil {
			t.Fatal(err)
		}
		deep := "a/deep"
		for range 40 {
			deep += "/d"
		}
		fx.write(t, deep+"/f", "x")
		if err := fx.root.RemoveAll("a"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(fx.dir, "a")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a still there: %v", err)
		}
		if err := fx.root.RemoveAll("a"); err != nil {
			t.Fatalf("RemoveAll of a missing name: %v", err)
		}
		fx.intact(t)
	})
}

func TestRemoveAllStopsAtMountPoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.write(t, "task/local/vol/.keep", "")
		vol := filepath.Join(fx.dir, "task/local/vol")
		if err := unix.Mount(fx.outside, vol, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(vol, unix.MNT_DETACH)
		err := fx.root.RemoveAll("task")
		wantErr(t, err, ErrMountPoint)
		fx.intact(t)
	})
}

// TestRaceSwappingLinks has a hostile writer swap a file for a link to the
// secret as fast as it can while the agent opens, appends to and reads it.
func TestRaceSwappingLinks(t *testing.T) {
	modes(t, func(t *testing.T) {
		fx := newFixture(t)
		fx.write(t, "logs/t.stdout.0", "task output\n")
		p := filepath.Join(fx.dir, "logs/t.stdout.0")
		tmpLink := filepath.Join(fx.dir, "logs/.l")
		tmpFile := filepath.Join(fx.dir, "logs/.f")
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if i%2 == 0 {
					os.Remove(tmpLink)
					os.Symlink(fx.secret, tmpLink)
					os.Rename(tmpLink, p)
				} else {
					os.WriteFile(tmpFile, []byte("task output\n"), 0o644)
					os.Rename(tmpFile, p)
				}
			}
		}()
		deadline := time.Now().Add(500 * time.Millisecond)
		opened := 0
		for time.Now().Before(deadline) {
			if b, err := fx.root.ReadFile("logs/t.stdout.0"); err == nil {
				opened++
				if bytes.Contains(b, []byte("root:")) {
					t.Fatal("read the secret through a swapped link")
				}
			}
			if f, err := fx.root.OpenFile("logs/t.stdout.0", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
				f.WriteString("agent\n")
				f.Close()
			}
		}
		stop.Store(true)
		wg.Wait()
		if opened == 0 {
			t.Fatal("the regular file was never opened: the race never ran both ways")
		}
		fx.intact(t)
	})
}
