package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// Raft logs some values with hclog.Fmt; they must reach slog formatted.
func TestHCLoggerFormatsFmtArgs(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLogger("raft", slog.New(slog.NewTextHandler(&buf, nil)))
	args := []any{"servers", hclog.Fmt("%+v", []string{"a", "b"}), "index", 3}
	l.Info("initial configuration", args...)
	out := buf.String()
	if !strings.Contains(out, "servers=\"[a b]\"") || strings.Contains(out, "%+v") {
		t.Fatalf("log line %q", out)
	}
	if _, ok := args[1].(hclog.Format); !ok {
		t.Fatal("the caller's arguments were modified")
	}
}
