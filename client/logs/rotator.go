// Package logs turns a task's output streams into size-rotated files
// <task>.stdout.N / <task>.stderr.N in the alloc's logs dir, Nomad's layout.
package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Defaults when a task has no log config, as in Nomad.
const (
	DefaultMaxFiles      = 10
	DefaultMaxFileSizeMB = 10
)

// Rotator writes a stream into numbered files, starting a new one when the
// current one reaches MaxBytes and deleting the oldest beyond MaxFiles.
type Rotator struct {
	dir      string
	base     string
	maxFiles int
	maxBytes int64

	mu     sync.Mutex
	f      *os.File
	idx    int   // index of the current file
	oldest int   // lowest index that may still exist
	size   int64 // bytes in the current file
	closed bool
}

// NewRotator opens the rotator for dir/base.N. After a restart it continues
// appending to the highest existing index, so a task's output stays in one
// sequence across agent restarts.
func NewRotator(dir, base string, maxFiles int, maxBytes int64) (*Rotator, error) {
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileSizeMB << 20
	}
	r := &Rotator{dir: dir, base: base, maxFiles: maxFiles, maxBytes: maxBytes}
	lo, hi, err := r.existing()
	if err != nil {
		return nil, err
	}
	r.oldest = lo
	if err := r.open(hi); err != nil {
		return nil, err
	}
	r.purge()
	return r, nil
}

// existing returns the lowest and highest index on disk (0, 0 if none).
func (r *Rotator) existing() (lo, hi int, err error) {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return 0, 0, fmt.Errorf("listing log dir: %w", err)
	}
	lo, hi = -1, 0
	prefix := r.base + "."
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
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

// Path returns the file of index i.
func (r *Rotator) Path(i int) string {
	return filepath.Join(r.dir, r.base+"."+strconv.Itoa(i))
}

func (r *Rotator) open(i int) error {
	f, err := os.OpenFile(r.Path(i), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat of log file: %w", err)
	}
	r.f, r.idx, r.size = f, i, fi.Size()
	return nil
}

// Write implements io.Writer. A write that does not fit is split so every
// file but the current one is exactly MaxBytes long.
func (r *Rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	written := 0
	for len(p) > 0 {
		if r.size >= r.maxBytes {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		chunk := p
		if room := r.maxBytes - r.size; int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		n, err := r.f.Write(chunk)
		written += n
		r.size += int64(n)
		if err != nil {
			return written, fmt.Errorf("writing log file: %w", err)
		}
		p = p[n:]
	}
	return written, nil
}

func (r *Rotator) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("closing log file: %w", err)
	}
	if err := r.open(r.idx + 1); err != nil {
		return err
	}
	r.purge()
	return nil
}

// purge deletes files older than the newest MaxFiles.
func (r *Rotator) purge() {
	for ; r.oldest <= r.idx-r.maxFiles; r.oldest++ {
		if err := os.Remove(r.Path(r.oldest)); err != nil && !errors.Is(err, os.ErrNotExist) {
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
	return r.f.Close()
}
