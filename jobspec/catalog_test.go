package jobspec_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/drivers/catalog"
	"github.com/orch-project/orch/jobspec"
)

// The corpus of Nomad job files must parse and validate against the real
// drivers' schemas and checks, not only the test schemas.
func TestCorpusAgainstRealDrivers(t *testing.T) {
	files, err := filepath.Glob("testdata/jobs/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, f := range files {
		if filepath.Base(f) == "system.hcl" {
			// Its java config carries a made-up block on purpose, to test
			// decoding without a schema; the real schema must refuse it.
			_, err := jobspec.Parse(jobspec.ParseConfig{Path: f, DriverSpec: catalog.Spec})
			if err == nil || !strings.Contains(err.Error(), f+":19:9: Unsupported block type") {
				t.Errorf("%s: unknown block in java config not reported: %v", f, err)
			}
			continue
		}
		job, err := jobspec.Parse(jobspec.ParseConfig{Path: f, DriverSpec: catalog.Spec, AllowFS: true})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := jobspec.Validate(job); err != nil {
			t.Errorf("%s: validate: %v", f, err)
		}
		if err := jobspec.ValidateDriverConfigs(job, catalog.ValidateConfig); err != nil {
			t.Errorf("%s: driver configs: %v", f, err)
		}
	}
}
