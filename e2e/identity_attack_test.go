package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// identityJob is an exec task printing who it runs as, with user, a
// restart policy that would retry a failed start (so a refusal that is
// retried shows up as restarts) and rescheduling off.
func identityJob(jobID, user string) string {
	return fmt.Sprintf(`job %q {
  group "g" {
    restart {
      attempts = 3
      delay    = "1s"
      interval = "1m"
      mode     = "delay"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "t" {
      driver = "exec"
      user   = %q
      config {
        command = "/bin/sh"
        args    = ["-c", "echo who=$(id -u):$(id -g); sleep 600"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`, jobID, user)
}

// TestAttackUIDOverflowAndGroupZero is issue 8's attack 2 end to end: an
// exec task with user = "4294967296" used to pass user.denylist and run as
// uid 0 (the number wrapped when cast to uint32), and "65534:0" ran with
// gid 0. Now the first is refused at submit (HCL through the CLI, JSON
// through the API) and the second fails its allocation at once with the
// reason, without restarts; an allowed user still runs as itself.
func TestAttackUIDOverflowAndGroupZero(t *testing.T) {
	needDriver(t, "exec")
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)

	// Refused at submit, CLI path.
	p := filepath.Join(t.TempDir(), "wrap.nomad.hcl")
	if err := os.WriteFile(p, []byte(identityJob("wrap", "4294967296")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := a.cli(t, "job", "run", "-detach", p)
	if code == 0 || !strings.Contains(out, `invalid user "4294967296"`) {
		t.Fatalf("job run with user 4294967296: exit %d\n%s", code, out)
	}
	// Refused at submit, API path, with the field path.
	body := `{"Job":{"ID":"wrapjson","Name":"wrapjson","Type":"service","Datacenters":["*"],"TaskGroups":[{"Name":"g","Count":1,` +
		`"Tasks":[{"Name":"t","Driver":"exec","User":"4294967296","Config":{"command":"/bin/true"},"Resources":{"CPU":50,"MemoryMB":32}}]}]}}`
	resp, err := http.Post(a.addr()+"/v1/jobs", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), `task "t" -> user`) {
		t.Fatalf("PUT /v1/jobs with user 4294967296: %d %s", resp.StatusCode, msg)
	}
	for _, id := range []string{"wrap", "wrapjson"} {
		var job structs.Job
		if err := getJSON(a.addr()+"/v1/job/"+id, &job); err == nil {
			t.Fatalf("job %s was registered", id)
		}
	}

	// gid 0: accepted at submit (it is well-formed), refused by the
	// client's group.denylist when it would run, once.
	jt.run("gid0", identityJob("gid0", "65534:0"))
	jt.run("nobody", identityJob("nobody", "nobody"))
	id := jt.oneAlloc("gid0")
	al := waitTaskState(t, a, id, "t", 30*time.Second, "gid0 failed", func(al *structs.Allocation, ts *structs.TaskState) bool {
		return al.ClientStatus == structs.AllocClientStatusFailed
	})
	ts := al.TaskStates["t"]
	if ts.Restarts != 0 || !ts.Failed {
		t.Fatalf("a host-policy refusal was retried: restarts %d; %s", ts.Restarts, taskEvents(ts))
	}
	if ev := taskEvents(ts); !strings.Contains(ev, "gid 0 is denied by the client's group.denylist") {
		t.Fatalf("the reason is not in the task's events: %s", ev)
	}
	if out, _ := fetchLogs(a, id, "t", "stdout", "start", 0); strings.Contains(out, "who=") {
		t.Fatalf("the refused task ran: %q", out)
	}

	nid := jt.oneAlloc("nobody")
	waitFor(t, 30*time.Second, "nobody's task output", func() (bool, string) {
		out, err := fetchLogs(a, nid, "t", "stdout", "start", 0)
		return strings.Contains(out, "who=65534:65534"), fmt.Sprintf("%q %v", out, err)
	})
}
