package e2e

import (
	"fmt"
	"github.com/orch-project/orch/structs"
	"strings"
	"testing"
	"time"
)

// bridgeServeJob is a bridge group whose raw_exec task answers "who" on
// 8080 inside its namespace, published at the static host port.
const bridgeServeJob = `job %[1]q {
  group "g" {
    network {
      mode = "bridge"
      port "http" {
        static = %[2]d
        to     = 8080
        %[3]s
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "mkdir -p $NOMAD_TASK_DIR/www && echo %[1]s > $NOMAD_TASK_DIR/www/index.html && exec busybox httpd -f -p 8080 -h $NOMAD_TASK_DIR/www"]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

// TestBridgeIgnoreCollisionCannotHijack: a bridge group publishes its
// ports with DNAT rules (portmap), not with a bind the kernel would
// refuse, so ignore_collision there would let a job take over the host
// port another allocation (or the operator) holds. Such a job must be
// refused; the victim keeps answering on its port.
func TestBridgeIgnoreCollisionCannotHijack(t *testing.T) {
	needBridge(t)
	env := startBridgeAgent(t, "", "victim", "thief")
	a, ip := env.a, env.ip
	port := freeTCPPort(t, ip)
	url := fmt.Sprintf("http://%s:%d/", ip, port)

	// The thief squats the port first; the scheduler does not count it as
	// held, so the victim is placed on the same node and port after it.
	out, code := a.cli(t, "job", "run", "-detach", writeJob(t, "thief.hcl", fmt.Sprintf(bridgeServeJob, "thief", port, "ignore_collision = true")))
	env.jt.add("thief")
	if code == 0 {
		waitAllocs(t, a, "thief", 1, "running", 60*time.Second)
	} else if !strings.Contains(out, "ignore_collision") {
		t.Fatalf("job run refused without naming ignore_collision (exit %d):\n%s", code, out)
	}
	env.jt.run("victim", fmt.Sprintf(bridgeServeJob, "victim", port, ""))
	victim := env.jt.oneAlloc("victim")
	waitAllocs(t, a, "victim", 1, "running", 60*time.Second)
	// The victim serves inside its namespace before its port is checked.
	waitFor(t, 30*time.Second, "victim serving in its namespace", func() (bool, string) {
		addr := allocAddress(t, a, victim)
		body, err := httpGet("http://" + addr + ":8080/")
		return err == nil && strings.Contains(body, "victim"), fmt.Sprint(body, err)
	})
	var body string
	for i := 0; i < 10; i++ {
		b, err := httpGet(url)
		if strings.Contains(b, "thief") {
			t.Fatalf("a bridge job with ignore_collision took over the host port %d of another job's running allocation", port)
		}
		if err == nil {
			body = b
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code == 0 {
		t.Fatalf("a bridge port with ignore_collision was accepted:\n%s", out)
	}
	if !strings.Contains(body, "victim") {
		t.Fatalf("victim's port: %q", body)
	}
}

// dockerSquatJob is a host-networking group whose docker task publishes
// the static port with ignore_collision through docker's port mapping.
const dockerSquatJob = `job "dsquat" {
  group "g" {
    network {
      port "http" {
        static           = %d
        to               = 8080
        ignore_collision = true
      }
    }
    task "t" {
      driver = "docker"
      config {
        image   = "orch-test/busybox:latest"
        command = "sh"
        args    = ["-c", "mkdir -p /tmp/www && echo thief > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
        ports   = ["http"]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

// TestDockerIgnoreCollisionCannotHijackBridgePort: docker publishes a
// host-networking task's ports with its own DNAT rules, which come before
// portmap's, and nothing binds a bridge allocation's host port that
// docker-proxy would collide with: a docker task with ignore_collision
// would take the port of a bridge allocation already running. A port a
// plain allocation holds is shared with nobody (the scheduler does not
// place the squatter); should a squatter ever reach the client, its
// driver refuses to publish the port. Either way the bridge allocation
// keeps answering.
func TestDockerIgnoreCollisionCannotHijackBridgePort(t *testing.T) {
	needBridge(t)
	needDocker(t)
	env := startBridgeAgent(t, "", "victim", "dsquat")
	a, ip := env.a, env.ip
	port := freeTCPPort(t, ip)
	url := fmt.Sprintf("http://%s:%d/", ip, port)
	env.jt.run("victim", fmt.Sprintf(bridgeServeJob, "victim", port, ""))
	env.jt.oneAlloc("victim")
	waitFor(t, 60*time.Second, "victim on its mapped port", func() (bool, string) {
		body, err := httpGet(url)
		return err == nil && strings.Contains(body, "victim"), fmt.Sprint(body, err)
	})
	env.jt.run("dsquat", fmt.Sprintf(dockerSquatJob, port))
	// Long enough for a placed squatter's container to start and publish.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if body, _ := httpGet(url); strings.Contains(body, "thief") {
			t.Fatalf("a docker task with ignore_collision took over the bridge allocation's host port %d", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, al := range jobAllocs(t, a, "dsquat") {
		if al.ClientStatus == structs.AllocClientStatusRunning {
			t.Fatalf("the squatting docker task runs (alloc %s) on a port a bridge allocation holds", al.ID)
		}
	}
}
