package httpapi_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
)

// The stock Nomad Go client must work against orch's API.
func TestNomadAPIClientCompatibility(t *testing.T) {
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	cb := httpapitest.NewClient("")
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: cb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	node := httpapitest.TestNode("n1", strings.TrimPrefix(srv.URL, "http://"))
	cb.ID = node.ID
	if _, err := b.RegisterNode(t.Context(), node); err != nil {
		t.Fatal(err)
	}

	c, err := nomad.NewClient(&nomad.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job := nomad.NewServiceJob("compat", "compat", "global", 50)
	job.Datacenters = []string{"*"}
	task := nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/sleep")
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
	job.TaskGroups[0].Count = nil // as the CLI sends it
	reg, _, err := c.Jobs().Register(job, nil)
	if err != nil || reg.EvalID == "" {
		t.Fatalf("register: %+v %v", reg, err)
	}
	stubs, _, err := c.Jobs().PrefixList("comp")
	if err != nil || len(stubs) != 1 || stubs[0].JobSummary == nil {
		t.Fatalf("list: %+v %v", stubs, err)
	}
	info, _, err := c.Jobs().Info("compat", nil)
	if err != nil || *info.ID != "compat" || *info.TaskGroups[0].Count != 1 {
		t.Fatalf("info: %+v %v", info, err)
	}
	allocs, _, err := c.Jobs().Allocations("compat", false, nil)
	if err != nil || len(allocs) != 1 {
		t.Fatalf("allocs: %+v %v", allocs, err)
	}
	if _, _, err := c.Jobs().Evaluations("compat", nil); err != nil {
		t.Fatalf("evals: %v", err)
	}
	if _, _, err := c.Jobs().Summary("compat", nil); err != nil {
		t.Fatalf("summary: %v", err)
	}
	if _, _, _, err := c.Jobs().Versions("compat", false, nil); err != nil {
		t.Fatalf("versions: %v", err)
	}
	if d, _, err := c.Jobs().LatestDeployment("compat", nil); err != nil || d != nil {
		t.Fatalf("deployment: %+v %v", d, err)
	}
	ev, _, err := c.Evaluations().Info(reg.EvalID, nil)
	if err != nil || ev.Status != "complete" {
		t.Fatalf("eval: %+v %v", ev, err)
	}
	if _, _, err := c.Evaluations().Allocations(reg.EvalID, nil); err != nil {
		t.Fatalf("eval allocs: %v", err)
	}
	alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil || alloc.Job == nil {
		t.Fatalf("alloc: %+v %v", alloc, err)
	}
	if nodes, _, err := c.Nodes().List(nil); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	if _, _, err := c.Nodes().Info(node.ID, nil); err != nil {
		t.Fatalf("node: %v", err)
	}
	if _, err := c.Agent().Self(); err != nil {
		t.Fatalf("self: %v", err)
	}
	if _, err := c.Agent().Members(); err != nil {
		t.Fatalf("members: %v", err)
	}
	if l, err := c.Status().Leader(); err != nil || l == "" {
		t.Fatalf("leader: %q %v", l, err)
	}
	if _, err := c.Regions().List(); err != nil {
		t.Fatalf("regions: %v", err)
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "alloc", "logs"), 0o755)
	os.WriteFile(filepath.Join(dir, "alloc", "logs", "t.stdout.0"), []byte("hi from t\n"), 0o644)
	cb.AddAlloc(alloc.ID, dir)
	cancel := make(chan struct{})
	defer close(cancel)
	frames, errCh := c.AllocFS().Logs(alloc, false, "t", "stdout", "start", 0, cancel, nil)
	var got strings.Builder
	for f := range frames {
		got.Write(f.Data)
	}
	select {
	case err := <-errCh:
		t.Fatalf("logs: %v", err)
	default:
	}
	if got.String() != "hi from t\n" {
		t.Fatalf("logs = %q", got.String())
	}

	if _, _, err := c.Jobs().Deregister("compat", true, nil); err != nil {
		t.Fatalf("deregister: %v", err)
	}
}

// The Nomad Go client's ParseHCL and Validate must work against orch.
func TestNomadAPIClientParseAndValidate(t *testing.T) {
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	c, err := nomad.NewClient(&nomad.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.Jobs().ParseHCL(`job "p" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}`, true)
	if err != nil || *job.ID != "p" || *job.TaskGroups[0].Count != 1 || *job.Priority != 50 {
		t.Fatalf("ParseHCL: %+v %v", job, err)
	}
	resp, _, err := c.Jobs().Validate(job, nil)
	if err != nil || !resp.DriverConfigValidated || len(resp.ValidationErrors) != 0 {
		t.Fatalf("Validate: %+v %v", resp, err)
	}
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/true", "comand": "x"}
	resp, _, err = c.Jobs().Validate(job, nil)
	if err != nil || len(resp.ValidationErrors) != 1 || !strings.Contains(resp.ValidationErrors[0], "raw_exec") {
		t.Fatalf("Validate bad config: %+v %v", resp, err)
	}
	if _, err := c.Jobs().ParseHCL(`job "p" { bogus = 1 }`, true); err == nil || !strings.Contains(err.Error(), "input.hcl:1:11") {
		t.Fatalf("ParseHCL error: %v", err)
	}
}
