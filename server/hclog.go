package server

import (
	"bytes"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger adapts hashicorp libraries' logger to slog: each line they
// write becomes one slog record, so operators get one log format.
func newHCLogger(name string, l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   name,
		Level:  hclog.Info,
		Output: &slogWriter{l: l.With("component", name)},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	switch {
	case bytes.Contains(line, []byte("[ERROR]")):
		level = slog.LevelError
	case bytes.Contains(line, []byte("[WARN]")):
		level = slog.LevelWarn
	case bytes.Contains(line, []byte("[DEBUG]")), bytes.Contains(line, []byte("[TRACE]")):
		level = slog.LevelDebug
	}
	w.l.Log(nil, level, string(line))
	return len(p), nil
}
