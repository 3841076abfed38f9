package command

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// rolloutEnv is a real server (Raft on disk) behind the HTTP API, with a
// stand-in client that reports allocations running, healthy unless their
// command is /bin/false (then failed). The e2e tests drive real clients.
type rolloutEnv struct {
	srv   *server.Server
	url   string
	dir   string
	files int
}

func newRolloutEnv(t *testing.T) *rolloutEnv {
	t.Helper()
	s, url := servertest.HTTP(t)
	servertest.Nodes(t, s, 5)
	servertest.StandInClient(t, s, func(a *structs.Allocation) (string, *bool) {
		if a.Job != nil && a.Job.TaskGroups[0].Tasks[0].Config["command"] == "/bin/false" {
			no := false
			return structs.AllocClientStatusFailed, &no
		}
		return servertest.Healthy(a)
	})
	return &rolloutEnv{srv: s, url: url, dir: t.TempDir()}
}

func (e *rolloutEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	words := 2
	full := append(append(append([]string{}, args[:words]...), "-address", e.url), args[words:]...)
	return runCLI(t, full...)
}

// jobFile writes a rolling service job file and returns its path.
func (e *rolloutEnv) jobFile(t *testing.T, name string, count, maxParallel int, command, arg string) string {
	t.Helper()
	src := fmt.Sprintf(`job %q {
  datacenters = ["dc1"]
  update {
    max_parallel     = %d
    health_check     = "task_states"
    min_healthy_time = "0s"
    healthy_deadline = "1m"
    auto_revert      = true
  }
  group "g" {
    count = %d
    restart {
      attempts = 0
      mode     = "fail"
    }
    # After a rollback the failed allocation's slot is refilled after
    # this delay (the default is 30s; 5s is the least Nomad allows).
    reschedule {
      delay          = "5s"
      delay_function = "constant"
      unlimited      = true
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = %q
        args    = [%q]
      }
    }
  }
}
`, name, maxParallel, count, command, arg)
	e.files++
	path := filepath.Join(e.dir, fmt.Sprintf("%s-%d.nomad.hcl", name, e.files))
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantOut(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

var checkIndexRe = regexp.MustCompile(`job run -check-index (\d+) `)

func TestJobPlanDiffCountsAndCheckIndex(t *testing.T) {
	e := newRolloutEnv(t)
	v0 := e.jobFile(t, "web", 3, 1, "/bin/sleep", "100")
	code, out, errs := e.run(t, "job", "plan", v0)
	if code != planChanges {
		t.Fatalf("plan of a new job exited %d, want 1:\n%s%s", code, out, errs)
	}
	wantOut(t, out, `+ Job: "web"`, `+ Task Group: "g" (3 create)`, `+ Task: "t" (forces create)`,
		"- All tasks successfully allocated.", "Job Modify Index: 0", "orch job run -check-index 0 "+v0)

	if code, out, errs := e.run(t, "job", "run", v0); code != 0 {
		t.Fatalf("job run exited %d:\n%s%s", code, out, errs)
	} else {
		wantOut(t, out, "Evaluation within deployment", "Monitoring deployment", "Deployment completed successfully", "successful")
	}

	// Nothing changed: exit 0, all ignored.
	code, out, _ = e.run(t, "job", "plan", v0)
	if code != planNoChange {
		t.Fatalf("plan of the unchanged job exited %d:\n%s", code, out)
	}
	wantOut(t, out, `  Task Group: "g" (3 ignore)`)

	// A destructive change: one replaced at a time (max_parallel 1).
	v1 := e.jobFile(t, "web", 3, 1, "/bin/sleep", "200")
	code, out, _ = e.run(t, "job", "plan", v1)
	if code != planChanges {
		t.Fatalf("destructive plan exited %d:\n%s", code, out)
	}
	wantOut(t, out, `+/- Job: "web"`, `+/- Task Group: "g" (1 create/destroy update, 2 ignore)`,
		`+/- Task: "t" (forces create/destroy update)`, "+/- Config {", `+/- args[0]: "100" => "200"`)
	m := checkIndexRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no check-index hint:\n%s", out)
	}

	// An in-place change (the update block) creates and destroys nothing.
	inplace := e.jobFile(t, "web", 3, 2, "/bin/sleep", "100")
	code, out, _ = e.run(t, "job", "plan", inplace)
	if code != planNoChange {
		t.Fatalf("in-place plan exited %d:\n%s", code, out)
	}
	wantOut(t, out, `+/- Task Group: "g" (3 in-place update)`, `+/- MaxParallel: "1" => "2"`)

	// A stale index refuses the run; the planned one goes through.
	code, _, errs = e.run(t, "job", "run", "-detach", "-check-index", "1", v1)
	if code != 1 || !strings.Contains(errs, "Enforcing job modify index 1: job exists with conflicting job modify index") ||
		!strings.Contains(errs, "Job not updated") {
		t.Fatalf("stale check-index exited %d:\n%s", code, errs)
	}
	if code, out, errs := e.run(t, "job", "run", "-check-index", m[1], v1); code != 0 {
		t.Fatalf("run with the planned index exited %d:\n%s%s", code, out, errs)
	}

	// History with diffs, deployments, revert.
	code, out, _ = e.run(t, "job", "history", "-p", "web")
	if code != 0 {
		t.Fatalf("history exited %d", code)
	}
	wantOut(t, out, "Version     = 1", "Stable      = true", "Version     = 0", `+/- args[0]: "100" => "200"`)
	code, out, _ = e.run(t, "deployment", "list")
	if code != 0 || strings.Count(out, "successful  Deployment completed successfully") != 2 {
		t.Fatalf("deployment list exited %d:\n%s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, _ = e.run(t, "deployment", "status", id)
	if code != 0 {
		t.Fatalf("deployment status exited %d", code)
	}
	wantOut(t, out, "Job ID      = web", "Status      = successful", "Task Group  Auto Revert  Desired  Placed  Healthy  Unhealthy  Progress Deadline")
	if code, _, errs := e.run(t, "deployment", "fail", id); code != 1 || !strings.Contains(errs, "can't fail terminal deployment") {
		t.Fatalf("failing a finished deployment exited %d: %s", code, errs)
	}
	code, out, _ = e.run(t, "job", "status", "web")
	if code != 0 {
		t.Fatalf("job status exited %d", code)
	}
	wantOut(t, out, "Latest Deployment", "Status      = successful", "Description = Deployment completed successfully")
	if code, out, errs := e.run(t, "job", "revert", "web", "0"); code != 0 {
		t.Fatalf("revert exited %d:\n%s%s", code, out, errs)
	}
	if code, out, errs := e.run(t, "job", "eval", "-force-reschedule", "web"); code != 0 {
		t.Fatalf("job eval exited %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := e.run(t, "job", "stop", "-detach", "-eval-priority", "150", "web"); code != 1 ||
		!strings.Contains(errs, "eval priority must be between 1 and 100") {
		t.Fatalf("stop with a bad eval priority exited %d: %s", code, errs)
	}
}

func TestJobRunExitsNonZeroWhenDeploymentFails(t *testing.T) {
	e := newRolloutEnv(t)
	if code, out, errs := e.run(t, "job", "run", e.jobFile(t, "api", 2, 1, "/bin/sleep", "100")); code != 0 {
		t.Fatalf("good version exited %d:\n%s%s", code, out, errs)
	}
	code, out, _ := e.run(t, "job", "run", e.jobFile(t, "api", 2, 1, "/bin/false", "x"))
	if code != 1 {
		t.Fatalf("failing deployment exited %d, want 1:\n%s", code, out)
	}
	wantOut(t, out, "Failed due to unhealthy allocations - rolling back to job version 0",
		"Monitoring rollback deployment", "Deployment completed successfully")
}
