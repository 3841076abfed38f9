package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// servicesJobHCL is one job file with a plain group service and a plain
// task service (no provider), as a user writes it for either CLI.
// provider, when set, is written into the group service.
func servicesJobHCL(id, provider string) string {
	p := ""
	if provider != "" {
		p = fmt.Sprintf("      provider = %q\n", provider)
	}
	return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  group "g" {
    network {
      port "http" {}
    }
    service {
      name = "%s-group"
      port = "http"
%s    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      service {
        name = "%s-task"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, id, id, p, id)
}

// servicesJobAPI is servicesJobHCL built with nomad/api's types and put
// through its Canonicalize, as the stock CLI and library users send it:
// every service without a provider arrives with Provider "consul".
func servicesJobAPI(id, provider string) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"*"}
	task := nomad.NewTask("t", "raw_exec").
		SetConfig("command", "/bin/sleep").
		SetConfig("args", []string{"600"})
	task.Services = []*nomad.Service{{Name: id + "-task"}}
	task.Resources = &nomad.Resources{CPU: ptr(20), MemoryMB: ptr(32)}
	tg := nomad.NewTaskGroup("g", 1).AddTask(task)
	tg.Networks = []*nomad.NetworkResource{{DynamicPorts: []nomad.Port{{Label: "http"}}}}
	tg.Services = []*nomad.Service{{Name: id + "-group", PortLabel: "http", Provider: provider}}
	job.AddTaskGroup(tg)
	job.Canonicalize()
	return job
}

func ptr[T any](v T) *T { return &v }

// TestNomadAPIServicesWithoutProvider: nomad/api's Service.Canonicalize
// writes provider "consul" into every service that has none, so the stock
// nomad CLI and library users send "consul" for a plain service {} block.
// orch must run such a job as `orch job run` runs the same file (native
// registrations), and still refuse a provider = "consul" the user wrote.
func TestNomadAPIServicesWithoutProvider(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	if p := servicesJobAPI("probe", "").TaskGroups[0].Services[0].Provider; p != "consul" {
		t.Fatalf("nomad/api no longer defaults the provider to consul (%q): revisit jobspec.UndoClientConsulDefault", p)
	}

	// The reference: orch job run of the file.
	jt.run("viaorch", servicesJobHCL("viaorch", ""))
	waitServices(t, a, "viaorch")

	// The stock CLI: the canonicalized job plus the file as its submission.
	jt.add("viacli")
	resp, _, err := c.Jobs().RegisterOpts(servicesJobAPI("viacli", ""), &nomad.RegisterOptions{
		Submission: &nomad.JobSubmission{Source: servicesJobHCL("viacli", ""), Format: "hcl2"},
	}, nil)
	if err != nil {
		t.Fatalf("nomad CLI-style register of a plain service block: %v", err)
	}
	if resp.Warnings != "" {
		t.Fatalf("the submitted source settles the provider; no warning expected, got %q", resp.Warnings)
	}
	waitServices(t, a, "viacli")

	// A library user without a submission: same result, with a warning
	// saying what orch did with the "consul" it cannot tell apart.
	jt.add("vialib")
	resp, _, err = c.Jobs().Register(servicesJobAPI("vialib", ""), nil)
	if err != nil {
		t.Fatalf("nomad/api register of a canonicalized job: %v", err)
	}
	if !strings.Contains(resp.Warnings, `provider "consul"`) {
		t.Fatalf("no warning about the defaulted provider: %q", resp.Warnings)
	}
	waitServices(t, a, "vialib")
	job, _, err := c.Jobs().Info("vialib", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := job.TaskGroups[0].Services[0].Provider; p != "nomad" {
		t.Fatalf("stored provider %q, want nomad", p)
	}

	// provider = "consul" written in the file is refused by both CLIs
	// with the same message.
	dir := t.TempDir()
	file := filepath.Join(dir, "consul.hcl")
	if err := os.WriteFile(file, []byte(servicesJobHCL("consul", "consul")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := a.cli(t, "job", "run", "-detach", file)
	if code == 0 || !strings.Contains(out, "Consul is not available") {
		t.Fatalf("orch job run with provider consul: exit %d\n%s", code, out)
	}
	_, _, err = c.Jobs().RegisterOpts(servicesJobAPI("consul", "consul"), &nomad.RegisterOptions{
		Submission: &nomad.JobSubmission{Source: servicesJobHCL("consul", "consul"), Format: "hcl2"},
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "Consul is not available") {
		t.Fatalf("nomad CLI-style register with provider = \"consul\" written: %v", err)
	}

	// Hand-written JSON naming consul (not the library's canonical form)
	// is explicit too.
	body, _ := json.Marshal(map[string]any{"Job": map[string]any{
		"ID": "rawjson", "Name": "rawjson", "Datacenters": []string{"*"},
		"TaskGroups": []any{map[string]any{"Name": "g",
			"Services": []any{map[string]any{"Name": "x", "Provider": "consul"}},
			"Tasks": []any{map[string]any{"Name": "t", "Driver": "raw_exec",
				"Config": map[string]any{"command": "/bin/sleep", "args": []string{"600"}}}}}},
	}})
	req, _ := http.NewRequest(http.MethodPut, a.addr()+"/v1/jobs", bytes.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "Consul is not available") {
		t.Fatalf("raw JSON with Provider consul: %d %s", res.StatusCode, msg)
	}
}

// waitServices waits for job id's group and task services to be
// registered in the native catalog.
func waitServices(t *testing.T, a *agentProc, id string) {
	t.Helper()
	waitFor(t, 30*time.Second, id+"'s services registered", func() (bool, string) {
		g, tk := serviceInstances(t, a, id+"-group"), serviceInstances(t, a, id+"-task")
		return len(g) == 1 && len(tk) == 1 && g[0].Port != 0, fmt.Sprintf("group %d task %d", len(g), len(tk))
	})
}
