package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newMemberlistLogger adapts memberlist's standard-library logger to slog.
// memberlist writes lines like "[WARN] memberlist: Was able to connect to
// x over TCP but UDP probes failed"; each becomes one slog record at the
// level its prefix names, with the prefixes stripped, so operators see one
// format with one timestamp and warnings are not hidden at debug level.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	level, msg := parseMemberlistLine(string(p))
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

func parseMemberlistLine(s string) (slog.Level, string) {
	s = strings.TrimRight(s, "\n")
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[TRACE] ": slog.LevelDebug, "[DEBUG] ": slog.LevelDebug, "[INFO] ": slog.LevelInfo,
		"[WARN] ": slog.LevelWarn, "[ERR] ": slog.LevelError, "[ERROR] ": slog.LevelError,
	} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			level, s = l, rest
			break
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	return level, s
}
