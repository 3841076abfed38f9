package jobspec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current parser output")

// testDriverSpec stands in for the drivers' ConfigSpec so the corpus covers
// both the schema path (docker, exec, raw_exec) and the generic path (java).
func testDriverSpec(driver string) hcldec.Spec {
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

func corpus(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/jobs/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, path := range corpus(t) {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t.Run(name, func(t *testing.T) {
			job, err := Parse(ParseConfig{Path: path, DriverSpec: testDriverSpec, skipFieldCheck: true})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := validate(job, false); err != nil {
				t.Fatalf("corpus job does not validate:\n%v", err)
			}
			got, err := json.MarshalIndent(job, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from parser output; diff with -update and review.\ngot:\n%s", golden, got)
			}

			// Canonicalize must be idempotent on its own output.
			again, err := ParseJSON(got)
			if err != nil {
				t.Fatalf("ParseJSON of golden: %v", err)
			}
			b2, _ := json.MarshalIndent(again, "", "  ")
			if !bytes.Equal(append(b2, '\n'), got) {
				t.Errorf("Canonicalize is not idempotent on %s:\n%s", name, b2)
			}
		})
	}
}
