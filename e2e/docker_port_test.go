package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

const dockerWebJob = `job "web" {
  group "g" {
    network {
      port "http" {
        to = 8080
      }
    }
    task "httpd" {
      driver       = "docker"
      kill_timeout = "3s"
      config {
        image   = "orch-test/busybox:latest"
        command = "sh"
        args    = ["-c", "mkdir -p /tmp/www && echo served-by-$NOMAD_ALLOC_ID-at-$NOMAD_HOST_ADDR_http > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
        ports   = ["http"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`

// TestDockerServiceMappedPort runs busybox httpd in a container listening on
// 8080, mapped to a host port the client assigns, and reaches it on the
// agent's address at the port the allocation reports. Stopping the job
// removes the container within its kill_timeout (httpd, as PID 1, ignores
// SIGTERM, so this is the forced kill).
func TestDockerServiceMappedPort(t *testing.T) {
	needDocker(t)
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)

	jt.run("web", dockerWebJob)
	id := jt.oneAlloc("web")
	al := waitTaskState(t, a, id, "httpd", 30*time.Second, "httpd running",
		func(al *structs.Allocation, ts *structs.TaskState) bool {
			return al.ClientStatus == structs.AllocClientStatusRunning
		})
	var port structs.AllocatedPort
	if ar := al.AllocatedResources; ar != nil {
		for _, p := range ar.Shared.Ports {
			if p.Label == "http" {
				port = p
			}
		}
	}
	if port.Value <= 0 || port.To != 8080 {
		t.Fatalf("allocation reports no host port for http (want a dynamic port mapped to 8080): %+v", al.AllocatedResources)
	}
	if port.HostIP != a.ip {
		t.Errorf("port http HostIP = %q, want the agent's address %s", port.HostIP, a.ip)
	}

	url := fmt.Sprintf("http://%s:%d/", a.ip, port.Value)
	// The task's environment names the same host address and port.
	want := fmt.Sprintf("served-by-%s-at-%s:%d", id, a.ip, port.Value)
	waitFor(t, 10*time.Second, "httpd answering on "+url, func() (bool, string) {
		body, err := httpGet(url)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(body, want), body
	})

	cts := allocContainers(t, id)
	if len(cts) != 1 {
		t.Fatalf("want 1 container for alloc %s, got %v", id, cts)
	}
	start := time.Now()
	if out, code := a.cli(t, "job", "stop", "web"); code != 0 {
		t.Fatalf("job stop: exit %d\n%s", code, out)
	}
	waitFor(t, 10*time.Second, "container removed", func() (bool, string) {
		cts := allocContainers(t, id)
		for _, st := range cts {
			if st == "running" {
				return false, fmt.Sprint(cts)
			}
		}
		return true, ""
	})
	took := time.Since(start)
	// kill_timeout plus the client's reaction to the stop (blocking query,
	// status update) and Docker's own teardown.
	if limit := 3*time.Second + 3*time.Second; took > limit {
		t.Errorf("container stopped %s after job stop, want under %s (kill_timeout 3s)", took, limit)
	}
	waitAllocs(t, a, "web", 1, structs.AllocClientStatusComplete, 10*time.Second)
	if _, err := httpGet(url); err == nil {
		t.Errorf("%s still answers after the job stopped", url)
	}
	t.Logf("host port %d, stopped in %s", port.Value, took)
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return string(b), nil
}
