package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// logDrainTimeout is how long an exit waits for the tail of the output to
// reach the FIFOs; a collector that stopped reading must not hold up Wait.
const logDrainTimeout = 5 * time.Second

// logStreamer copies a container's output into the task's stdout/stderr
// FIFOs. Per stream it tracks the position written (so that a reconnect of
// this process resumes without gaps or repeats) and, in the sinks, the
// position the collector has read, which is what it persists for a later
// process (see logsink.go).
type logStreamer struct {
	d           *Driver
	containerID string
	sinks       [2]*logSink // nil: the stream is discarded
	closeOnce   sync.Once
	cursorPath  string
	// abandoned makes the stream end as if the process had died: no
	// final drain, no final cursor write (crash tests).
	abandoned atomic.Bool

	mu  sync.Mutex
	pos logCursor // written so far

	persistMu sync.Mutex // orders cursor file writes
	kick      chan struct{}
	done      chan struct{}
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
	l := &logStreamer{d: d, kick: make(chan struct{}, 1), done: make(chan struct{})}
	for i, p := range [2]string{stdoutPath, stderrPath} {
		if p == "" {
			continue
		}
		s, err := openSink(p)
		if err != nil {
			l.closeSinks()
			return nil, err
		}
		l.sinks[i] = s
	}
	return l, nil
}

func (l *logStreamer) hasSinks() bool { return l.sinks[0] != nil || l.sinks[1] != nil }

func (l *logStreamer) bind(containerID string) {
	l.containerID = containerID
	if l.d.cfg.StateDir != "" {
		l.cursorPath = filepath.Join(l.d.cfg.StateDir, containerID+".logcursor")
	}
}

func (l *logStreamer) closeSinks() {
	l.closeOnce.Do(func() {
		for _, s := range l.sinks {
			if s != nil {
				_ = s.f.Close()
			}
		}
	})
}

// interruptWrites unblocks a write stuck on a full FIFO while keeping the
// FIFO open, so what was written can still be seen being read.
func (l *logStreamer) interruptWrites() {
	for _, s := range l.sinks {
		if s != nil && s.f.SetWriteDeadline(time.Now()) != nil {
			l.closeSinks()
			return
		}
	}
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

// settle moves the sinks' durable positions past what the collector has
// read and persists them when they moved. It reports whether written
// output remains unread.
func (l *logStreamer) settle() bool {
	l.persistMu.Lock()
	defer l.persistMu.Unlock()
	l.mu.Lock()
	changed, pending := false, false
	var c logCursor
	for i, s := range l.sinks {
		if s == nil {
			c[i] = l.pos[i]
			continue
		}
		ch, p := s.settle()
		changed, pending = changed || ch, pending || p
		c[i] = s.durable
	}
	l.mu.Unlock()
	if changed && l.cursorPath != "" && !c.isZero() {
		if err := writeCursorFile(l.cursorPath, c); err != nil {
			l.d.logger.Warn("persisting log cursor", "container", shortID(l.containerID), "error", err)
		}
	}
	return pending
}

// track settles soon after every write, then less and less often while
// the collector lags, and not at all while everything was read.
func (l *logStreamer) track(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	idle, delay := true, settlePollMin
	for {
		select {
		case <-stop:
			return
		case <-l.kick:
			if idle {
				idle, delay = false, settlePollMin
				t.Reset(delay)
			}
		case <-t.C:
			if l.settle() {
				delay = min(2*delay, settlePollMax)
				t.Reset(delay)
			} else {
				idle = true
			}
		}
	}
}

// drainAndPersist waits (bounded) for the collector to read what was
// written, then persists the final position.
func (l *logStreamer) drainAndPersist() {
	deadline := time.Now().Add(closeDrainTimeout)
	for l.settle() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
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
	return l.pos.resumePoint()
}

// run streams until the container has stopped and its output is drained,
// or ctx ends. start says what was already delivered (zero: nothing).
func (l *logStreamer) run(ctx context.Context, start logCursor) {
	defer close(l.done)
	l.mu.Lock()
	l.pos = start
	for i, s := range l.sinks {
		if s != nil {
			s.durable = start[i]
		}
	}
	l.mu.Unlock()
	stopTrack := make(chan struct{})
	tracked := make(chan struct{})
	go func() {
		defer close(tracked)
		l.track(stopTrack)
	}()
	defer func() {
		if !l.abandoned.Load() {
			l.drainAndPersist()
		}
		close(stopTrack)
		<-tracked
		l.closeSinks()
	}()
	// A write blocked on a full FIFO does not watch ctx.
	stop := context.AfterFunc(ctx, l.interruptWrites)
	defer stop()
	l.stream(ctx)
}

func (l *logStreamer) stream(ctx context.Context) {
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
	_, err = stdcopy.StdCopy(&stampedWriter{l: l, stream: streamStdout}, &stampedWriter{l: l, stream: streamStderr}, rc)
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
}

// maxStampLen is longer than any RFC 3339 timestamp with nanoseconds.
const maxStampLen = 40

func (w *stampedWriter) Write(p []byte) (int, error) {
	n := len(p)
	l := w.l
	l.mu.Lock()
	pos := l.pos[w.stream]
	l.mu.Unlock()
	ts, body, ok := splitStamp(p)
	if !ok {
		// Not expected with Timestamps set; pass it on, position unchanged.
		ts, body = pos.TS, p
		pos.Skip = 0
	} else if !ts.After(pos.TS) {
		return n, nil // written before
	}
	skip := min(pos.Skip, len(body))
	body = body[skip:]
	sink := l.sinks[w.stream]
	k, err := len(body), error(nil)
	if sink != nil {
		k, err = sink.f.Write(body)
	}
	l.mu.Lock()
	if sink != nil {
		sink.record(ts, skip, k, err == nil)
	}
	if err == nil {
		l.pos[w.stream] = streamPos{TS: ts}
	} else {
		l.pos[w.stream] = streamPos{TS: pos.TS, Skip: skip + k}
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// splitStamp splits a daemon message into its timestamp and body.
func splitStamp(p []byte) (time.Time, []byte, bool) {
	sp := bytes.IndexByte(p, ' ')
	if sp <= 0 || sp > maxStampLen {
		return time.Time{}, nil, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(p[:sp]))
	if err != nil {
		return time.Time{}, nil, false
	}
	return ts, p[sp+1:], true
}
