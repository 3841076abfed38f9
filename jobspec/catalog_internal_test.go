package jobspec

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers/catalog"
)

// The parser corpus must parse and validate against the real drivers'
// schemas and checks, not only the test schemas. (It exercises blocks the
// field-state table refuses, so the table is left out here; the table's
// own tests cover it.)
func TestCorpusAgainstRealDrivers(t *testing.T) {
	files, err := filepath.Glob("testdata/jobs/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, f := range files {
		if filepath.Base(f) == "system.hcl" {
			// Its java config carries a made-up block on purpose, to test
			// decoding without a schema; the real schema must refuse it.
			_, err := Parse(ParseConfig{Path: f, DriverSpec: catalog.Spec, skipFieldCheck: true})
			if err == nil || !strings.Contains(err.Error(), f+":19:9: Unsupported block type") {
				t.Errorf("%s: unknown block in java config not reported: %v", f, err)
			}
			continue
		}
		job, err := Parse(ParseConfig{Path: f, DriverSpec: catalog.Spec, AllowFS: true, skipFieldCheck: true})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := validate(job, false); err != nil {
			t.Errorf("%s: validate: %v", f, err)
		}
		if err := ValidateDriverConfigs(job, catalog.ValidateConfig); err != nil {
			t.Errorf("%s: driver configs: %v", f, err)
		}
	}
}

// Driver config keys take the attribute and the block form alike, as in
// Nomad, checked against the real driver's schema either way.
func TestDriverConfigBothForms(t *testing.T) {
	parse := func(cfg string) (map[string]any, error) {
		src := "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n" + cfg + "\n      }\n    }\n  }\n}\n"
		job, err := Parse(ParseConfig{Path: "x.hcl", Body: []byte(src), DriverSpec: catalog.Spec})
		if err != nil {
			return nil, err
		}
		if err := ValidateDriverConfigs(job, catalog.ValidateConfig); err != nil {
			return nil, err
		}
		return job.TaskGroups[0].Tasks[0].Config, nil
	}
	blocks, err := parse(`image = "redis"
pids_limit = "100"
labels {
  app = "web"
  tier = 2
}
mount {
  type   = "tmpfs"
  target = "/scratch"
}
mount {
  type     = "bind"
  source   = "local/conf"
  target   = "/etc/conf"
  readonly = "true"
}`)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := parse(`image = "redis"
pids_limit = 100
labels = { app = "web", tier = "2" }
mount = [
  { type = "tmpfs", target = "/scratch" },
  { type = "bind", source = "local/conf", target = "/etc/conf", readonly = true },
]`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(blocks, attrs) {
		t.Fatalf("block form %v\nattribute form %v", blocks, attrs)
	}
	if blocks["pids_limit"] != int64(100) || len(blocks["mount"].([]map[string]any)) != 2 {
		t.Fatalf("decoded %v", blocks)
	}
	for cfg, want := range map[string]string{
		"image = \"r\"\nmount = [{ target = \"/x\", tpye = \"tmpfs\" }]": `x.hcl:7:9: Unsupported argument: An argument named "tpye" is not expected in mount[0].`,
		"image = \"r\"\nmount = \"x\"":                                   `x.hcl:7:9: Incorrect attribute value type`,
		"image = \"r\"\nmount = [{ type = \"tmpfs\" }]":                  `x.hcl:7:9: Missing required argument: The argument "target" is required in mount[0].`,
		"image = \"r\"\nlabels { a = [1] }":                              `x.hcl:7:1: Incorrect attribute value type`,
		"image = \"r\"\nmount {\n target = \"/x\"\n tpye = \"a\"\n}":     `x.hcl:9:2: Unsupported argument`,
	} {
		_, err := parse(cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", cfg, want, err)
		}
	}
}
