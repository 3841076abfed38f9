package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// crash ends the driver as kill -9 would: the log streams stop where they
// are, with no drain and no final cursor write, and the FIFOs are closed.
// It first settles each stream once, as the tracker does within
// settlePollMax of a read: the crash lands outside that documented window.
func (d *Driver) crash() {
	d.mu.Lock()
	hs := make([]*taskHandle, 0, len(d.tasks))
	for _, h := range d.tasks {
		hs = append(hs, h)
	}
	d.tasks = map[string]*taskHandle{}
	d.mu.Unlock()
	for _, h := range hs {
		if h.logs != nil {
			h.logs.settle()
			h.logs.abandoned.Store(true)
		}
		h.cancel()
	}
	for _, h := range hs {
		h.wg.Wait()
	}
	_ = d.client.Close()
}

// slowReader is a collector that lags: a few bytes at a time.
type slowReader struct {
	f    *os.File
	mu   sync.Mutex
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

func startSlowReader(t *testing.T, path string) *slowReader {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &slowReader{f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 7) // not a line length: reads end mid-line
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if err := f.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				return
			}
			n, _ := f.Read(b)
			r.mu.Lock()
			r.buf = append(r.buf, b[:n]...)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *slowReader) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.buf)
}

// halt stops reading and waits until the pipe holds a backlog (what the
// container printed since), then reports its size. Whether the reader
// lagged while it read depends on the machine's load (a starved container
// prints slower than the reader reads): the backlog must not.
func (r *slowReader) halt(t *testing.T) int {
	close(r.stop)
	<-r.done
	rc, err := r.f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		var ierr error
		if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil || ierr != nil {
			t.Fatalf("FIONREAD: %v %v", err, ierr)
		}
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashLosesNoLogLine: a container prints a counter, the collector
// reads slowly (the pipe holds a backlog, and the last read ends mid-line),
// the agent dies (no graceful flush; the pipe and its backlog die with it),
// a fresh driver recovers the container: the counter read across both
// lives has no gap, no repeat and no torn line.
func TestCrashLosesNoLogLine(t *testing.T) {
	// As the agent configures it: a directory the driver must create.
	stateDir := filepath.Join(t.TempDir(), "drivers", "docker")
	withState := func(c *Config) { c.StateDir = stateDir }
	d1 := newTestDriver(t, withState)
	cfg := newTestTaskConfig(t, busybox("sh", "-c", `i=0; while true; do echo "n $i"; i=$((i+1)); sleep 0.002; done`))
	readFIFO(t, cfg.StderrPath)
	slow := startSlowReader(t, cfg.StdoutPath)
	h, err := d1.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := decodeState(h)

	// Run until a backlog builds up behind the slow reader.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(slow.text(), "\n") < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("slow reader got %q", slow.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
	unread := slow.halt(t)
	if unread == 0 {
		t.Fatal("the pipe holds no backlog: the test does not exercise a lagging collector")
	}
	d1.crash()
	before := slow.text()
	slow.f.Close() // with the driver's ends closed too, the backlog is gone

	d2 := newTestDriver(t, withState)
	t.Cleanup(func() { _ = d2.Destroy(cfg.ID, true) })
	after := readFIFO(t, cfg.StdoutPath)
	if err := d2.Recover(context.Background(), h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	lastBefore := strings.Count(before, "\n")
	want := fmt.Sprintf("n %d\n", lastBefore+100)
	after.waitFor(t, strings.TrimSpace(want), 20*time.Second, func(s string) bool { return strings.Contains(before+s, want) })
	if err := d2.Destroy(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	all := before + after.String()
	for i, line := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		if line != fmt.Sprintf("n %d", i) {
			t.Fatalf("line %d is %q (read %d bytes before the crash, %d left in the pipe); around it: %q",
				i, line, len(before), unread, around(all, i))
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, st.ContainerID+".logcursor")); err == nil {
		t.Fatal("cursor file left after Destroy")
	}
}

func around(s string, line int) string {
	ls := strings.Split(s, "\n")
	return strings.Join(ls[max(0, line-3):min(len(ls), line+3)], "\n")
}

// TestSinkSettle checks the durable position against a real FIFO read in
// pieces: whole messages, a message read in part, a partial write.
func TestSinkSettle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := openSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.f.Close()
	if !s.fifo {
		t.Fatal("fifo not recognized")
	}
	t0 := time.Unix(1000, 0)
	ts := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	write := func(i int, body string, skip int, whole bool) {
		if _, err := s.f.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
		s.record(ts(i), skip, len(body), whole)
	}
	read := func(n int) {
		b := make([]byte, n)
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "aaaa\n", 0, true)
	write(2, "bbbb\n", 0, true)
	if ch, p := s.settle(); ch || !p || s.durable != (streamPos{}) {
		t.Fatalf("nothing read: changed=%v pending=%v %+v", ch, p, s.durable)
	}
	read(7) // all of 1, two bytes of 2
	if ch, p := s.settle(); !ch || !p || s.durable != (streamPos{TS: ts(1), Skip: 2}) {
		t.Fatalf("after 7 bytes: changed=%v pending=%v %+v", ch, p, s.durable)
	}
	// Message 3 was cut: its first 2 bytes went out, the rest came later
	// (after a reconnect), resuming after them.
	write(3, "cc", 0, false)
	write(3, "cc\n", 2, true)
	read(3 + 3) // rest of 2, "cc", one byte of the rest
	if _, p := s.settle(); !p || s.durable != (streamPos{TS: ts(2), Skip: 3}) {
		t.Fatalf("mid-message 3: %+v", s.durable)
	}
	read(2)
	if ch, p := s.settle(); !ch || p || s.durable != (streamPos{TS: ts(3)}) {
		t.Fatalf("all read: changed=%v pending=%v %+v", ch, p, s.durable)
	}
}

func TestCursorEncoding(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, c := range []logCursor{
		{},
		{{TS: ts}, {}},
		{{TS: ts, Skip: 7}, {Skip: 3}},
		{{TS: ts.In(time.FixedZone("x", 2*3600))}, {TS: ts}},
	} {
		got, ok := decodeCursor(c.encode())
		if !ok || !got[0].TS.Equal(c[0].TS) || !got[1].TS.Equal(c[1].TS) || got[0].Skip != c[0].Skip || got[1].Skip != c[1].Skip {
			t.Fatalf("%q decoded to %+v, %v", c.encode(), got, ok)
		}
	}
	// The format before skips were recorded still reads.
	if c, ok := decodeCursor("2025-01-02T03:04:05Z -\n"); !ok || c[0].TS.IsZero() || !c[1].TS.IsZero() {
		t.Fatalf("old format: %+v %v", c, ok)
	}
	for _, bad := range []string{"", "x y", "- -/z", "- -/-1", "a b c"} {
		if _, ok := decodeCursor(bad); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}
