// Package logs turns a task's output streams into size-rotated files
// <task>.stdout.N / <task>.stderr.N in the alloc's logs dir, Nomad's layout.
// Every file is reached through a safefs.Root of the logs dir, so a link,
// FIFO or hard link planted there is never followed or appended to.
package logs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/internal/safefs"
)

// Defaults when a task has no log config, as in Nomad.
const (
	DefaultMaxFiles      = 10
	DefaultMaxFileSizeMB = 10
)

// DefaultRetryInterval is how long a rotator that could not open or write
// its file drops output before it tries a new file again.
const DefaultRetryInterval = time.Second

// Rotator writes a stream into numbered files, starting a new one when the
// current one reaches MaxBytes and deleting the oldest beyond MaxFiles.
//
// It never blocks or fails its writer for long: when a file cannot be
// opened or written (a full disk, EACCES, an entry planted at the next
// index), the output is dropped and counted, and after RetryInterval the
// rotator moves on to a fresh file. Once writing works again the count of
// dropped bytes is recorded in the log itself, so a reader sees the gap.
type Rotator struct {
	root     *safefs.Root
	base     string
	maxFiles int
	maxBytes int64
	logger   *slog.Logger
	// RetryInterval and Now are fields for tests.
	RetryInterval time.Duration
	Now           func() time.Time

	mu      sync.Mutex
	f       *os.File // nil while broken
	idx     int      // index of the current (or last tried) file
	oldest  int      // lowest index that may still exist
	size    int64    // bytes in the current file
	closed  bool
	dropped int64     // bytes dropped since the last failure
	failErr error     // why, for the record
	retryAt time.Time // no new attempt before this
}

// NewRotator opens the rotator for root/base.N. After a restart it
// continues appending to the highest existing index, so a task's output
// stays in one sequence across agent restarts. A failure to list the dir is
// an error; a failure to open the file only starts the rotator broken (it
// retries on the next write).
func NewRotator(root *safefs.Root, base string, maxFiles int, maxBytes int64, logger *slog.Logger) (*Rotator, error) {
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileSizeMB << 20
	}
	if logger == nil {
		logger = slog.Default()
	}
	r := &Rotator{root: root, base: base, maxFiles: maxFiles, maxBytes: maxBytes,
		logger: logger.With("log", base), RetryInterval: DefaultRetryInterval, Now: time.Now}
	lo, hi, err := r.existing()
	if err != nil {
		return nil, err
	}
	r.oldest = lo
	if err := r.open(hi); err != nil {
		r.fail(err)
	}
	r.purge()
	return r, nil
}

// existing returns the lowest and highest index of the regular files on
// disk (0, 0 if none). Anything else at an index is not ours and is
// replaced when the rotator reaches it.
func (r *Rotator) existing() (lo, hi int, err error) {
	ents, err := r.root.ReadDir("")
	if err != nil {
		return 0, 0, fmt.Errorf("listing log dir: %w", err)
	}
	lo, hi = -1, 0
	prefix := r.base + "."
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Mode().IsRegular() {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 {
			continue
		}
		hi = max(hi, i)
		if lo < 0 || i < lo {
			lo = i
		}
	}
	return max(lo, 0), hi, nil
}

// Name returns the file name of index i, relative to the log dir.
func (r *Rotator) Name(i int) string {
	return r.base + "." + strconv.Itoa(i)
}

// open makes index i the current file. Something other than a single-link
// regular file at that name (a task's link, FIFO or hard link) is removed
// and replaced by a new file; removing unlinks the name only. A name that
// keeps being taken (a task racing the rotator) or cannot be freed is a
// *foreignError.
func (r *Rotator) open(i int) error {
	name := r.Name(i)
	var f *os.File
	for attempt := 0; ; attempt++ {
		var err error
		f, err = r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, safefs.ErrSymlink) && !errors.Is(err, safefs.ErrNotRegular) && !errors.Is(err, safefs.ErrHardLink) {
			return fmt.Errorf("opening log file: %w", err)
		}
		if attempt == 3 {
			return &foreignError{fmt.Errorf("opening log file: %w", err)}
		}
		r.logger.Warn("replacing a foreign file at a log file's name", "file", name, "error", err)
		if rerr := r.root.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return &foreignError{fmt.Errorf("opening log file: %w (removing it: %v)", err, rerr)}
		}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat of log file: %w", err)
	}
	r.f, r.idx, r.size = f, i, fi.Size()
	return nil
}

// foreignError: the name of a log file is taken by something that cannot
// be removed (a task's non-empty directory), so that index is skipped.
type foreignError struct{ err error }

func (e *foreignError) Error() string { return e.err.Error() }
func (e *foreignError) Unwrap() error { return e.err }

// Write implements io.Writer. A write that does not fit is split so every
// file but the current one is exactly MaxBytes long. It reports the whole
// of p as written even when some was dropped: its caller is a pipe reader
// that must keep draining the task's output.
func (r *Rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	total := len(p)
	for len(p) > 0 {
		if r.f == nil || r.size >= r.maxBytes {
			if !r.next() {
				r.dropped += int64(len(p))
				return total, nil
			}
		}
		room := r.maxBytes - r.size
		if room <= 0 {
			continue // the gap note filled the new file
		}
		chunk := p
		if int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		n, err := r.f.Write(chunk)
		r.size += int64(n)
		p = p[n:]
		if err != nil {
			r.fail(fmt.Errorf("writing log file: %w", err))
		}
	}
	return total, nil
}

// next moves to a fresh file: after a full one, or, once RetryInterval has
// passed, after a failure. It reports whether there is a file to write to.
func (r *Rotator) next() bool {
	if r.f == nil && r.Now().Before(r.retryAt) {
		return false
	}
	if r.f != nil {
		if err := r.f.Close(); err != nil {
			r.logger.Warn("closing log file", "file", r.Name(r.idx), "error", err)
		}
		r.f = nil
	}
	// A name taken by something that cannot be replaced is skipped; a
	// few in a row mean a task is racing the rotator, which then backs off.
	var err error
	for range 4 {
		if err = r.open(r.idx + 1); err == nil {
			break
		}
		var fe *foreignError
		if !errors.As(err, &fe) {
			break
		}
		r.idx++
	}
	if err != nil {
		r.fail(err)
		return false
	}
	r.purge()
	r.recovered()
	return true
}

// fail closes the current file and starts dropping output.
func (r *Rotator) fail(err error) {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	if r.failErr == nil {
		r.logger.Warn("task log writes failing; dropping output until a new log file works", "error", err)
	}
	r.failErr = err
	r.retryAt = r.Now().Add(r.RetryInterval)
}

// recovered notes a gap in the log once writing works again.
func (r *Rotator) recovered() {
	if r.failErr == nil {
		return
	}
	r.logger.Info("task log writes recovered", "dropped_bytes", r.dropped, "file", r.Name(r.idx))
	if r.dropped > 0 {
		note := fmt.Sprintf("\n[orch: %d bytes of task output dropped: %v]\n", r.dropped, r.failErr)
		if n, err := r.f.Write([]byte(note)); err == nil {
			r.size += int64(n)
		}
	}
	r.dropped, r.failErr = 0, nil
}

// purge deletes files older than the newest MaxFiles.
func (r *Rotator) purge() {
	for ; r.oldest <= r.idx-r.maxFiles; r.oldest++ {
		if err := r.root.Remove(r.Name(r.oldest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.logger.Warn("removing old log file", "file", r.Name(r.oldest), "error", err)
			return
		}
	}
}

// Index returns the current file's index.
func (r *Rotator) Index() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idx
}

// Close closes the current file.
func (r *Rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
