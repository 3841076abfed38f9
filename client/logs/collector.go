package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readBufSize is the per-stream read buffer: small, since every task has
// two collectors and a pipe rarely holds more.
const readBufSize = 16 << 10

// maxDrain bounds the final drain of a stream whose writer may still be
// alive (a daemonized grandchild holding the FIFO).
const maxDrain = 4 << 20

// MakeFIFO creates a FIFO at path unless one is already there.
func MakeFIFO(path string) error {
	err := syscall.Mkfifo(path, 0o600)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("creating fifo %s: %w", path, err)
	}
	fi, serr := os.Stat(path)
	if serr != nil {
		return fmt.Errorf("stat of fifo %s: %w", path, serr)
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("%s exists and is not a fifo", path)
	}
	return nil
}

// Collector copies one FIFO into a writer (normally a Rotator) in a
// goroutine. It opens the FIFO read-write: the open never blocks, reads
// never see EOF between task restarts, and the Go poller parks the reader
// without holding a thread.
type Collector struct {
	f      *os.File
	w      io.Writer
	logger *slog.Logger
	drain  atomic.Bool
	done   chan struct{}
}

// StartCollector starts copying fifoPath into w.
func StartCollector(fifoPath string, w io.Writer, logger *slog.Logger) (*Collector, error) {
	if logger == nil {
		logger = slog.Default()
	}
	f, err := os.OpenFile(fifoPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening fifo: %w", err)
	}
	c := &Collector{f: f, w: w, logger: logger, done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *Collector) run() {
	defer close(c.done)
	buf := make([]byte, readBufSize)
	for {
		n, err := c.f.Read(buf)
		if n > 0 {
			c.write(buf[:n])
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.drain.Load() {
				c.drainRest(buf)
			} else if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
				c.logger.Warn("reading task output", "fifo", c.f.Name(), "error", err)
			}
			return
		}
	}
}

func (c *Collector) write(p []byte) {
	if _, err := c.w.Write(p); err != nil {
		c.logger.Warn("writing task log", "fifo", c.f.Name(), "error", err)
	}
}

// drainRest reads what the pipe still buffers without waiting for more.
func (c *Collector) drainRest(buf []byte) {
	if err := c.f.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return
	}
	for total := 0; total < maxDrain; {
		var n int
		var rerr error
		// Returning true makes this a single non-blocking read.
		if err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), buf)
			return true
		}); err != nil || rerr != nil || n <= 0 {
			return
		}
		c.write(buf[:n])
		total += n
	}
}

// Stop ends collection and closes the FIFO. With drain, output already in
// the pipe is copied first (the task has exited); without, it stays in the
// pipe for the next collector (the agent is restarting, the task is not).
func (c *Collector) Stop(drain bool) {
	c.drain.Store(drain)
	if err := c.f.SetReadDeadline(time.Now()); err != nil {
		c.f.Close()
	}
	<-c.done
	c.f.Close()
}
