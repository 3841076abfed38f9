package jobspec

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func TestParseJSONForms(t *testing.T) {
	bare := `{"ID":"j","Type":"batch","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"exec","Config":{"command":"/bin/true"}}]}]}`
	for name, src := range map[string]string{"bare": bare, "wrapped": `{"Job":` + bare + `,"EnforceIndex":false}`} {
		t.Run(name, func(t *testing.T) {
			job, err := ParseJSON([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if job.ID != "j" || job.Name != "j" || job.Region != "global" || job.Namespace != "default" {
				t.Fatalf("job identity/defaults wrong: %+v", job)
			}
			tg := job.TaskGroups[0]
			// An absent Count means 1, as in Nomad's API (structs.TaskGroup
			// tells absent from an explicit 0 when decoding).
			if tg.Count != 1 {
				t.Errorf("count = %d", tg.Count)
			}
			if tg.RestartPolicy.Attempts != 3 || tg.RestartPolicy.Interval != 24*time.Hour {
				t.Errorf("batch restart defaults not applied: %+v", tg.RestartPolicy)
			}
			if tg.ReschedulePolicy.Attempts != 1 || tg.ReschedulePolicy.DelayFunction != "constant" {
				t.Errorf("batch reschedule defaults not applied: %+v", tg.ReschedulePolicy)
			}
			task := tg.Tasks[0]
			if task.Resources.CPU != 100 || task.Resources.MemoryMB != 300 || task.KillTimeout != 5*time.Second {
				t.Errorf("task defaults: %+v kill %v", task.Resources, task.KillTimeout)
			}
			if task.LogConfig.MaxFiles != 10 || task.LogConfig.MaxFileSizeMB != 10 {
				t.Errorf("log defaults: %+v", task.LogConfig)
			}
			if job.Update != nil || tg.Migrate != nil {
				t.Errorf("batch jobs get no update/migrate defaults")
			}
			if err := Validate(job); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	cases := map[string]string{
		"syntax":   "{\n  \"ID\": \"x\",\n  oops\n}",
		"type":     "{\n  \"ID\": 5\n}",
		"trailing": `{"ID":"x"} {"ID":"y"}`,
		"null job": `{"Job": null}`,
		"null tg":  `{"ID":"x","TaskGroups":[null]}`,
	}
	wants := map[string]string{
		"syntax":   "3:4:",
		"type":     "2:10:",
		"trailing": "1:13:",
		"null job": `"Job" is null`,
		"null tg":  "TaskGroups[0] is null",
	}
	for name, src := range cases {
		_, err := ParseJSON([]byte(src))
		if err == nil || !strings.Contains(err.Error(), wants[name]) {
			t.Errorf("%s: want %q in error, got %v", name, wants[name], err)
		}
	}
}

// The HTTP server canonicalizes JSON jobs whose optional blocks are absent.
func TestCanonicalizeZeroJob(t *testing.T) {
	job := &structs.Job{ID: "z", TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 2, Tasks: []*structs.Task{{Name: "t", Driver: "exec",
		Templates: []*structs.Template{{EmbeddedTmpl: "x", DestPath: "local/x", ChangeMode: "signal"}},
		Services:  []*structs.Service{{}}}}}}}
	Canonicalize(job)
	if job.Type != "service" || job.Priority != 50 || job.NodePool != "default" || len(job.Datacenters) != 1 || job.Datacenters[0] != "*" {
		t.Fatalf("job defaults: %+v", job)
	}
	tg := job.TaskGroups[0]
	if *tg.RestartPolicy != *DefaultRestartPolicy("service") || *tg.ReschedulePolicy != *DefaultReschedulePolicy("service") {
		t.Errorf("policies: %+v %+v", tg.RestartPolicy, tg.ReschedulePolicy)
	}
	if *tg.Update != *DefaultUpdateStrategy() || *tg.Migrate != *DefaultMigrateStrategy() || tg.EphemeralDisk.SizeMB != 300 {
		t.Errorf("update/migrate/disk: %+v %+v %+v", tg.Update, tg.Migrate, tg.EphemeralDisk)
	}
	task := tg.Tasks[0]
	if tmpl := task.Templates[0]; tmpl.ChangeSignal != "SIGHUP" || tmpl.Splay != 5*time.Second || tmpl.Perms != "0644" {
		t.Errorf("template: %+v", tmpl)
	}
	if s := task.Services[0]; s.Name != "z-g-t" || s.Provider != "nomad" || s.AddressMode != "auto" {
		t.Errorf("service: %+v", s)
	}
	if *task.RestartPolicy != *tg.RestartPolicy || task.RestartPolicy == tg.RestartPolicy {
		t.Errorf("task restart must be a copy of the group's")
	}
	// Nil entries must not crash either step.
	job.TaskGroups = append(job.TaskGroups, nil)
	job.Constraints = []*structs.Constraint{nil}
	Canonicalize(job)
	if err := Validate(job); err == nil {
		t.Fatal("nil entries must be reported")
	}
}

// Within HCL, explicit zeros survive and partial blocks merge with defaults.
func TestExplicitZeroAndMerge(t *testing.T) {
	job, err := Parse(ParseConfig{Body: []byte(`job "m" {
  update {
    max_parallel = 3
  }
  reschedule {
    attempts = 4
    interval = "1h"
  }
  group "g" {
    count = 0
    update {
      max_parallel = 0
    }
    restart {
      attempts = 0
    }
    task "t" {
      driver = "exec"
      restart {
        delay = "1s"
      }
    }
  }
}`), skipFieldCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	tg := job.TaskGroups[0]
	if tg.Count != 0 || tg.Update.MaxParallel != 0 || tg.Update.HealthyDeadline != 5*time.Minute {
		t.Errorf("group update/count: %d %+v", tg.Count, tg.Update)
	}
	if job.Update.MaxParallel != 3 {
		t.Errorf("job update: %+v", job.Update)
	}
	if r := tg.ReschedulePolicy; r.Attempts != 4 || r.Interval != time.Hour || r.Unlimited || r.DelayFunction != "exponential" {
		t.Errorf("reschedule merge: %+v", r)
	}
	if r := tg.RestartPolicy; r.Attempts != 0 || r.Interval != 30*time.Minute {
		t.Errorf("group restart: %+v", r)
	}
	if r := tg.Tasks[0].RestartPolicy; r.Attempts != 0 || r.Delay != time.Second || r.Mode != "fail" {
		t.Errorf("task restart: %+v", r)
	}
}

func TestExampleJob(t *testing.T) {
	for _, short := range []bool{true, false} {
		job, err := Parse(ParseConfig{Path: "example.nomad.hcl", Body: []byte(ExampleJob(short))})
		if err != nil {
			t.Fatalf("short=%v: %v", short, err)
		}
		if err := Validate(job); err != nil {
			t.Fatalf("short=%v: %v", short, err)
		}
	}
}

// LogConfig.Enabled, Nomad's older spelling, is folded into Disabled on
// both paths, so the client (which reads Disabled) honours it.
func TestLogsEnabledFoldsIntoDisabled(t *testing.T) {
	job, err := Parse(ParseConfig{Body: []byte(`job "l" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      logs {
        enabled = false
      }
    }
  }
}`)})
	if err != nil {
		t.Fatal(err)
	}
	if l := job.TaskGroups[0].Tasks[0].LogConfig; !l.Disabled || l.Enabled != nil {
		t.Fatalf("HCL logs: %+v", l)
	}
	j2, err := ParseJSON([]byte(`{"ID":"l","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","LogConfig":{"Enabled":false}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if l := j2.TaskGroups[0].Tasks[0].LogConfig; !l.Disabled || l.Enabled != nil {
		t.Fatalf("JSON logs: %+v", l)
	}
}
