package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestHostNetworkE2E: a port with host_network = "alt" (the client's
// host_network "alt" on lo, 127.0.0.1) gets that network's address in
// NOMAD_IP_/NOMAD_ADDR_ and the task serves there, not on the node's own
// address; a port naming a network no node has is not placed, and the
// placement failure names it.
func TestHostNetworkE2E(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte(`plugin "raw_exec" {
  config {
    enabled = true
  }
}
client {
  host_network "alt" {
    interface = "lo"
    cidr      = "127.0.0.1/32"
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, ip, dataDir, "-dev", "-config", cfg)
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	job := func(id, network string) string {
		return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  group "g" {
    network {
      port "http" {
        host_network = %q
      }
      port "main" {}
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_IP_http $NOMAD_ADDR_http $NOMAD_IP_main > local/env; echo served > local/index.html; exec busybox httpd -f -p $NOMAD_ADDR_http -h local"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, id, network)
	}
	run := func(id, network string) {
		jt.add(id)
		if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, id+".hcl", job(id, network))); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
	}
	run("alt", "alt")
	al := waitAllocs(t, a, "alt", 1, structs.AllocClientStatusRunning, 60*time.Second)[0]
	var env []string
	waitFor(t, 10*time.Second, "env file", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(dataDir, "alloc", al.ID, "t/local/env"))
		env = strings.Fields(string(b))
		return len(env) == 3, fmt.Sprint(err)
	})
	if env[0] != "127.0.0.1" || !strings.HasPrefix(env[1], "127.0.0.1:") || env[2] != ip {
		t.Fatalf("NOMAD_IP_http NOMAD_ADDR_http NOMAD_IP_main = %v; want the alt network's address and the node's", env)
	}
	_, port, _ := net.SplitHostPort(env[1])
	var body string
	waitFor(t, 10*time.Second, "served on the host network", func() (bool, string) {
		resp, err := http.Get("http://" + env[1] + "/")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true, ""
	})
	if body != "served\n" {
		t.Fatalf("body %q", body)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %s also answers on the node's own address %s", port, ip)
	}

	run("nowhere", "nowhere")
	waitFor(t, 30*time.Second, "placement failure naming the network", func() (bool, string) {
		var evals []*structs.Evaluation
		if err := getJSON(a.addr()+"/v1/job/nowhere/evaluations", &evals); err != nil {
			return false, err.Error()
		}
		for _, ev := range evals {
			if m := ev.FailedTGAllocs["g"]; m != nil && m.ConstraintFiltered[`missing host network "nowhere" for port "http"`] == 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d evals", len(evals))
	})
	if n := len(jobAllocs(t, a, "nowhere")); n != 0 {
		t.Fatalf("%d allocations placed without the host network", n)
	}
}
