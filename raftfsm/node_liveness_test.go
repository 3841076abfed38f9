package raftfsm

import (
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestNodeStatusChangeMarksAllocsPerDisconnectPolicy: going disconnected,
// allocations whose group has lost_after go unknown and the others lost;
// re-committing disconnected after a group's lost_after marks that group's
// allocations lost; going down, everything but prevent_reschedule_on_lost
// is lost. Each change evaluates the node's jobs in the same entry.
func TestNodeStatusChangeMarksAllocsPerDisconnectPolicy(t *testing.T) {
	f := newTestFSM(t)
	node := testNode(id(1))
	node.SecretID = "s"
	applyOK(t, f, 1, NodeClientRegisterType, &NodeClientRegister{Node: node, Time: 1})
	job := testJob("j")
	short, long := time.Minute, time.Hour
	job.TaskGroups[0].Disconnect = &structs.DisconnectStrategy{LostAfter: short}
	job.TaskGroups = append(job.TaskGroups,
		&structs.TaskGroup{Name: "keep", Count: 1, MaxClientDisconnect: &long, Tasks: []*structs.Task{{Name: "k", Driver: "raw_exec"}}},
		&structs.TaskGroup{Name: "forever", Count: 1, PreventRescheduleOnLost: true, Tasks: []*structs.Task{{Name: "f", Driver: "raw_exec"}}})
	applyOK(t, f, 2, JobRegisterType, &JobRegister{Job: job})
	allocs := []*structs.Allocation{
		testAlloc(id(10), "j", "web", node.ID, id(5), 0), testAlloc(id(11), "j", "db", node.ID, id(5), 0),
		testAlloc(id(12), "j", "keep", node.ID, id(5), 0), testAlloc(id(13), "j", "forever", node.ID, id(5), 0),
	}
	applyOK(t, f, 3, ApplyPlanResultsType, &ApplyPlanResults{AllocsUpdated: allocs, Time: 1})
	status := func(a string) string {
		got, _ := f.State().AllocByID(nil, a)
		return got.ClientStatus
	}
	expect := func(when string, want map[string]string) {
		t.Helper()
		for a, st := range want {
			if got := status(a); got != st {
				t.Fatalf("%s: alloc %s is %s, want %s", when, a, got, st)
			}
		}
	}
	t0 := time.Unix(1000, 0)
	applyOK(t, f, 4, NodeStatusChangeType, &NodeStatusChange{NodeID: node.ID, Status: structs.NodeStatusDisconnected, Time: t0.UnixNano()})
	expect("disconnected", map[string]string{id(10): "unknown", id(11): "lost", id(12): "unknown", id(13): "unknown"})
	evals, _ := f.State().EvalsByJob(nil, structs.DefaultNamespace, "j")
	if len(evals) != 1 || evals[0].TriggeredBy != structs.EvalTriggerNodeUpdate || evals[0].ID != DerivedID(4, "node-disconnected", node.ID, "default", "j") {
		t.Fatalf("evals after disconnect: %+v", evals)
	}
	if a, _ := f.State().AllocByID(nil, id(10)); !a.UnknownSince().Equal(t0) {
		t.Fatalf("unknown since %v", a.UnknownSince())
	}
	applyOK(t, f, 5, NodeStatusChangeType, &NodeStatusChange{NodeID: node.ID, Status: structs.NodeStatusDisconnected, Time: t0.Add(2 * short).UnixNano()})
	expect("past web's lost_after", map[string]string{id(10): "lost", id(12): "unknown", id(13): "unknown"})
	applyOK(t, f, 6, NodeStatusChangeType, &NodeStatusChange{NodeID: node.ID, Status: structs.NodeStatusDown, Time: t0.Add(2 * long).UnixNano()})
	expect("down", map[string]string{id(12): "lost", id(13): "unknown"})
	// Back: allocations wait for their client's report.
	applyOK(t, f, 7, NodeStatusChangeType, &NodeStatusChange{NodeID: node.ID, Status: structs.NodeStatusReady, Time: t0.Add(3 * long).UnixNano()})
	if n, _ := f.State().NodeByID(nil, node.ID); n.Status != structs.NodeStatusReady {
		t.Fatalf("node %s", n.Status)
	}
	expect("ready", map[string]string{id(13): "unknown"})
}

// TestNodeClientRegisterKeepsServerFields: a registration replaces only
// what the client owns, and a wrong secret is refused by the FSM itself.
func TestNodeClientRegisterKeepsServerFields(t *testing.T) {
	f := newTestFSM(t)
	node := testNode(id(1))
	node.SecretID = "s1"
	applyOK(t, f, 1, NodeClientRegisterType, &NodeClientRegister{Node: node, Time: 1})
	op, _ := f.State().NodeByID(nil, node.ID)
	drained := *op
	drained.Drain, drained.SchedulingEligibility = true, structs.NodeSchedulingIneligible
	applyOK(t, f, 2, NodeRegisterType, &NodeRegister{Node: &drained, Time: 2})
	again := *node
	again.Attributes = map[string]string{"new": "1"}
	again.Drain, again.Status = false, structs.NodeStatusDown
	applyOK(t, f, 3, NodeClientRegisterType, &NodeClientRegister{Node: &again, Time: 3})
	got, _ := f.State().NodeByID(nil, node.ID)
	if !got.Drain || got.SchedulingEligibility != structs.NodeSchedulingIneligible || got.Status != structs.NodeStatusReady || got.Attributes["new"] != "1" {
		t.Fatalf("node after re-registration: drain %v elig %s status %s attrs %v", got.Drain, got.SchedulingEligibility, got.Status, got.Attributes)
	}
	forged := *node
	forged.SecretID = "other"
	if res := apply(t, f, 4, encode(t, NodeClientRegisterType, &NodeClientRegister{Node: &forged, Time: 4})); res.Err == nil {
		t.Fatal("registration with another secret applied")
	}
}
