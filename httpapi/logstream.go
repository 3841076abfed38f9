package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/internal/safefs"
)

const (
	logPollInterval = 250 * time.Millisecond
	logFrameSize    = 64 << 10
	// logHeartbeatEvery keeps idle followed streams visibly alive.
	logHeartbeatEvery = 10 * time.Second
)

// StreamFrame is one frame of a log stream, in Nomad's wire format. A frame
// with no fields is a heartbeat; one is sent when a followed stream has
// caught up with the end of the log.
type StreamFrame struct {
	Data      []byte `json:"Data,omitempty"`
	File      string `json:"File,omitempty"`
	Offset    int64  `json:"Offset,omitempty"`
	FileEvent string `json:"FileEvent,omitempty"`
}

type logFile struct {
	idx  int
	name string
}

// listLogFiles returns the rotated files "<prefix>N" in dir of root, oldest
// first. Only single-link regular files count: anything else at a log
// file's name was not written by the agent.
func listLogFiles(root *safefs.Root, dir, prefix string) ([]logFile, error) {
	entries, err := root.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing log dir: %w", err)
	}
	var out []logFile
	for _, e := range entries {
		name := e.Name()
		if !e.Mode().IsRegular() || safefs.Links(e) != 1 || !strings.HasPrefix(name, prefix) {
			continue
		}
		n, err := strconv.Atoi(name[len(prefix):])
		if err != nil || n < 0 {
			continue
		}
		out = append(out, logFile{idx: n, name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	return out, nil
}

// frameWriter writes a stream in Nomad's frame format, or raw bytes when
// plain.
type frameWriter struct {
	w     io.Writer
	flush func()
	plain bool
	enc   *json.Encoder
}

func newFrameWriter(w io.Writer, flush func(), plain bool) *frameWriter {
	return &frameWriter{w: w, flush: flush, plain: plain, enc: json.NewEncoder(w)}
}

// send writes data of file, which ends at offset end.
func (fw *frameWriter) send(data []byte, file string, end int64) error {
	var err error
	if fw.plain {
		_, err = fw.w.Write(data)
	} else {
		err = fw.enc.Encode(&StreamFrame{Data: data, File: file, Offset: end})
	}
	if err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	fw.flush()
	return nil
}

// event reports a change of file ("file deleted", "file truncated").
func (fw *frameWriter) event(file, ev string) error {
	if fw.plain {
		return nil
	}
	if err := fw.enc.Encode(&StreamFrame{File: file, FileEvent: ev}); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	fw.flush()
	return nil
}

func (fw *frameWriter) heartbeat() error {
	if fw.plain {
		return nil
	}
	if err := fw.enc.Encode(&StreamFrame{}); err != nil {
		return fmt.Errorf("writing heartbeat: %w", err)
	}
	fw.flush()
	return nil
}

// logStreamer reads a task's rotated log files in order, optionally
// following the newest one, and writes frames (or raw bytes when plain).
// It polls instead of using inotify: a few stats a second per follower is
// cheap and works on every file system. Files are opened through root (the
// alloc dir), never following a link.
type logStreamer struct {
	root   *safefs.Root
	dir    string // "alloc/logs"
	prefix string
	follow bool
	fw     *frameWriter
	poll   time.Duration
	buf    []byte
}

func (ls *logStreamer) open(name string) (*os.File, error) {
	f, err := ls.root.Open(path.Join(ls.dir, name))
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	return f, nil
}

func (ls *logStreamer) stream(ctx context.Context, fromEnd bool, offset int64) error {
	ls.buf = make([]byte, logFrameSize)
	cur, pos, err := ls.startPosition(ctx, fromEnd, offset)
	if err != nil || cur == nil {
		return err
	}
	caughtUp := false
	lastSend := time.Now()
	f, err := ls.open(cur.name)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	for {
		n, err := ls.drain(f, cur.name, &pos)
		if err != nil {
			return err
		}
		if n > 0 {
			lastSend = time.Now()
		}
		next, err := ls.nextFile(cur.idx)
		if err != nil {
			return err
		}
		if next != nil {
			// The writer moved on; pick up what it wrote before rotating.
			if _, err := ls.drain(f, cur.name, &pos); err != nil {
				return err
			}
			f.Close()
			if f, err = ls.open(next.name); err != nil {
				return err
			}
			cur, pos = next, 0
			continue
		}
		if !ls.follow {
			return nil
		}
		if !caughtUp || time.Since(lastSend) >= logHeartbeatEvery {
			caughtUp, lastSend = true, time.Now()
			if err := ls.fw.heartbeat(); err != nil {
				return err
			}
		}
		// A file truncated in place starts over.
		if fi, err := f.Stat(); err == nil && fi.Size() < pos {
			pos = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(ls.poll):
		}
	}
}

// startPosition maps (origin, offset) onto a file and an offset in it; it
// waits for the first file when following a task that has not logged yet.
func (ls *logStreamer) startPosition(ctx context.Context, fromEnd bool, offset int64) (*logFile, int64, error) {
	for {
		files, err := listLogFiles(ls.root, ls.dir, ls.prefix)
		if err != nil {
			return nil, 0, err
		}
		if len(files) > 0 {
			return ls.locate(files, fromEnd, offset)
		}
		if !ls.follow {
			return nil, 0, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, nil
		case <-time.After(ls.poll):
		}
	}
}

func (ls *logStreamer) locate(files []logFile, fromEnd bool, offset int64) (*logFile, int64, error) {
	sizes := make([]int64, len(files))
	for i, lf := range files {
		fi, err := ls.root.Lstat(path.Join(ls.dir, lf.name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("stat log file: %w", err)
		}
		if err == nil {
			sizes[i] = fi.Size()
		}
	}
	if fromEnd {
		for i := len(files) - 1; i >= 0; i-- {
			if offset <= sizes[i] {
				return &files[i], sizes[i] - offset, nil
			}
			offset -= sizes[i]
		}
		return &files[0], 0, nil
	}
	for i := range files {
		if offset < sizes[i] {
			return &files[i], offset, nil
		}
		offset -= sizes[i]
	}
	last := len(files) - 1
	return &files[last], sizes[last], nil
}

// nextFile returns the oldest file newer than idx, or nil.
func (ls *logStreamer) nextFile(idx int) (*logFile, error) {
	files, err := listLogFiles(ls.root, ls.dir, ls.prefix)
	if err != nil {
		return nil, err
	}
	for i := range files {
		if files[i].idx > idx {
			return &files[i], nil
		}
	}
	return nil, nil
}

// drain sends everything from *pos to the current end of f.
func (ls *logStreamer) drain(f *os.File, name string, pos *int64) (int, error) {
	total := 0
	for {
		n, err := f.ReadAt(ls.buf, *pos)
		if n > 0 {
			*pos += int64(n)
			total += n
			if werr := ls.send(ls.buf[:n], name, *pos); werr != nil {
				return total, werr
			}
		}
		if err == io.EOF || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("reading log file: %w", err)
		}
	}
}

func (ls *logStreamer) send(data []byte, name string, end int64) error {
	return ls.fw.send(data, "alloc/logs/"+name, end)
}
