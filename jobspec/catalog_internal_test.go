package jobspec

import (
	"path/filepath"
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
