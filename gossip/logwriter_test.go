package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLinesBecomeLeveledRecords(t *testing.T) {
	var buf bytes.Buffer
	l := newMemberlistLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("[WARN] memberlist: Was able to connect to %s over TCP but UDP probes failed", "n1")
	l.Printf("[DEBUG] memberlist: Stream connection from=%s", "1.2.3.4:5")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="Was able to connect to n1 over TCP but UDP probes failed"`,
		`level=DEBUG msg="Stream connection from=1.2.3.4:5"`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "[WARN]") || strings.Contains(out, "memberlist:") {
		t.Fatalf("prefixes kept:\n%s", out)
	}
}
