// Package fuzz holds the jobspec fuzz targets. They live apart from the
// jobspec package's own tests so that their binary links only the parser
// (the jobspec tests also link every driver, whose coverage counters made
// each fuzz execution crawl).
package fuzz

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/jobspec"
)

// driverSpec stands in for the drivers' schemas: a schema path (docker,
// exec, raw_exec) and the generic path (java).
func driverSpec(driver string) hcldec.Spec {
	switch driver {
	case "docker":
		return hcldec.ObjectSpec{
			"image":  &hcldec.AttrSpec{Name: "image", Type: cty.String, Required: true},
			"args":   &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
			"ports":  &hcldec.AttrSpec{Name: "ports", Type: cty.List(cty.String)},
			"labels": &hcldec.AttrSpec{Name: "labels", Type: cty.Map(cty.String)},
			"mount": &hcldec.BlockListSpec{TypeName: "mount", Nested: hcldec.ObjectSpec{
				"type":     &hcldec.AttrSpec{Name: "type", Type: cty.String},
				"target":   &hcldec.AttrSpec{Name: "target", Type: cty.String, Required: true},
				"source":   &hcldec.AttrSpec{Name: "source", Type: cty.String},
				"readonly": &hcldec.AttrSpec{Name: "readonly", Type: cty.Bool},
			}},
		}
	case "raw_exec", "exec":
		return hcldec.ObjectSpec{
			"command": &hcldec.AttrSpec{Name: "command", Type: cty.String, Required: true},
			"args":    &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
		}
	}
	return nil
}

func seeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, err := filepath.Glob(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzParse feeds arbitrary job files to the HCL parser: it must return a
// job or an error, never panic, and a parsed job must survive Validate.
func FuzzParse(f *testing.F) {
	seeds(f, "../testdata/jobs/*", "../testdata/nomad/*.hcl")
	f.Add([]byte(`job "x" { group "g" { task "t" { driver = "docker" config { image = "${attr.a.b}" } } } }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := jobspec.Parse(jobspec.ParseConfig{Path: "fuzz.hcl", Body: src, DriverSpec: driverSpec})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			// Rendering snippets must cope with whatever ranges come back.
			var perr *jobspec.Error
			if errors.As(err, &perr) {
				_ = jobspec.WriteDiagnostics(io.Discard, perr.Diags, func(string) []byte { return src })
			}
			return
		}
		_ = jobspec.Validate(job)
		jobspec.Canonicalize(job)
	})
}

// FuzzParseJSON does the same for API JSON.
func FuzzParseJSON(f *testing.F) {
	seeds(f, "../testdata/golden/*.json", "../testdata/nomad/*.expect.json")
	f.Add([]byte(`{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[null]}]}}`))
	f.Add([]byte(`{"ID":"x","TaskGroups":[{"Services":[{"Checks":[null]}],"Tasks":[{"Resources":{"Devices":[null]}}]}]}`))
	f.Add([]byte(`{"ID":"x","TaskGroups":[{"Name":"g","Count":null,"ReschedulePolicy":{"MaxDelay":null},"Tasks":[{"Name":"t","Vault":{}}]}]}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := jobspec.ParseJSON(src)
		if err != nil {
			return
		}
		_ = jobspec.Validate(job)
		jobspec.Canonicalize(job)
	})
}
