package docker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stream indexes of a logCursor.
const (
	streamStdout = 0
	streamStderr = 1
)

// streamPos is a position in one stream of a container's log: every
// message stamped at or before TS, plus the first Skip bytes of the next
// message. Skip is non-zero only when a message was cut in two (a partial
// write, or a reader that had consumed part of it when the agent died).
type streamPos struct {
	TS   time.Time
	Skip int
}

// logCursor holds a position per stream. The daemon stamps each stream's
// messages in order, but the two streams may interleave slightly out of
// order in its log, so one shared position could drop a message of the
// other stream.
type logCursor [2]streamPos

// cursorAt is a cursor with both streams at t.
func cursorAt(t time.Time) logCursor {
	return logCursor{{TS: t}, {TS: t}}
}

// resumePoint is where a new daemon stream must start so that neither
// stream misses a message; messages already written are skipped per stream.
func (c logCursor) resumePoint() time.Time {
	if c[streamStderr].TS.Before(c[streamStdout].TS) {
		return c[streamStderr].TS
	}
	return c[streamStdout].TS
}

func (c logCursor) isZero() bool { return c == logCursor{} }

// encode writes "<ts>[/<skip>] <ts>[/<skip>]\n", "-" for a zero time. An
// RFC 3339 time never contains '/'.
func (c logCursor) encode() string {
	f := func(p streamPos) string {
		s := "-"
		if !p.TS.IsZero() {
			s = p.TS.Format(time.RFC3339Nano)
		}
		if p.Skip > 0 {
			s += "/" + strconv.Itoa(p.Skip)
		}
		return s
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
		ts, skip, found := strings.Cut(p, "/")
		if found {
			n, err := strconv.Atoi(skip)
			if err != nil || n < 0 {
				return logCursor{}, false
			}
			c[i].Skip = n
		}
		if ts == "-" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return logCursor{}, false
		}
		c[i].TS = t
	}
	return c, true
}

// writeCursorFile replaces path atomically. No fsync: the cursor must
// survive the agent being killed, which keeps the page cache; after a
// machine crash the containers are gone too.
func writeCursorFile(path string, c logCursor) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.encode()), 0o600); err != nil {
		return fmt.Errorf("writing log cursor: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing log cursor: %w", err)
	}
	return nil
}
