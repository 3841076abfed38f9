package jobspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Each case is one class of mistake; want is the full "file:line:col:" prefix
// plus a fragment of the message that must follow it on the same line.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"syntax", "job \"x\" {\n  type = \n}\n", `job.hcl:2:10: Invalid expression`},
		{"no job", "variable \"a\" {\n  default = 1\n}\n", `job.hcl:1:1: Missing job block`},
		{"two jobs", "job \"a\" {}\njob \"b\" {}\n", `job.hcl:2:1: Duplicate job block`},
		{"unknown attribute", "job \"x\" {\n  colour = \"red\"\n}\n", `job.hcl:2:3: Unsupported argument: An argument named "colour" is not expected here.`},
		{"unknown block", "job \"x\" {\n  group \"g\" {\n    widget {}\n  }\n}\n", `job.hcl:3:5: Unsupported block type`},
		{"list for string", "job \"x\" {\n  type = [5]\n}\n", `job.hcl:2:10: Incorrect attribute value type: Inappropriate value for attribute "type": string required`},
		{"word for number", "job \"x\" {\n  group \"g\" {\n    count = \"three\"\n  }\n}\n", `job.hcl:3:13: Incorrect attribute value type: Inappropriate value for attribute "count": a number is required.`},
		{"fractional count", "job \"x\" {\n  group \"g\" {\n    count = 1.5\n  }\n}\n", `job.hcl:3:13: Invalid number`},
		{"object for string", "job \"x\" {\n  region = { a = 1 }\n}\n", `job.hcl:2:12: Incorrect attribute value type`},
		{"bad duration", "job \"x\" {\n  group \"g\" {\n    restart {\n      delay = \"soon\"\n    }\n  }\n}\n", `job.hcl:4:15: Invalid duration`},
		{"duration as number", "job \"x\" {\n  group \"g\" {\n    shutdown_delay = 30\n  }\n}\n", `job.hcl:3:22: Invalid duration`},
		{"string for list", "job \"x\" {\n  datacenters = \"dc1\"\n}\n", `job.hcl:2:17: Incorrect attribute value type: Inappropriate value for attribute "datacenters": list of string required`},
		{"meta value type", "job \"x\" {\n  meta {\n    a = [1]\n  }\n}\n", `job.hcl:3:9: Incorrect attribute value type`},
		{"unsupported vault", "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n      vault {}\n    }\n  }\n}\n", `job.hcl:5:7: Unsupported block: group "g" -> task "t" -> vault: Vault is not available: orch does not run Vault`},
		{"unsupported multiregion", "job \"x\" {\n  multiregion {}\n}\n", `job.hcl:2:3: Unsupported block: multiregion: multiregion is a Nomad Enterprise feature orch does not have`},
		{"duplicate restart", "job \"x\" {\n  group \"g\" {\n    restart {}\n    restart {}\n  }\n}\n", `job.hcl:4:5: Duplicate restart block`},
		{"missing driver", "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n    }\n  }\n}\n", `job.hcl:3:5: Missing required argument: Task "t" needs a "driver".`},
		{"unknown variable", "job \"x\" {\n  region = var.nope\n}\n", `job.hcl:2:15: Unsupported attribute`},
		{"unknown local", "job \"x\" {\n  region = \"${local.nope}\"\n}\n", `job.hcl:2:20: Unsupported attribute`},
		{"unknown function", "job \"x\" {\n  region = nope(1)\n}\n", `job.hcl:2:12: Call to unknown function`},
		{"file disabled", "job \"x\" {\n  region = file(\"x\")\n}\n", `job.hcl:2:12: Error in function call`},
		{"missing variable value", "variable \"v\" {\n  type = string\n}\njob \"x\" {}\n", `job.hcl:1:1: Missing value for variable`},
		{"variable default type", "variable \"v\" {\n  type    = number\n  default = \"abc\"\n}\njob \"x\" {}\n", `job.hcl:3:13: Invalid value for variable`},
		{"variable validation", "variable \"v\" {\n  default = 3\n  validation {\n    condition     = var.v > 5\n    error_message = \"Too small.\"\n  }\n}\njob \"x\" {}\n", `job.hcl:3:3: Invalid value for variable: Too small.`},
		{"local cycle", "locals {\n  a = local.b\n  b = local.a\n}\njob \"x\" {}\n", `job.hcl:2:7: Cycle in local values`},
		{"duplicate port", "job \"x\" {\n  group \"g\" {\n    network {\n      port \"a\" {}\n      port \"a\" {}\n    }\n  }\n}\n", `job.hcl:5:7: Duplicate port`},
		{"duplicate volume", "job \"x\" {\n  group \"g\" {\n    volume \"v\" {}\n    volume \"v\" {}\n  }\n}\n", `job.hcl:4:5: Duplicate volume block`},
		{"conflicting constraint", "job \"x\" {\n  constraint {\n    operator = \"=\"\n    regexp   = \"a\"\n  }\n}\n", `job.hcl:4:5: Conflicting constraint operators`},
		{"periodic without cron", "job \"x\" {\n  periodic {\n  }\n}\n", `job.hcl:2:3: Missing cron expression`},
		{"id attribute", "job \"x\" {\n  id = \"y\"\n}\n", `job.hcl:2:3: Unsupported argument`},
		{"weight out of range", "job \"x\" {\n  affinity {\n    weight = 300\n  }\n}\n", `job.hcl:3:14: Number out of range`},
		{"driver config unknown key", "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"a\"\n        imgae = \"b\"\n      }\n    }\n  }\n}\n", `job.hcl:7:9: Unsupported argument`},
		{"driver config wrong type", "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = [\"a\"]\n      }\n    }\n  }\n}\n", `job.hcl:6:17: Incorrect attribute value type`},
		{"driver config missing", "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n      }\n    }\n  }\n}\n", `job.hcl:5:14: Missing required argument`},
		{"json syntax", "{\"job\": {\"x\": {\"type\": [5]}}}", `job.hcl:1:24: Incorrect attribute value type`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(tc.src), DriverSpec: testDriverSpec})
			if err == nil {
				t.Fatalf("expected an error containing %q", tc.want)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T, want *jobspec.Error", err)
			}
			var diags hcl.Diagnostics
			if !errors.As(err, &diags) || !diags.HasErrors() {
				t.Fatalf("error does not unwrap to hcl.Diagnostics")
			}
			found := false
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no line starts with %q; got:\n%s", tc.want, err)
			}
		})
	}
}

// All mistakes in a file are reported together, in file order.
func TestParseErrorsGathered(t *testing.T) {
	src := "job \"x\" {\n  type = [1]\n  priority = \"high\"\n  group \"g\" {\n    bogus = true\n  }\n}\n"
	_, err := Parse(ParseConfig{Path: "j.hcl", Body: []byte(src)})
	if err == nil {
		t.Fatal("expected errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 errors, got %d:\n%s", len(lines), err)
	}
	for i, prefix := range []string{"j.hcl:2:", "j.hcl:3:", "j.hcl:5:"} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
}
