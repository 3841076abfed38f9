package logs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/safefs"
)

func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// openRoot opens dir as a safefs root closed with the test.
func openRoot(t *testing.T, dir string) *safefs.Root {
	t.Helper()
	r, err := safefs.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRotatorSplitsBySize(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRotator(openRoot(t, dir), "web.stdout", 10, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Write([]byte("0123456789abcdefghijXYZ")); err != nil || n != 23 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	r.Close()
	got := files(t, dir)
	want := map[string]string{"web.stdout.0": "0123456789", "web.stdout.1": "abcdefghij", "web.stdout.2": "XYZ"}
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
}

func TestRotatorDeletesOldest(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRotator(openRoot(t, dir), "t.stderr", 3, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := r.Write([]byte("aaaa")); err != nil {
			t.Fatal(err)
		}
	}
	r.Write([]byte("b"))
	r.Close()
	got := files(t, dir)
	if len(got) != 3 || got["t.stderr.4"] != "aaaa" || got["t.stderr.5"] != "aaaa" || got["t.stderr.6"] != "b" {
		t.Fatalf("files %v", got)
	}
}

func TestRotatorResumesHighestIndex(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.stdout.0"), []byte("full"), 0o644)
	os.WriteFile(filepath.Join(dir, "t.stdout.1"), []byte("ab"), 0o644)
	os.WriteFile(filepath.Join(dir, "t.stdout.x"), []byte("ignored"), 0o644)
	os.WriteFile(filepath.Join(dir, "t.stderr.7"), []byte("other stream"), 0o644)
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 2, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Index() != 1 {
		t.Fatalf("resumed at %d, want 1", r.Index())
	}
	r.Write([]byte("cdef"))
	r.Close()
	got := files(t, dir)
	if got["t.stdout.1"] != "abcd" || got["t.stdout.2"] != "ef" {
		t.Fatalf("files %v", got)
	}
	if _, ok := got["t.stdout.0"]; ok {
		t.Fatal("oldest file beyond MaxFiles kept")
	}
	if got["t.stderr.7"] != "other stream" || got["t.stdout.x"] != "ignored" {
		t.Fatal("rotator touched foreign files")
	}
}

func TestRotatorPurgesOnOpen(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"0", "1", "2", "3"} {
		os.WriteFile(filepath.Join(dir, "t.stdout."+n), []byte("x"), 0o644)
	}
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 2, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	got := files(t, dir)
	if len(got) != 2 || got["t.stdout.2"] == "" || got["t.stdout.3"] == "" {
		t.Fatalf("files %v", got)
	}
}

func TestMakeFIFO(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	if err := MakeFIFO(root, "f.fifo"); err != nil {
		t.Fatal(err)
	}
	if err := MakeFIFO(root, "f.fifo"); err != nil {
		t.Fatalf("existing fifo: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "reg"), nil, 0o644)
	if err := MakeFIFO(root, "reg"); err == nil {
		t.Fatal("regular file accepted as fifo")
	}
	os.Symlink("f.fifo", filepath.Join(dir, "link"))
	if err := MakeFIFO(root, "link"); err == nil {
		t.Fatal("symlink accepted as fifo")
	}
	if _, err := StartCollector(root, "link", io.Discard, nil); !errors.Is(err, safefs.ErrSymlink) {
		t.Fatalf("collector opened a symlink to a fifo: %v", err)
	}
}

// syncBuf is a writer tests can read while the collector writes.
type syncBuf struct {
	ch chan []byte
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.ch <- bytes.Clone(p)
	return len(p), nil
}

func TestCollectorDrainsOnStop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.fifo")
	if err := MakeFIFO(openRoot(t, dir), "out.fifo"); err != nil {
		t.Fatal(err)
	}
	r, err := NewRotator(openRoot(t, dir), "t.stdout", 2, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartCollector(openRoot(t, dir), "out.fifo", r, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello\n"))
	w.Close()
	c.Stop(true)
	r.Close()
	if got := files(t, dir)["t.stdout.0"]; got != "hello\n" {
		t.Fatalf("collected %q", got)
	}
}

func TestCollectorLeavesDataForSuccessor(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.fifo")
	if err := MakeFIFO(openRoot(t, dir), "out.fifo"); err != nil {
		t.Fatal(err)
	}
	// The writer stands in for a task: it holds the FIFO read-write.
	w, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first := &syncBuf{ch: make(chan []byte, 16)}
	c1, err := StartCollector(openRoot(t, dir), "out.fifo", first, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("one\n"))
	select {
	case b := <-first.ch:
		if string(b) != "one\n" {
			t.Fatalf("got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no output collected")
	}
	c1.Stop(false)
	// Written while no collector runs: must wait in the pipe, no SIGPIPE.
	if _, err := w.Write([]byte("two\n")); err != nil {
		t.Fatalf("write without collector: %v", err)
	}
	second := &syncBuf{ch: make(chan []byte, 16)}
	c2, err := StartCollector(openRoot(t, dir), "out.fifo", second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Stop(true)
	var got strings.Builder
	deadline := time.After(5 * time.Second)
	for got.String() != "two\n" {
		select {
		case b := <-second.ch:
			got.Write(b)
		case <-deadline:
			t.Fatalf("successor collected %q", got.String())
		}
	}
	select {
	case b := <-first.ch:
		t.Fatalf("stopped collector still wrote %q", b)
	default:
	}
}
