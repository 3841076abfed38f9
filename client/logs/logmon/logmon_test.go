package logmon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/internal/testenv"
)

// fixture is a log dir with a task's two FIFOs, held open read-write by
// the test as a task holds them.
type fixture struct {
	dir    string
	root   *safefs.Root
	spec   Spec
	stdout *os.File
	stderr *os.File
}

func newFixture(t *testing.T, dir string, maxFiles int, maxBytes int64) *fixture {
	t.Helper()
	if !Available {
		testenv.Need(t, "the log monitor (linux, cgo)", errors.New("not in this build"))
	}
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	fx := &fixture{dir: dir, root: root, spec: Spec{LogDir: root, StdoutFIFO: ".t.stdout.fifo", StderrFIFO: ".t.stderr.fifo",
		StdoutBase: "t.stdout", StderrBase: "t.stderr", MaxFiles: maxFiles, MaxBytes: maxBytes, PidFile: ".t.logmon"}}
	for _, f := range []string{fx.spec.StdoutFIFO, fx.spec.StderrFIFO} {
		if err := root.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	fx.stdout, fx.stderr = open(fx.spec.StdoutFIFO), open(fx.spec.StderrFIFO)
	return fx
}

func (fx *fixture) start(t *testing.T) *Process {
	t.Helper()
	p, err := Start(fx.spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.Pid, syscall.SIGKILL) })
	return p
}

func (fx *fixture) stop(t *testing.T) {
	t.Helper()
	if err := Stop(fx.root, fx.spec.PidFile, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// logs returns the stream's rotated files, oldest first, and their
// concatenation.
func (fx *fixture) logs(t *testing.T, base string) ([]string, string) {
	t.Helper()
	ents, _ := os.ReadDir(fx.dir)
	type f struct {
		i    int
		name string
	}
	var fs []f
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil {
			fs = append(fs, f{i, e.Name()})
		}
	}
	sort.Slice(fs, func(a, b int) bool { return fs[a].i < fs[b].i })
	var names []string
	var all strings.Builder
	for _, x := range fs {
		names = append(names, x.name)
		b, _ := os.ReadFile(filepath.Join(fx.dir, x.name))
		all.Write(b)
	}
	return names, all.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMonitorCollectsAndRotates: output written to the FIFOs lands in
// rotated files, and a stop drains what the pipes still hold.
func TestMonitorCollectsAndRotates(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 3, 100)
	fx.start(t)
	for i := 0; i < 30; i++ {
		fmt.Fprintf(fx.stdout, "line %02d\n", i) // 8 bytes a line
	}
	fx.stderr.WriteString("oops\n")
	fx.stop(t)
	names, all := fx.logs(t, "t.stdout")
	if len(names) != 3 || names[len(names)-1] != "t.stdout.2" {
		t.Fatalf("files %v", names)
	}
	// 240 bytes in 100-byte files, three kept: all of it.
	if !strings.HasPrefix(all, "line 00\n") || !strings.HasSuffix(all, "line 29\n") || len(all) != 240 {
		t.Fatalf("stdout %q", all)
	}
	if _, errOut := fx.logs(t, "t.stderr"); errOut != "oops\n" {
		t.Fatalf("stderr %q", errOut)
	}
	if _, err := os.Stat(filepath.Join(fx.dir, fx.spec.PidFile)); !os.IsNotExist(err) {
		t.Fatal("pid file left behind")
	}
	if err := Stop(fx.root, fx.spec.PidFile, time.Second); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("second stop: %v", err)
	}
}

// TestMonitorDrainsWithoutTheAgent: a writer pushing 20 MB through the 64
// KiB pipe never waits on anything but the monitor (no collector runs in
// this process), and nothing is lost.
func TestMonitorDrainsWithoutTheAgent(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 30, 1<<20)
	fx.start(t)
	line := strings.Repeat("x", 99) + "\n"
	start := time.Now()
	for i := 0; i < 200_000; i++ {
		if _, err := fx.stdout.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	waitFor(t, "all output in the files", func() bool {
		_, all := fx.logs(t, "t.stdout")
		return len(all) == 200_000*100
	})
	t.Logf("20 MB through the monitor in %s", took)
	fx.stop(t)
}

// TestOneMonitorPerTask: a second start finds the first one running.
func TestOneMonitorPerTask(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 3, 1<<20)
	p1 := fx.start(t)
	p2, err := Start(fx.spec)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pid != p1.Pid {
		t.Fatalf("second start ran another monitor (%d, first %d)", p2.Pid, p1.Pid)
	}
	fx.stdout.WriteString("once\n")
	fx.stop(t)
	if _, all := fx.logs(t, "t.stdout"); all != "once\n" {
		t.Fatalf("stdout %q", all)
	}
}

// TestMonitorNeverFollowsPlantedFiles: what a root raw_exec task could
// plant at the next log names is replaced, never followed.
func TestMonitorNeverFollowsPlantedFiles(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 10, 10)
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	created := filepath.Join(t.TempDir(), "created")
	os.Symlink(secret, filepath.Join(fx.dir, "t.stdout.1"))
	os.Symlink(created, filepath.Join(fx.dir, "t.stdout.2"))
	os.Link(secret, filepath.Join(fx.dir, "t.stdout.3"))
	syscall.Mkfifo(filepath.Join(fx.dir, "t.stdout.4"), 0o644)
	os.MkdirAll(filepath.Join(fx.dir, "t.stdout.5", "d"), 0o755)
	fx.start(t)
	fx.stdout.WriteString("0123456789abcdefghijABCDEFGHIJklmnopqrstKLMNOPQRST")
	fx.stop(t)
	if b, _ := os.ReadFile(secret); string(b) != "secret\n" {
		t.Fatalf("host file changed: %q", b)
	}
	if _, err := os.Lstat(created); err == nil {
		t.Fatal("created a dangling link's target")
	}
	_, all := fx.logs(t, "t.stdout")
	if all != "0123456789abcdefghijABCDEFGHIJklmnopqrstKLMNOPQRST" {
		t.Fatalf("stdout %q", all)
	}
}

// TestMonitorRecoversFromFullDisk: with the disk full output is dropped
// (the task is not blocked), and once there is room again the monitor
// writes a fresh file with a note of the gap.
func TestMonitorRecoversFromFullDisk(t *testing.T) {
	var err error
	if os.Geteuid() != 0 {
		err = os.ErrPermission
	}
	testenv.Need(t, "root (tmpfs mounts)", err)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	fx := newFixture(t, dir, 5, 1<<20)
	fx.start(t)
	fx.stdout.WriteString("before\n")
	waitFor(t, "first line", func() bool { _, all := fx.logs(t, "t.stdout"); return all == "before\n" })
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	chunk := strings.Repeat("y", 4095) + "\n"
	for i := 0; i < 64; i++ { // 256 KiB: would block on a stalled pipe
		if _, err := fx.stdout.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filler)
	time.Sleep(1200 * time.Millisecond) // past the retry interval
	fx.stdout.WriteString("after\n")
	waitFor(t, "recovery", func() bool {
		_, all := fx.logs(t, "t.stdout")
		return strings.HasSuffix(all, "after\n")
	})
	fx.stop(t)
	_, all := fx.logs(t, "t.stdout")
	if !strings.HasPrefix(all, "before\n") || !strings.Contains(all, "bytes of task output dropped: No space left on device]") {
		t.Fatalf("stdout after recovery: %q", all[:min(len(all), 300)])
	}
}

// TestDiscardMode drains without writing files.
func TestDiscardMode(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 3, 1<<20)
	fx.spec.Discard = true
	fx.start(t)
	for i := 0; i < 2000; i++ {
		fx.stdout.WriteString(strings.Repeat("z", 1023) + "\n")
	}
	fx.stop(t)
	if names, _ := fx.logs(t, "t.stdout"); len(names) != 0 {
		t.Fatalf("files written with logs disabled: %v", names)
	}
}

// TestMonitorEndsWithItsDirectory: a monitor whose task's directory was
// removed without a stop (nothing can reach it any more) exits by itself.
func TestMonitorEndsWithItsDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "logs")
	os.Mkdir(dir, 0o755)
	fx := newFixture(t, dir, 3, 1<<20)
	p := fx.start(t)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the orphaned monitor to exit", func() bool { return !p.alive() })
}

// BenchmarkMonitorThroughput pushes 64 MiB through one monitor into 10 MiB
// files; the bytes metric is the task's output rate it sustains.
func BenchmarkMonitorThroughput(b *testing.B) {
	if !Available {
		b.Skip("no log monitor in this build")
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		root, err := safefs.OpenRoot(dir)
		if err != nil {
			b.Fatal(err)
		}
		spec := Spec{LogDir: root, StdoutFIFO: "o", StderrFIFO: "e", StdoutBase: "t.stdout", StderrBase: "t.stderr",
			MaxFiles: 10, MaxBytes: 10 << 20, PidFile: ".pid"}
		for _, f := range []string{"o", "e"} {
			if err := root.Mkfifo(f, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		w, err := os.OpenFile(filepath.Join(dir, "o"), os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Start(spec); err != nil {
			b.Fatal(err)
		}
		chunk := make([]byte, 64<<10)
		for j := range chunk {
			chunk[j] = 'a' + byte(j%26)
		}
		b.SetBytes(64 << 20)
		for j := 0; j < 1024; j++ {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := Stop(root, spec.PidFile, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		w.Close()
		root.Close()
	}
}
