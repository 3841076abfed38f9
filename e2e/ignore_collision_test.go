package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestIgnoreCollisionE2E: two allocations of a group whose static port has
// ignore_collision run side by side on one node with the same host port
// (through the scheduler, the plan applier and the client's port
// allocator); a group without ignore_collision is then not placed beside
// them (the sharers hold the port against it).
func TestIgnoreCollisionE2E(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev", "-config", rawExecConfig(t))
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	job := func(id string, ignore bool) string {
		return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  group "g" {
    count = 2
    network {
      port "http" {
        static           = 18077
        ignore_collision = %v
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_PORT_http $NOMAD_HOST_PORT_http > $NOMAD_TASK_DIR/port; exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, id, ignore)
	}
	run := func(id string, ignore bool) {
		jt.add(id)
		if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, id+".hcl", job(id, ignore))); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
	}
	run("shared", true)
	allocs := waitAllocs(t, a, "shared", 2, structs.AllocClientStatusRunning, 60*time.Second)
	for _, al := range allocs {
		var got []byte
		waitFor(t, 10*time.Second, "port file", func() (bool, string) {
			var err error
			got, err = os.ReadFile(filepath.Join(dataDir, "alloc", al.ID, "t/local/port"))
			return err == nil, fmt.Sprint(err)
		})
		if string(got) != "18077 18077\n" {
			t.Fatalf("alloc %s: NOMAD_PORT_http/NOMAD_HOST_PORT_http = %q", al.Name, got)
		}
	}

	// The same group without ignore_collision: the sharers hold the port
	// against it (its program would meet theirs bound there, or join
	// their SO_REUSEPORT group without having asked to): none is placed.
	run("plain", false)
	waitEvalBlocked(t, a, "plain")
	if n := len(jobAllocs(t, a, "plain")); n != 0 {
		t.Fatalf("plain static port placed %d allocations beside the sharers, want 0", n)
	}
}

// reusePortJob serves "who" on the static port with SO_REUSEPORT, as the
// programs ignore_collision is meant for do.
const reusePortJob = `job %[1]q {
  datacenters = ["*"]
  group "g" {
    network {
      port "http" {
        static = %[2]d
        %[3]s
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/python3"
        args    = ["-c", <<EOT
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("%[4]s", %[2]d))
s.listen(64)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\n%[1]s\n")
    c.close()
EOT
        ]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`

// TestIgnoreCollisionCannotJoinAPlainHoldersPort: a job that did not ask
// to share its static port, serving it with SO_REUSEPORT, is not joined
// by a job with ignore_collision on the same port (the kernel would put
// both in one SO_REUSEPORT group and hand the newcomer a share of the
// victim's connections): the squatter is not placed beside it.
func TestIgnoreCollisionCannotJoinAPlainHoldersPort(t *testing.T) {
	ip := newIP()
	a := startAgent(t, ip, t.TempDir(), "-dev", "-config", rawExecConfig(t))
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	port := freeTCPPort(t, ip)
	url := fmt.Sprintf("http://%s:%d/", ip, port)
	jt.run("victim", fmt.Sprintf(reusePortJob, "victim", port, "", ip))
	waitAllocs(t, a, "victim", 1, structs.AllocClientStatusRunning, 60*time.Second)
	waitFor(t, 30*time.Second, "victim serving", func() (bool, string) {
		body, err := httpGet(url)
		return err == nil && strings.Contains(body, "victim"), fmt.Sprint(body, err)
	})
	jt.run("squat", fmt.Sprintf(reusePortJob, "squat", port, "ignore_collision = true", ip))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if body, _ := httpGet(url); strings.Contains(body, "squat") {
			t.Fatalf("a job with ignore_collision was handed connections to another job's port %d", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(jobAllocs(t, a, "squat")); n != 0 {
		t.Fatalf("ignore_collision placed %d allocations on a port a plain allocation holds", n)
	}
}

// waitEvalBlocked waits for one of the job's evaluations to be blocked:
// the scheduler found no node for it.
func waitEvalBlocked(t *testing.T, a *agentProc, jobID string) {
	t.Helper()
	waitFor(t, 30*time.Second, "an evaluation of "+jobID+" to block", func() (bool, string) {
		var evals []*structs.Evaluation
		if err := getJSON(a.addr()+"/v1/job/"+jobID+"/evaluations", &evals); err != nil {
			return false, err.Error()
		}
		for _, e := range evals {
			if e.Status == structs.EvalStatusBlocked {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d evals", len(evals))
	})
}
