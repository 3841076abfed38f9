package jobspec

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestWriteDiagnosticsSnippets(t *testing.T) {
	src := []byte("job \"x\" {\n\tpriority = \"hi\"\n  name = \"é\" + 1\n}\n")
	rng := func(line, col, byteOff, endLine, endCol, endByte int) *hcl.Range {
		return &hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Line: line, Column: col, Byte: byteOff},
			End: hcl.Pos{Line: endLine, Column: endCol, Byte: endByte}}
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Bad", Detail: "tab indented", Subject: rng(2, 13, 22, 2, 17, 26)},
		{Severity: hcl.DiagError, Summary: "Multi", Subject: rng(3, 10, 36, 4, 2, 47)},
		{Severity: hcl.DiagWarning, Summary: "Ignored", Subject: rng(1, 1, 0, 1, 2, 1)},
		{Severity: hcl.DiagError, Summary: "Out of range", Subject: rng(9, 1, 999, 9, 2, 1000)},
		{Severity: hcl.DiagError, Summary: "No subject"},
	}
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, diags, func(name string) []byte {
		if name == "f.hcl" {
			return src
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := "f.hcl:2:13: Bad: tab indented\n" +
		"  2 | \tpriority = \"hi\"\n" +
		"    | \t           ^^^^\n" +
		"f.hcl:3:10: Multi\n" +
		"  3 |   name = \"é\" + 1\n" +
		"    |          ^^^^^^^\n" +
		"f.hcl:9:1: Out of range\n" +
		"No subject\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "Ignored") {
		t.Fatal("warning rendered as an error")
	}
}
