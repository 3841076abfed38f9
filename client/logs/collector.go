package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/internal/safefs"
)

// readBufSize is the per-stream read buffer: small, since every task has
// two collectors and a pipe rarely holds more.
const readBufSize = 16 << 10

// maxDrain bounds the final drain of a stream whose writer may still be
// alive (a daemonized grandchild holding the FIFO).
const maxDrain = 4 << 20

// MakeFIFO creates the FIFO name in root unless one is already there;
// anything else at the name is an error.
func MakeFIFO(root *safefs.Root, name string) error {
	err := root.Mkfifo(name, 0o600)
	if err == nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, serr := root.Lstat(name)
	if serr != nil {
		return fmt.Errorf("stat of fifo: %w", serr)
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return fmt.Errorf("%s exists and is not a fifo", name)
	}
	return nil
}

// Collector copies one FIFO into a writer (normally a Rotator) in a
// goroutine. The FIFO is open read-write: the open never blocks, reads
// never see EOF between task restarts, and the Go poller parks the reader
// without holding a thread.
type Collector struct {
	f      *os.File
	w      io.Writer
	logger *slog.Logger
	drain  atomic.Bool
	done   chan struct{}
}

// StartCollector starts copying the FIFO name of root into w.
func StartCollector(root *safefs.Root, name string, w io.Writer, logger *slog.Logger) (*Collector, error) {
	if logger == nil {
		logger = slog.Default()
	}
	f, err := root.OpenFIFO(name)
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
