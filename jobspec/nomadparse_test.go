package jobspec

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// Real Nomad files rely on HCL's conversions, literal ${...} for the
// task's environment, tasks directly under the job, and per-task log
// budgets; each of these used to be refused.
func TestParseLikeNomad(t *testing.T) {
	src := `job "conv" {
  priority = "70"
  task "solo" {
    driver = "raw_exec"
    config {
      command = "/bin/sh"
      args    = ["-c", <<EOT
for value in a b; do echo "${value} ${PATH}"; done
EOT
      ]
    }
    env {
      PUID = 1000
      PATH = "${PATH}:/opt/bin"
    }
    meta {
      debug = true
    }
    resources {
      cpu    = "200"
      memory = 64
    }
  }
  group "g" {
    count = "2"
    constraint {
      attribute = "${meta.ssd}"
      value     = true
    }
    network {
      port "http" {
        static = "8080"
      }
    }
    ephemeral_disk {
      size = 150
    }
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      logs {
        max_files     = 10
        max_file_size = 10
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
    task "c" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
`
	job, err := Parse(ParseConfig{Path: "conv.hcl", Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(job); err != nil {
		t.Fatal(err)
	}
	if job.Priority != 70 {
		t.Errorf("priority %d", job.Priority)
	}
	if len(job.TaskGroups) != 2 || job.TaskGroups[1].Name != "solo" || job.TaskGroups[1].Count != 1 ||
		len(job.TaskGroups[1].Tasks) != 1 || job.TaskGroups[1].Tasks[0].Name != "solo" {
		t.Fatalf("task under job not wrapped in its own group: %+v", job.TaskGroups)
	}
	solo := job.TaskGroups[1].Tasks[0]
	if solo.Env["PUID"] != "1000" || solo.Env["PATH"] != "${PATH}:/opt/bin" || solo.Meta["debug"] != "true" || solo.Resources.CPU != 200 {
		t.Errorf("conversions: env %v meta %v cpu %d", solo.Env, solo.Meta, solo.Resources.CPU)
	}
	if script := solo.Config["args"].([]any)[1].(string); !strings.Contains(script, `echo "${value} ${PATH}"`) {
		t.Errorf("heredoc references not kept literally: %q", script)
	}
	g := job.TaskGroups[0]
	if g.Count != 2 || g.Constraints[0].RTarget != "true" || g.Networks[0].ReservedPorts[0].Value != 8080 {
		t.Errorf("group conversions: count %d constraint %+v ports %+v", g.Count, g.Constraints[0], g.Networks[0].ReservedPorts)
	}

	// Each task's log budget is checked against the disk on its own.
	g.Tasks[0].LogConfig.MaxFiles = 15 // 150 MB of logs on a 150 MB disk
	if err := Validate(job); err == nil || !strings.Contains(err.Error(), `group "g" -> task "a": log storage (150 MB) must be less than requested disk capacity (150 MB)`) {
		t.Fatalf("per-task log budget: %v", err)
	}
}

// What HCL cannot convert, Nomad refuses, and so does orch.
func TestParseRefusesWhatNomadRefuses(t *testing.T) {
	for name, c := range map[string]struct{ attr, want string }{
		"list from string":   {`datacenters = "dc1"`, `list of string required`},
		"number from word":   {`priority = "high"`, `a number is required`},
		"bool from word":     {`all_at_once = "yes"`, `a bool is required`},
		"string from object": {`region = { a = 1 }`, `string required`},
	} {
		src := "job \"x\" {\n  " + c.attr + "\n}\n"
		_, err := Parse(ParseConfig{Path: "x.hcl", Body: []byte(src)})
		if err == nil || !strings.Contains(err.Error(), "x.hcl:2:") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The legacy task-level resources { disk } sizes the group's ephemeral
// disk (which the scheduler packs, TestResourceDimensionsPacked) when the
// group gives no size of its own; an explicit ephemeral_disk wins.
func TestLegacyTaskDisk(t *testing.T) {
	src := `job "d" {
  group "legacy" {
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        disk = 700
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        disk = 800
      }
    }
  }
  group "explicit" {
    ephemeral_disk {
      size = 200
    }
    task "c" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        disk = 900
      }
    }
  }
}
`
	job, err := Parse(ParseConfig{Body: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(job); err != nil {
		t.Fatal(err)
	}
	if got := job.TaskGroups[0].EphemeralDisk.SizeMB; got != 1500 {
		t.Errorf("legacy group disk %d, want 1500", got)
	}
	if got := job.TaskGroups[1].EphemeralDisk.SizeMB; got != 200 {
		t.Errorf("explicit group disk %d, want 200", got)
	}
	j2, err := ParseJSON([]byte(`{"ID":"d","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"},"Resources":{"DiskMB":1200}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := j2.TaskGroups[0].EphemeralDisk.SizeMB; got != 1200 {
		t.Errorf("JSON legacy disk %d, want 1200", got)
	}
}

// A group's scaling block: min defaults to the count, a missing count to
// min, and the count must lie within min and max.
func TestScalingBlock(t *testing.T) {
	parse := func(group string) (*structs.Job, error) {
		src := "job \"s\" {\n  group \"g\" {\n" + group + "\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n    }\n  }\n}\n"
		job, err := Parse(ParseConfig{Path: "s.hcl", Body: []byte(src)})
		if err != nil {
			return nil, err
		}
		return job, Validate(job)
	}
	job, err := parse("count = 3\nscaling {\n  max = 5\n}")
	if err != nil {
		t.Fatal(err)
	}
	if p := job.TaskGroups[0].Scaling; *p.Min != 3 || *p.Max != 5 || !*p.Enabled || p.Type != "horizontal" {
		t.Fatalf("defaults %+v", p)
	}
	job, err = parse("scaling {\n  min = 2\n  max = 5\n}")
	if err != nil || job.TaskGroups[0].Count != 2 {
		t.Fatalf("count from min: %v", err)
	}
	for group, want := range map[string]string{
		"count = 9\nscaling {\n  max = 5\n}":                 "task group count must not be greater than maximum count",
		"count = 1\nscaling {\n  min = 2\n  max = 5\n}":      "task group count must not be less than minimum count",
		"scaling {\n  min = 1\n}":                            "maximum count is required",
		"scaling {\n  min = 6\n  max = 5\n}":                 "must not be less than minimum count",
		"scaling {\n  type = \"vertical_cpu\"\n  max = 1\n}": `scaling policy type "vertical_cpu" is not supported`,
	} {
		if _, err := parse(group); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", group, want, err)
		}
	}
}
