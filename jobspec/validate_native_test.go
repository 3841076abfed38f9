package jobspec

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// What the native catalog, the check runners and the renderer cannot
// honour is refused at submit, on the paths Validate serves.
func TestValidateServicesAndTemplatesNative(t *testing.T) {
	cases := []struct {
		name string
		mod  func(j *structs.Job)
		want string
	}{
		{"group script check without task", func(j *structs.Job) {
			j.TaskGroups[0].Services[0].Checks[0] = &structs.ServiceCheck{Type: "script", Command: "/bin/true", Interval: time.Second, Timeout: time.Second}
		}, "a script check of a group service runs in a task"},
		{"check task that does not exist", func(j *structs.Job) {
			j.TaskGroups[0].Services[0].Checks[0].TaskName = "nope"
		}, `task "nope" does not exist in the group`},
		{"consul provider", func(j *structs.Job) { j.TaskGroups[0].Services[0].Provider = "consul" }, "Consul is not available"},
		{"driver address mode", func(j *structs.Job) { j.TaskGroups[0].Services[0].AddressMode = "driver" }, `address_mode "driver" is not supported`},
		{"alloc check address mode", func(j *structs.Job) { j.TaskGroups[0].Services[0].Checks[0].AddressMode = "alloc" }, "address_mode \"alloc\" needs the group's network mode to be bridge or cni/<name>"},
		{"expose", func(j *structs.Job) { j.TaskGroups[0].Services[0].Checks[0].Expose = true }, "expose creates a Consul Connect proxy path"},
		{"notes", func(j *structs.Job) { j.TaskGroups[0].Services[0].Checks[0].Notes = "n" }, "Consul is not available"},
		{"template with Consul", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: `{{ keyOrDefault "a" "b" }}`, DestPath: "local/x"}}
		}, `function "keyOrDefault": Consul is not available`},
		{"template plugin", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: `{{ plugin "x" }}`, DestPath: "local/x"}}
		}, "plugin function is not allowed"},
		{"template parse error", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: `{{ range }}`, DestPath: "local/x"}}
		}, "parse template"},
		{"script change mode without script", func(j *structs.Job) {
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: "x", DestPath: "local/x", ChangeMode: "script"}}
		}, "needs a change_script"},
		{"wait max below min", func(j *structs.Job) {
			lo, hi := 5*time.Second, time.Second
			j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: "x", DestPath: "local/x", Wait: &structs.WaitConfig{Min: &lo, Max: &hi}}}
		}, "max 1s is less than min 5s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := validJob(t)
			c.mod(j)
			if err := Validate(j); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	// What works passes: a group check_restart without a task restarts
	// the group's tasks, a script check names its task.
	j := validJob(t)
	j.TaskGroups[0].Services[0].Checks[0].CheckRestart = &structs.CheckRestart{Limit: 2}
	j.TaskGroups[0].Services[0].Checks = append(j.TaskGroups[0].Services[0].Checks,
		&structs.ServiceCheck{Name: "s", Type: "script", Command: "/bin/true", TaskName: "srv", Interval: time.Second, Timeout: time.Second})
	j.TaskGroups[0].Tasks[0].Templates = []*structs.Template{{ChangeMode: "restart", LeftDelim: "{{", RightDelim: "}}", EmbeddedTmpl: `{{ range nomadService "web" }}{{ .Port }}{{ end }}`, DestPath: "local/x"}}
	if err := Validate(j); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
}
