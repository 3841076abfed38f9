package jobspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/orch-project/orch/drivers/catalog"
)

// TestNomadCorpus: each real-world-shaped job file in testdata/nomad parses
// against the real drivers' schemas, its parse carries every leaf Nomad's
// `job run -output` prints for it (testdata/nomad/<name>.expect.json), and
// it is either accepted or refused only by the field-state table (each
// refusal a table message at a position).
func TestNomadCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/nomad/*.hcl")
	if err != nil || len(files) < 8 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	messages := map[string]bool{}
	for _, row := range fieldTable {
		if row.State == Refused {
			messages[row.Msg] = true
		}
	}
	var accepted, refused []string
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		t.Run(name, func(t *testing.T) {
			job, err := Parse(ParseConfig{Path: f, DriverSpec: catalog.Spec, skipFieldCheck: true})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := validate(job, false); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if err := ValidateDriverConfigs(job, catalog.ValidateConfig); err != nil {
				t.Fatalf("driver configs: %v", err)
			}
			raw, err := os.ReadFile(strings.TrimSuffix(f, ".hcl") + ".expect.json")
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("expect file: %v", err)
			}
			b, _ := json.Marshal(job)
			var got any
			json.Unmarshal(b, &got)
			if diffs := carriesLeaves("", want, got); len(diffs) > 0 {
				t.Errorf("-output lacks what Nomad prints:\n%s", strings.Join(diffs, "\n"))
			}

			_, err = Parse(ParseConfig{Path: f, DriverSpec: catalog.Spec})
			if err == nil {
				accepted = append(accepted, name)
				return
			}
			perr, ok := err.(*Error)
			if !ok {
				t.Fatalf("refusal is %T: %v", err, err)
			}
			for _, d := range perr.Errors() {
				_, msg, _ := strings.Cut(d.Detail, ": ")
				if !(d.Summary == "Unsupported block" || d.Summary == "Unsupported argument") || d.Subject == nil ||
					!tableMessage(msg, messages) {
					t.Errorf("refused for something other than the field-state table: %s", formatDiag(d))
				}
			}
			refused = append(refused, name)
		})
	}
	t.Logf("accepted: %v; refused by the field-state table: %v", accepted, refused)
	if len(accepted) < 3 {
		t.Errorf("only %v accepted", accepted)
	}
}

// tableMessage reports whether msg is (or ends with) a refusal message of
// the table; value-dependent messages ("bridge networking ...") count too.
func tableMessage(msg string, messages map[string]bool) bool {
	for m := range messages {
		if strings.HasSuffix(msg, m) {
			return true
		}
	}
	return strings.HasSuffix(msg, "not supported yet") || strings.HasSuffix(msg, "not available: orch does not run Consul") ||
		strings.Contains(msg, "is not available")
}

// carriesLeaves reports each non-null, non-zero leaf of want that got lacks
// or differs in. Lists must have the same length; maps are matched by key.
func carriesLeaves(path string, want, got any) []string {
	switch w := want.(type) {
	case nil:
		return nil
	case map[string]any:
		g, _ := got.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, carriesLeaves(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, _ := got.([]any)
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: Nomad prints %d elements, orch %d (%v)", path, len(w), len(g), got)}
		}
		var out []string
		for i := range w {
			out = append(out, carriesLeaves(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if isZero(want) {
			return nil
		}
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: Nomad prints %v, orch %v", path, want, got)}
		}
		return nil
	}
}

var _ = hcl.DiagError
