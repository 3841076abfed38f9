package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// Node drain, eligibility, force-evaluate, purge and allocation stop
// through the stock Nomad Go client against a real server: the request
// and reply shapes (drain strategy and node event times included) are
// Nomad's.
func TestNodeOperationsNomadAPI(t *testing.T) {
	srv, url := servertest.HTTP(t)
	ctx := context.Background()
	node := &structs.Node{
		ID: structs.GenerateUUID(), SecretID: structs.GenerateUUID(), Name: "n1", Datacenter: "dc1", Status: structs.NodeStatusReady,
		Attributes: map[string]string{"kernel.name": "linux"},
		Drivers:    map[string]*structs.DriverInfo{"raw_exec": {Detected: true, Healthy: true}},
		NodeResources: &structs.NodeResources{Cpu: structs.NodeCpuResources{CpuShares: 4000},
			Memory: structs.NodeMemoryResources{MemoryMB: 4096}, Disk: structs.NodeDiskResources{DiskMB: 100000}},
	}
	if _, err := srv.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	c, err := nomad.NewClient(&nomad.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}

	job := nomad.NewServiceJob("web", "web", "global", 50)
	job.Datacenters = []string{"*"}
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/sleep")))
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	var allocs []*nomad.AllocationListStub
	eventually(t, "an allocation", func() bool {
		allocs, _, _ = c.Jobs().Allocations("web", false, nil)
		return len(allocs) == 1
	})

	resp, err := c.Nodes().UpdateDrainOpts(node.ID, &nomad.DrainOptions{
		DrainSpec: &nomad.DrainSpec{Deadline: time.Hour, IgnoreSystemJobs: true}, Meta: map[string]string{"why": "kernel"},
	}, nil)
	if err != nil || resp.NodeModifyIndex == 0 {
		t.Fatalf("drain: %+v %v", resp, err)
	}
	n, _, err := c.Nodes().Info(node.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Drain || n.DrainStrategy == nil || !n.DrainStrategy.IgnoreSystemJobs || n.SchedulingEligibility != "ineligible" ||
		time.Until(n.DrainStrategy.ForceDeadline) < 59*time.Minute || n.LastDrain == nil ||
		n.LastDrain.Status != nomad.DrainStatusDraining || n.LastDrain.Meta["why"] != "kernel" {
		t.Fatalf("draining node: drain %v strategy %+v eligibility %s last %+v", n.Drain, n.DrainStrategy, n.SchedulingEligibility, n.LastDrain)
	}
	if ev := n.Events[len(n.Events)-1]; ev.Message != structs.NodeEventDrainSet || ev.Timestamp.IsZero() {
		t.Fatalf("node event %+v", ev)
	}
	if stubs, _, err := c.Nodes().List(nil); err != nil || len(stubs) != 1 || !stubs[0].Drain || stubs[0].LastDrain == nil {
		t.Fatalf("node list: %+v %v", stubs, err)
	}
	if _, err := c.Nodes().ToggleEligibility(node.ID, true, nil); err == nil || !strings.Contains(err.Error(), "400") ||
		!strings.Contains(err.Error(), "while node is draining") {
		t.Fatalf("eligible while draining: %v", err)
	}
	if _, err := c.Nodes().UpdateDrain(node.ID, nil, true, nil); err != nil {
		t.Fatal(err)
	}
	if n, _, _ = c.Nodes().Info(node.ID, nil); n.Drain || n.SchedulingEligibility != "eligible" || n.LastDrain.Status != nomad.DrainStatusCanceled {
		t.Fatalf("after drain disabled: %v %s %+v", n.Drain, n.SchedulingEligibility, n.LastDrain)
	}
	if _, err := c.Nodes().ToggleEligibility(node.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	if n, _, _ = c.Nodes().Info(node.ID, nil); n.SchedulingEligibility != "ineligible" {
		t.Fatalf("eligibility %s", n.SchedulingEligibility)
	}
	if _, err := c.Nodes().ToggleEligibility(node.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	evalID, _, err := c.Nodes().ForceEvaluate(node.ID, nil)
	if err != nil || evalID == "" {
		t.Fatalf("force evaluate: %q %v", evalID, err)
	}

	alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := c.Allocations().Stop(alloc, nil)
	if err != nil || stop.EvalID == "" {
		t.Fatalf("alloc stop: %+v %v", stop, err)
	}
	eventually(t, "the stopped allocation replaced", func() bool {
		all, _, _ := c.Jobs().Allocations("web", true, nil)
		replaced := false
		for _, a := range all {
			if a.ID == alloc.ID && a.DesiredStatus != "stop" {
				return false
			}
			replaced = replaced || (a.ID != alloc.ID && a.DesiredStatus == "run")
		}
		return replaced
	})

	if _, _, err := c.Nodes().Purge(node.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Nodes().Info(node.ID, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("purged node still answers: %v", err)
	}
	if _, err := c.Nodes().UpdateDrain("nope", nil, false, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("drain of an unknown node: %v", err)
	}
}
