package docker

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The docker driver copies a container's output into the task's FIFO and
// keeps a cursor so that a later agent resumes the stream where this one
// stopped. The pipe's buffer lives only as long as someone holds the FIFO
// open, and for docker only the agent does (the collector and this
// driver): bytes written to the pipe but not yet read by the collector die
// with the agent on kill -9. So the persisted cursor never moves past what
// the collector has read: each sink counts the bytes it wrote, remembers
// where every message ends in that count, and asks the kernel how much the
// pipe still holds (FIONREAD); a message is durable once written-unread has
// passed its end. A message the collector read only part of is recorded as
// "that many bytes of the next message", so neither a line nor a byte is
// repeated or lost.
//
// Two windows remain, both documented rather than closed:
//   - the collector has read() a chunk but not yet write()n it to the log
//     file: killed there, that chunk is lost (microseconds per read);
//   - the collector has read a message but this driver has not yet seen it
//     (the tracker polls from settlePollMin after a write, backing off to
//     settlePollMax while the reader lags): killed there, that message is
//     written again by the next agent.
const (
	settlePollMin = 250 * time.Microsecond
	settlePollMax = 32 * time.Millisecond
	// closeDrainTimeout bounds how long a detaching stream waits for the
	// collector to read what it wrote before persisting the cursor.
	closeDrainTimeout = 500 * time.Millisecond
)

// logSink is one FIFO (or plain file) this process writes a stream into.
// Its fields other than f are guarded by the streamer's mu.
type logSink struct {
	f       *os.File
	fifo    bool
	written uint64
	pending []sentMsg // oldest first, not yet known to be read
	durable streamPos // what the reader has certainly read
}

// sentMsg is a message (or the part of one) this process wrote.
type sentMsg struct {
	start, end uint64 // in the sink's written count
	ts         time.Time
	skip       int  // bytes of the message delivered before start
	whole      bool // the message's last byte was written
}

func openSink(path string) (*logSink, error) {
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat of log sink %s: %w", path, err)
	}
	return &logSink{f: f, fifo: fi.Mode()&os.ModeNamedPipe != 0}, nil
}

// record notes n bytes of a message stamped ts, written after the first
// skip bytes of its body.
func (s *logSink) record(ts time.Time, skip, n int, whole bool) {
	start := s.written
	s.written += uint64(n)
	if n == 0 && !whole {
		return
	}
	s.pending = append(s.pending, sentMsg{start: start, end: s.written, ts: ts, skip: skip, whole: whole})
}

// unread is what the pipe still holds. Bytes another writer left in the
// pipe count as ours, which only makes the cursor lag (never lead).
func (s *logSink) unread() (uint64, error) {
	if !s.fifo {
		return 0, nil
	}
	rc, err := s.f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("log sink: %w", err)
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		return 0, fmt.Errorf("log sink: %w", err)
	}
	if ierr != nil {
		return 0, fmt.Errorf("FIONREAD on log sink: %w", ierr)
	}
	return uint64(max(n, 0)), nil
}

// settle moves durable past what the reader has consumed. It reports
// whether durable changed and whether written messages remain unread.
func (s *logSink) settle() (changed, pending bool) {
	if len(s.pending) == 0 {
		return false, false
	}
	unread, err := s.unread()
	if err != nil {
		return false, true
	}
	consumed := uint64(0)
	if unread < s.written {
		consumed = s.written - unread
	}
	before := s.durable
	i := 0
	for ; i < len(s.pending) && s.pending[i].end <= consumed; i++ {
		m := s.pending[i]
		if m.whole {
			s.durable = streamPos{TS: m.ts}
		} else {
			s.durable.Skip = m.skip + int(m.end-m.start)
		}
	}
	s.pending = s.pending[i:]
	if len(s.pending) > 0 && s.pending[0].start < consumed {
		m := s.pending[0]
		s.durable.Skip = m.skip + int(consumed-m.start)
	}
	return s.durable != before, len(s.pending) > 0
}
