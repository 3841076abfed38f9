package jobspec

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics writes every error diagnostic as one
// "file:line:col: summary: detail" line followed, when the source is
// available, by the offending line with the range underlined:
//
//	job.hcl:12:7: Unsupported argument: An argument named "imagee" is not expected here.
//	   12 |       imagee = "redis"
//	      |       ^^^^^^
//
// source returns a file's contents by the name diagnostics use (nil when
// unknown); it may be nil.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, source func(filename string) []byte) error {
	cache := map[string][]byte{}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		if _, err := fmt.Fprintln(w, formatDiag(d)); err != nil {
			return fmt.Errorf("writing diagnostics: %w", err)
		}
		if d.Subject == nil || source == nil {
			continue
		}
		src, seen := cache[d.Subject.Filename]
		if !seen {
			src = source(d.Subject.Filename)
			cache[d.Subject.Filename] = src
		}
		if snip := snippet(src, *d.Subject); snip != "" {
			if _, err := io.WriteString(w, snip); err != nil {
				return fmt.Errorf("writing diagnostics: %w", err)
			}
		}
	}
	return nil
}

// snippet renders the first line of rng with a caret underline, or "" when
// the range does not fall inside src.
func snippet(src []byte, rng hcl.Range) string {
	if src == nil || rng.Start.Line < 1 || rng.Start.Byte < 0 || rng.Start.Byte > len(src) {
		return ""
	}
	lineStart := bytes.LastIndexByte(src[:rng.Start.Byte], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[rng.Start.Byte:], '\n'); i >= 0 {
		lineEnd = rng.Start.Byte + i
	}
	line := strings.TrimRight(string(src[lineStart:lineEnd]), "\r")
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	startByte := min(rng.Start.Byte-lineStart, len(line))
	endByte := len(line)
	if rng.End.Line == rng.Start.Line && rng.End.Byte >= rng.Start.Byte {
		endByte = min(rng.End.Byte-lineStart, len(line))
	}
	endByte = max(endByte, startByte)

	// Keep tabs in the padding so the carets line up under tab-indented code.
	var pad strings.Builder
	for _, r := range line[:startByte] {
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	width := max(utf8.RuneCountInString(line[startByte:endByte]), 1)
	num := fmt.Sprint(rng.Start.Line)
	gutter := strings.Repeat(" ", len(num))
	return fmt.Sprintf("  %s | %s\n  %s | %s%s\n", num, line, gutter, pad.String(), strings.Repeat("^", width))
}
