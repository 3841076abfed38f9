package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// cursorFlushInterval bounds how often the log cursor is written to disk.
// After a crash (not a clean Close, which flushes) the cursor may lag, so
// the next process replays at most this much output.
const cursorFlushInterval = time.Second

// logDrainTimeout is how long an exit waits for the tail of the output to
// reach the FIFOs; a collector that stopped reading must not hold up Wait.
const logDrainTimeout = 5 * time.Second

// logStreamer copies a container's output into the task's stdout/stderr
// FIFOs, tracking per stream the timestamp of the last message written so
// that a reconnect, or a later process, resumes without gaps or repeats.
type logStreamer struct {
	d           *Driver
	containerID string
	stdout      io.Writer
	stderr      io.Writer
	closers     []io.Closer
	closeOnce   sync.Once
	cursorPath  string

	mu      sync.Mutex
	cur     logCursor
	flushed time.Time // when the cursor was last written to disk

	done chan struct{}
}

// Stream indexes of a logCursor.
const (
	streamStdout = 0
	streamStderr = 1
)

// logCursor holds the timestamp of the last message written, per stream.
// The daemon stamps each stream's messages in order, but the two streams
// may interleave slightly out of order in its log, so one shared cursor
// could drop a message of the other stream.
type logCursor [2]time.Time

// resumePoint is where a new daemon stream must start so that neither
// stream misses a message; messages already written are skipped per stream.
func (c logCursor) resumePoint() time.Time {
	if c[streamStderr].Before(c[streamStdout]) {
		return c[streamStderr]
	}
	return c[streamStdout]
}

func (c logCursor) encode() string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339Nano)
	}
	return f(c[streamStdout]) + " " + f(c[streamStderr]) + "\n"
}

func decodeCursor(s string) (logCursor, bool) {
	var c logCursor
	parts := strings.Fields(s)
	if len(parts) != 2 {
		return c, false
	}
	for i, p := range parts {
		if p == "-" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p)
		if err != nil {
			return logCursor{}, false
		}
		c[i] = t
	}
	return c, true
}

// openLogFile opens a FIFO read-write so the open never blocks and the pipe
// never lacks a reader while the log collector restarts. A path that does
// not exist yet becomes a plain file.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log sink %s: %w", path, err)
	}
	return f, nil
}

// newLogStreamer opens the sinks; bind names the container before run.
func (d *Driver) newLogStreamer(stdoutPath, stderrPath string) (*logStreamer, error) {
	l := &logStreamer{d: d, stdout: io.Discard, stderr: io.Discard, done: make(chan struct{})}
	if stdoutPath != "" {
		f, err := openLogFile(stdoutPath)
		if err != nil {
			return nil, err
		}
		l.stdout = f
		l.closers = append(l.closers, f)
	}
	if stderrPath != "" {
		f, err := openLogFile(stderrPath)
		if err != nil {
			l.closeSinks()
			return nil, err
		}
		l.stderr = f
		l.closers = append(l.closers, f)
	}
	return l, nil
}

func (l *logStreamer) bind(containerID string) {
	l.containerID = containerID
	if l.d.cfg.StateDir != "" {
		l.cursorPath = filepath.Join(l.d.cfg.StateDir, containerID+".logcursor")
	}
}

func (l *logStreamer) closeSinks() {
	l.closeOnce.Do(func() {
		for _, c := range l.closers {
			_ = c.Close()
		}
	})
}

// readCursor returns the cursor persisted by an earlier process.
func (l *logStreamer) readCursor() (logCursor, bool) {
	if l.cursorPath == "" {
		return logCursor{}, false
	}
	b, err := os.ReadFile(l.cursorPath)
	if err != nil {
		return logCursor{}, false
	}
	return decodeCursor(string(b))
}

// seen reports whether a message of stream stamped ts was already written.
func (l *logStreamer) seen(stream int, ts time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !ts.After(l.cur[stream])
}

func (l *logStreamer) advance(stream int, ts time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts.After(l.cur[stream]) {
		l.cur[stream] = ts
	}
	if time.Since(l.flushed) >= cursorFlushInterval {
		l.flushLocked()
	}
}

func (l *logStreamer) flushCursor() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *logStreamer) flushLocked() {
	l.flushed = time.Now()
	if l.cursorPath == "" || (l.cur[0].IsZero() && l.cur[1].IsZero()) {
		return
	}
	tmp := l.cursorPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(l.cur.encode()), 0o600); err != nil {
		l.d.logger.Warn("writing log cursor", "container", l.containerID, "error", err)
		return
	}
	if err := os.Rename(tmp, l.cursorPath); err != nil {
		l.d.logger.Warn("writing log cursor", "container", l.containerID, "error", err)
	}
}

func (l *logStreamer) removeCursor() {
	if l.cursorPath != "" {
		_ = os.Remove(l.cursorPath)
	}
}

func (l *logStreamer) resumePoint() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.resumePoint()
}

// run streams until the container has stopped and its output is drained,
// or ctx ends. start says what was already written (zero: nothing).
func (l *logStreamer) run(ctx context.Context, start logCursor) {
	defer close(l.done)
	defer l.closeSinks()
	defer l.flushCursor()
	// A write blocked on a full FIFO does not watch ctx; closing the sink
	// does unblock it.
	stop := context.AfterFunc(ctx, l.closeSinks)
	defer stop()

	l.mu.Lock()
	l.cur = start
	l.mu.Unlock()

	backoff := 100 * time.Millisecond
	failures := 0
	for {
		err := l.streamOnce(ctx, true)
		if ctx.Err() != nil || containerGone(err) {
			return
		}
		running, gone, ierr := l.containerState()
		if gone {
			return
		}
		if ierr == nil && !running {
			// A follow stream can end before the tail of a container that
			// just exited reaches it; a plain read from the cursor catches
			// up (already written messages are skipped).
			err = l.streamOnce(ctx, false)
			if err == nil || ctx.Err() != nil || containerGone(err) || failures >= 3 {
				return
			}
		}
		if err == nil {
			err = ierr
		}
		if err != nil {
			failures++
			l.d.logger.Warn("container log stream interrupted", "container", shortID(l.containerID), "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (l *logStreamer) streamOnce(ctx context.Context, follow bool) error {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Timestamps: true}
	if since := l.resumePoint(); !since.IsZero() {
		opts.Since = since.Format(time.RFC3339Nano)
	}
	rc, err := l.d.client.ContainerLogs(ctx, l.containerID, opts)
	if err != nil {
		return fmt.Errorf("opening log stream: %w", err)
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(&stampedWriter{l: l, stream: streamStdout, dst: l.stdout}, &stampedWriter{l: l, stream: streamStderr, dst: l.stderr}, rc)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("copying log stream: %w", err)
	}
	return nil
}

// containerGone reports a container removed or being removed: its output
// can no longer be read.
func containerGone(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err)
}

func (l *logStreamer) containerState() (running, gone bool, err error) {
	ctx, cancel := apiCtx()
	defer cancel()
	info, err := l.d.client.ContainerInspect(ctx, l.containerID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, true, nil
		}
		return false, false, fmt.Errorf("inspecting container: %w", err)
	}
	return info.State != nil && (info.State.Running || info.State.Restarting), false, nil
}

// waitDrained waits for the stream to end, at most logDrainTimeout.
func (l *logStreamer) waitDrained() {
	t := time.NewTimer(logDrainTimeout)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
		l.d.logger.Warn("container output not drained in time", "container", l.containerID)
	}
}

// stampedWriter strips the timestamp the daemon puts before every message.
// stdcopy hands over one frame per Write and the daemon writes one
// timestamped message per frame, so each Write starts with a timestamp.
type stampedWriter struct {
	l      *logStreamer
	stream int
	dst    io.Writer
}

// maxStampLen is longer than any RFC 3339 timestamp with nanoseconds.
const maxStampLen = 40

func (w *stampedWriter) Write(p []byte) (int, error) {
	n := len(p)
	sp := bytes.IndexByte(p, ' ')
	if sp <= 0 || sp > maxStampLen {
		if _, err := w.dst.Write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, string(p[:sp]))
	if err != nil {
		if _, err := w.dst.Write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	if w.l.seen(w.stream, ts) {
		return n, nil
	}
	if _, err := w.dst.Write(p[sp+1:]); err != nil {
		return 0, err
	}
	w.l.advance(w.stream, ts)
	return n, nil
}
