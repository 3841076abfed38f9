package e2e

import (
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// TestNomadAPIClientCompatibility drives an orch agent with Nomad's own Go
// client: if the wire format drifts, decoding fails here.
func TestNomadAPIClientCompatibility(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)

	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	job := nomad.NewBatchJob("compat", "compat", "global", 50)
	job.Datacenters = []string{"*"}
	task := nomad.NewTask("echo", "raw_exec").
		SetConfig("command", "/bin/echo").
		SetConfig("args", []string{"compat-ok"})
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))

	resp, _, err := c.Jobs().Register(job, nil)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if resp.EvalID == "" {
		t.Fatal("register returned no eval ID")
	}
	got, _, err := c.Jobs().Info("compat", nil)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if *got.ID != "compat" || *got.Type != "batch" || len(got.TaskGroups) != 1 || *got.TaskGroups[0].Count != 1 {
		t.Fatalf("job read back differs: %+v", got)
	}
	ev, _, err := c.Evaluations().Info(resp.EvalID, nil)
	if err != nil || ev.JobID != "compat" {
		t.Fatalf("evaluation info: %v %+v", err, ev)
	}

	var allocs []*nomad.AllocationListStub
	waitFor(t, 20*time.Second, "compat alloc to complete", func() (bool, string) {
		allocs, _, err = c.Jobs().Allocations("compat", false, nil)
		if err != nil {
			return false, err.Error()
		}
		return len(allocs) == 1 && allocs[0].ClientStatus == "complete", ""
	})
	alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatalf("alloc info: %v", err)
	}
	if alloc.TaskStates["echo"] == nil || alloc.TaskStates["echo"].State != "dead" {
		t.Fatalf("task state: %+v", alloc.TaskStates["echo"])
	}

	cancel := make(chan struct{})
	defer close(cancel)
	frames, errs := c.AllocFS().Logs(alloc, false, "echo", "stdout", "start", 0, cancel, nil)
	var sb strings.Builder
	timeout := time.After(10 * time.Second)
read:
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				break read
			}
			if f != nil {
				sb.Write(f.Data)
			}
			if strings.Contains(sb.String(), "compat-ok") {
				break read
			}
		case err := <-errs:
			if err != nil {
				t.Fatalf("logs: %v", err)
			}
		case <-timeout:
			break read
		}
	}
	if !strings.Contains(sb.String(), "compat-ok") {
		t.Fatalf("logs through the Nomad client: %q", sb.String())
	}

	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) != 1 || nodes[0].Status != "ready" {
		t.Fatalf("nodes: %v %+v", err, nodes)
	}
	if _, _, err := c.Jobs().Deregister("compat", true, nil); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if _, _, err := c.Jobs().Info("compat", nil); err == nil {
		t.Fatal("purged job is still readable")
	}
}
