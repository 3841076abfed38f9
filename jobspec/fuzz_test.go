package jobspec

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary job files to the HCL parser: it must return a
// job or an error, never panic, and a parsed job must survive Validate.
func FuzzParse(f *testing.F) {
	nomadFiles, _ := filepath.Glob("testdata/nomad/*.hcl")
	for _, path := range append(corpus(f), nomadFiles...) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`job "x" { group "g" { task "t" { driver = "docker" config { image = "${attr.a.b}" } } } }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := Parse(ParseConfig{Path: "fuzz.hcl", Body: src, DriverSpec: testDriverSpec})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			// Rendering snippets must cope with whatever ranges come back.
			var perr *Error
			if errors.As(err, &perr) {
				_ = WriteDiagnostics(io.Discard, perr.Diags, func(string) []byte { return src })
			}
			return
		}
		_ = Validate(job)
		Canonicalize(job)
	})
}

// FuzzParseJSON does the same for API JSON.
func FuzzParseJSON(f *testing.F) {
	for _, path := range goldenFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[null]}]}}`))
	f.Add([]byte(`{"ID":"x","TaskGroups":[{"Services":[{"Checks":[null]}],"Tasks":[{"Resources":{"Devices":[null]}}]}]}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := ParseJSON(src)
		if err != nil {
			return
		}
		_ = Validate(job)
		Canonicalize(job)
	})
}
