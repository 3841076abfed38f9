package command

import (
	"encoding/json"
	"strings"
	"testing"
)

const vaultJob = `job "tpl" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      vault {
        policies = ["p"]
      }
    }
  }
}
`

// A field the field-state table refuses is refused by validate and run,
// from HCL with its position and the source line, and from -json with the
// field's path.
func TestRefusedFieldOnEveryCLIPath(t *testing.T) {
	p := writeFile(t, "tpl.hcl", vaultJob)
	for _, cmd := range []string{"validate", "run"} {
		code, _, errs := runCLIEnv(t, nil, "", "job", cmd, p)
		want := p + `:8:7: Unsupported block: group "g" -> task "t" -> vault: Vault is not available`
		if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "  8 |       vault {") {
			t.Fatalf("job %s: %d, want %q in:\n%s", cmd, code, want, errs)
		}
	}
	doc := map[string]any{"Job": map[string]any{"ID": "tpl", "TaskGroups": []any{map[string]any{
		"Name": "g", "Tasks": []any{map[string]any{
			"Name": "t", "Driver": "raw_exec", "Config": map[string]any{"command": "/bin/true"},
			"Vault": map[string]any{"Policies": []any{"p"}},
		}},
	}}}}
	b, _ := json.Marshal(doc)
	jp := writeFile(t, "tpl.json", string(b))
	code, _, errs := runCLIEnv(t, nil, "", "job", "validate", "-json", jp)
	if code != 1 || !strings.Contains(errs, `group "g" -> task "t" -> vault: Vault is not available`) {
		t.Fatalf("-json: %d %s", code, errs)
	}
}
