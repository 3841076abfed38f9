package jobspec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// validJob is a job using blocks the field-state table refuses today
// (services): these tests check Validate's rules for those blocks, which
// apply once they work, so the table is left out (validate(job, false)).
func validJob(t *testing.T) *structs.Job {
	t.Helper()
	job, err := Parse(ParseConfig{Body: []byte(`job "ok" {
  group "web" {
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "srv" {
      driver = "docker"
      config {
        image = "x"
      }
    }
  }
}`), skipFieldCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(job, false); err != nil {
		t.Fatalf("base job invalid: %v", err)
	}
	return job
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(j *structs.Job)
		want   string
	}{
		{"missing ID", func(j *structs.Job) { j.ID = "" }, "missing job ID"},
		{"space in ID", func(j *structs.Job) { j.ID = "a b" }, `job ID "a b" must not contain spaces`},
		{"bad type", func(j *structs.Job) { j.Type = "daemon" }, `invalid job type "daemon"`},
		{"priority", func(j *structs.Job) { j.Priority = 101 }, "priority 101 must be between 1 and 100"},
		{"no groups", func(j *structs.Job) { j.TaskGroups = nil }, "job must have at least one group"},
		{"duplicate group", func(j *structs.Job) {
			g := *j.TaskGroups[0]
			j.TaskGroups = append(j.TaskGroups, &g)
		}, `group "web": duplicate group name "web"`},
		{"negative count", func(j *structs.Job) { j.TaskGroups[0].Count = -1 }, `group "web": count -1 must not be negative`},
		{"duplicate task", func(j *structs.Job) {
			tk := *j.TaskGroups[0].Tasks[0]
			j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &tk)
		}, `group "web" -> task "srv": duplicate task name "srv"`},
		{"low memory", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Resources.MemoryMB = 5 }, `group "web" -> task "srv": memory must be at least 10 MB`},
		{"unknown driver", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Driver = "podman" }, `group "web" -> task "srv": unknown driver "podman"`},
		{"lost_after with stop_on_client_after", func(j *structs.Job) {
			d := time.Minute
			j.TaskGroups[0].Disconnect = &structs.DisconnectStrategy{LostAfter: time.Hour, StopOnClientAfter: &d}
		}, `group "web" -> disconnect: lost_after and stop_on_client_after cannot both be set`},
		{"bad reconcile", func(j *structs.Job) {
			j.TaskGroups[0].Disconnect = &structs.DisconnectStrategy{Reconcile: "newest"}
		}, `group "web" -> disconnect: invalid reconcile "newest"`},
		{"bad operator", func(j *structs.Job) {
			j.Constraints = []*structs.Constraint{{LTarget: "${attr.a}", RTarget: "b", Operand: "~="}}
		}, `constraint[0]: invalid constraint operator "~="`},
		{"bad regexp", func(j *structs.Job) {
			j.Constraints = []*structs.Constraint{{LTarget: "${attr.a}", RTarget: "(", Operand: "regexp"}}
		}, `invalid regexp "("`},
		{"bad restart mode", func(j *structs.Job) { j.TaskGroups[0].RestartPolicy.Mode = "sometimes" }, `group "web" -> restart: invalid restart mode "sometimes"`},
		{"restart too tight", func(j *structs.Job) {
			j.TaskGroups[0].RestartPolicy.Interval = time.Second
		}, `cannot restart 2 times with a delay of 15s within an interval of 1s`},
		{"cron syntax", func(j *structs.Job) {
			j.Type = structs.JobTypeBatch
			j.Periodic = &structs.PeriodicConfig{Enabled: true, Spec: "every day", SpecType: "cron"}
		}, `periodic: invalid cron expression "every day"`},
		{"periodic service", func(j *structs.Job) {
			j.Periodic = &structs.PeriodicConfig{Enabled: true, Spec: "@daily", SpecType: "cron"}
		}, `periodic jobs must be of type batch or sysbatch`},
		{"undefined port", func(j *structs.Job) { j.TaskGroups[0].Services[0].PortLabel = "grpc" }, `group "web" -> service "web": port label "grpc" is not defined by any network in the group`},
		{"undefined check port", func(j *structs.Job) { j.TaskGroups[0].Services[0].Checks[0].PortLabel = "admin" }, `check[0]: port label "admin" is not defined`},
		{"task service undefined port", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Services = []*structs.Service{{Name: "s", PortLabel: "nope", Provider: "nomad"}}
		}, `task "srv" -> service "s": port label "nope"`},
		{"bad lifecycle hook", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Lifecycle = &structs.TaskLifecycle{Hook: "prerun"}
		}, `invalid lifecycle hook "prerun"`},
		{"only lifecycle tasks", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Lifecycle = &structs.TaskLifecycle{Hook: "prestart"}
		}, `group must have at least one task without a lifecycle block`},
		{"poststop sidecar", func(j *structs.Job) {
			j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &structs.Task{Name: "side", Driver: "exec",
				Resources: &structs.Resources{CPU: 100, MemoryMB: 100}, Lifecycle: &structs.TaskLifecycle{Hook: "poststop", Sidecar: true}})
		}, `a poststop task cannot be a sidecar`},
		{"two leaders", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Leader = true
			j.TaskGroups[0].Tasks = append(j.TaskGroups[0].Tasks, &structs.Task{Name: "b", Driver: "exec", Leader: true,
				Resources: &structs.Resources{CPU: 100, MemoryMB: 100}})
		}, `only one task may be the leader`},
		{"volume mount unknown", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].VolumeMounts = []*structs.VolumeMount{{Volume: "data", Destination: "/d", PropagationMode: "private"}}
		}, `volume "data" is not defined in the group`},
		{"template escape", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{EmbeddedTmpl: "x", DestPath: "../../etc/passwd",
				ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}"}}
		}, `escapes the task directory`},
		{"reschedule delay", func(j *structs.Job) { j.TaskGroups[0].ReschedulePolicy.Delay = time.Second }, `delay 1s must be at least 5s`},
		{"update deadline", func(j *structs.Job) { j.TaskGroups[0].Update.HealthyDeadline = time.Second }, `min_healthy_time (10s) must be less than healthy_deadline (1s)`},
		{"affinity weight", func(j *structs.Job) {
			j.Affinities = []*structs.Affinity{{LTarget: "${node.class}", RTarget: "x", Operand: "=", Weight: 0}}
		}, `affinity weight 0 must be non-zero`},
		{"spread percent", func(j *structs.Job) {
			j.Spreads = []*structs.Spread{{Attribute: "${node.datacenter}", Weight: 50,
				SpreadTarget: []*structs.SpreadTarget{{Value: "a", Percent: 70}, {Value: "b", Percent: 40}}}}
		}, `spread target percentages add up to 110`},
		{"null group", func(j *structs.Job) { j.TaskGroups = append(j.TaskGroups, nil) }, `group[1]: group is null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := validJob(t)
			tc.mutate(job)
			err := validate(job, false)
			if err == nil {
				t.Fatalf("want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q in:\n%v", tc.want, err)
			}
		})
	}
}

// Validate reports every problem in one pass, each with its location.
func TestValidateGathersAll(t *testing.T) {
	job := validJob(t)
	job.ID = ""
	job.Type = "nope"
	job.TaskGroups[0].Tasks[0].Resources.MemoryMB = 1
	job.TaskGroups[0].Tasks[0].Driver = "x"
	err := validate(job, false)
	var verrs []*ValidationError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ve *ValidationError
		if errors.As(e, &ve) {
			verrs = append(verrs, ve)
		}
	}
	if len(verrs) != 4 {
		t.Fatalf("want 4 errors, got %d:\n%v", len(verrs), err)
	}
	if verrs[2].Path != `group "web" -> task "srv"` {
		t.Errorf("path = %q", verrs[2].Path)
	}
}
