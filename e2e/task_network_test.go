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

// legacyNetworkJob declares its ports the pre-0.10 way, in the task's
// resources { network } block; the task writes its port variables and
// serves on NOMAD_PORT_http.
const legacyNetworkJob = `job "legacy" {
  datacenters = ["*"]
  group "g" {
    task "web" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/python3"
        args    = ["-c", <<EOT
import os, socket
e = os.environ
with open(e["NOMAD_TASK_DIR"] + "/ports", "w") as f:
    f.write(" ".join([e["NOMAD_PORT_http"], e["NOMAD_ADDR_http"], e["NOMAD_IP_http"], e["NOMAD_PORT_admin"]]))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((e["NOMAD_IP_http"], int(e["NOMAD_PORT_http"])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nlegacy\n")
    c.close()
EOT
        ]
      }
      service {
        name     = "legacy-web"
        port     = "http"
        provider = "nomad"
      }
      resources {
        cpu    = 20
        memory = 32
        network {
          mbits = 10
          port "http" {}
          port "admin" {
            static = %d
          }
        }
      }
    }
  }
}
`

// TestTaskLevelNetworkE2E: a raw_exec task whose ports are declared in a
// task-level network (folded into the group's host network) gets
// NOMAD_PORT/ADDR/IP_<label>, a real process serves on its dynamic port,
// its service registers that port, and its static port is held against
// another job asking for the same port.
func TestTaskLevelNetworkE2E(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev", "-config", rawExecConfig(t))
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	admin := freeTCPPort(t, ip)
	jt.run("legacy", fmt.Sprintf(legacyNetworkJob, admin))
	allocs := waitAllocs(t, a, "legacy", 1, structs.AllocClientStatusRunning, 60*time.Second)

	var got []byte
	waitFor(t, 10*time.Second, "ports file", func() (bool, string) {
		var err error
		got, err = os.ReadFile(filepath.Join(dataDir, "alloc", allocs[0].ID, "web/local/ports"))
		return err == nil && len(got) > 0, fmt.Sprint(err)
	})
	f := strings.Fields(string(got))
	if len(f) != 4 || f[1] != ip+":"+f[0] || f[2] != ip || f[3] != fmt.Sprint(admin) || f[0] == "0" {
		t.Fatalf("NOMAD_PORT_http NOMAD_ADDR_http NOMAD_IP_http NOMAD_PORT_admin = %q (ip %s, admin %d)", got, ip, admin)
	}
	waitFor(t, 20*time.Second, "task serving on NOMAD_PORT_http", func() (bool, string) {
		body, err := httpGet("http://" + f[1] + "/")
		return err == nil && strings.Contains(body, "legacy"), fmt.Sprint(body, err)
	})
	waitFor(t, 20*time.Second, "service on the http port", func() (bool, string) {
		regs := serviceInstances(t, a, "legacy-web")
		return len(regs) == 1 && fmt.Sprint(regs[0].Port) == f[0], fmt.Sprintf("%+v", regs)
	})

	// The static port is the allocation's: another job asking for it is
	// not placed on the node.
	jt.run("squat", strings.NewReplacer(`"legacy"`, `"squat"`, `"legacy-web"`, `"squat-web"`).Replace(fmt.Sprintf(legacyNetworkJob, admin)))
	waitEvalBlocked(t, a, "squat")
	if n := len(jobAllocs(t, a, "squat")); n != 0 {
		t.Fatalf("a second job was placed on static port %d, held by the first: %d allocations", admin, n)
	}
}
