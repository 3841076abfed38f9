package jobspec

import (
	"strings"
	"testing"
	"time"
)

// TestMaxRunDurationParsed: group max_run_duration arrives in the job on the
// HCL and JSON paths alike (the client enforces it: see
// client/allocrunner TestMaxRunDuration), and a negative one is refused.
func TestMaxRunDurationParsed(t *testing.T) {
	src := "job \"x\" {\n  type = \"batch\"\n  group \"g\" {\n    max_run_duration = \"90s\"\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"true\"\n      }\n    }\n  }\n}\n"
	job, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if d := job.TaskGroups[0].MaxRunDuration; d == nil || *d != 90*time.Second {
		t.Fatalf("HCL MaxRunDuration %v", d)
	}
	fromJSON, err := ParseJSON([]byte(`{"Job":{"ID":"x","Type":"batch","TaskGroups":[{"Name":"g","MaxRunDuration":90000000000,
		"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"true"}}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := fromJSON.TaskGroups[0].MaxRunDuration; d == nil || *d != 90*time.Second {
		t.Fatalf("JSON MaxRunDuration %v", d)
	}
	neg := -time.Second
	job.TaskGroups[0].MaxRunDuration = &neg
	if err := Validate(job); err == nil || !strings.Contains(err.Error(), "max_run_duration must not be negative") {
		t.Fatalf("negative max_run_duration: %v", err)
	}
}
