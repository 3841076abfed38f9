package jobspec

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Error is returned by Parse for every problem found in a job file. It keeps
// the full hcl.Diagnostics so callers (the CLI, the HTTP parse endpoint) can
// render positions themselves.
type Error struct {
	Diags hcl.Diagnostics
}

// Error prints one diagnostic per line as "file:line:col: summary: detail".
func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Errors() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(formatDiag(d))
	}
	return b.String()
}

// Errors returns only the error-severity diagnostics.
func (e *Error) Errors() hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range e.Diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

// Unwrap exposes the diagnostics so errors.As(err, &hcl.Diagnostics{}) works.
func (e *Error) Unwrap() error { return e.Diags }

func formatDiag(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	return b.String()
}

// diagErr builds an error diagnostic at rng.
func diagErr(rng hcl.Range, summary, detailFmt string, args ...any) *hcl.Diagnostic {
	r := rng
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detailFmt, args...),
		Subject:  &r,
	}
}

// wrapDiags turns diagnostics into a *Error, or nil when none is an error.
func wrapDiags(diags hcl.Diagnostics) error {
	if !diags.HasErrors() {
		return nil
	}
	return &Error{Diags: diags}
}
