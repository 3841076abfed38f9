package jobspec

import (
	"strings"
	"testing"
)

// Update settings a job type does not act on are refused, with the block's
// position; what each type does act on passes.
func TestUpdateBlockPerJobType(t *testing.T) {
	job := func(typ, update string) string {
		return `job "j" {
  type = "` + typ + `"
  group "g" {
    ` + update + `
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
`
	}
	for _, tc := range []struct {
		name, typ, update, want string
	}{
		{"service canary", "service", `update {
      canary       = 1
      auto_revert  = true
      auto_promote = true
      health_check = "task_states"
    }`, ""},
		{"batch", "batch", `update {
      max_parallel = 2
    }`, `job type "batch" does not allow update block`},
		{"sysbatch", "sysbatch", `update {
      max_parallel = 2
    }`, `job type "sysbatch" does not allow update block`},
		{"system stagger", "system", `update {
      max_parallel = 2
      stagger      = "5s"
    }`, ""},
		{"system canary", "system", `update {
      canary = 1
    }`, "canary is not supported for system jobs"},
		{"system auto_revert", "system", `update {
      auto_revert = true
    }`, "auto_revert is not supported for system jobs"},
		{"system health", "system", `update {
      min_healthy_time = "30s"
    }`, "health_check, min_healthy_time, healthy_deadline and progress_deadline do not apply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse(ParseConfig{Path: "job.hcl", Body: []byte(job(tc.typ, tc.update))})
			if err == nil {
				err = Validate(j)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want %q, got %v", tc.want, err)
			case tc.want != "" && !strings.Contains(err.Error(), `group "g" -> update`):
				t.Fatalf("refusal without the block's path: %v", err)
			}
		})
	}
}
