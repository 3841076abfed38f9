package raftfsm

import (
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// Drains, eligibility and purges apply as operators meant them: a drain
// makes the node ineligible and keeps its start across updates; the
// drainer's completion applies only to the drain it decided on; a
// client's registration keeps the operator's fields; a draining node
// cannot be made eligible; purge removes the node.
func TestNodeOperationEntries(t *testing.T) {
	f := newTestFSM(t)
	node := &structs.Node{ID: "n1", SecretID: "s1", Name: "n1", Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeSchedulingEligible}
	applyOK(t, f, 1, NodeClientRegisterType, &NodeClientRegister{Node: node, Time: 1e9})
	t0 := time.Unix(100, 0).UTC()
	first := structs.NewDrainStrategy(structs.DrainSpec{Deadline: time.Hour}, t0, nil)
	applyOK(t, f, 2, NodeDrainUpdateType, &NodeDrainUpdate{NodeID: "n1", DrainStrategy: first, AccessorID: "acc",
		Meta: map[string]string{"k": "v"}, Time: t0.UnixNano(),
		Event: &structs.NodeEvent{Message: structs.NodeEventDrainSet, Subsystem: structs.NodeEventSubsystemDrain, Timestamp: t0}})
	n, _ := f.State().NodeByID(nil, "n1")
	if !n.Drain || n.SchedulingEligibility != structs.NodeSchedulingIneligible || n.LastDrain.Status != structs.DrainStatusDraining ||
		n.LastDrain.AccessorID != "acc" || n.Events[1].CreateIndex != 2 || !n.DrainStrategy.ForceDeadline.Equal(t0.Add(time.Hour)) {
		t.Fatalf("draining node: %+v %+v %+v", n.DrainStrategy, n.LastDrain, n.Events)
	}

	// The client registers again with its own view: the drain stays.
	applyOK(t, f, 3, NodeClientRegisterType, &NodeClientRegister{Node: node, Time: 2e9})
	if n, _ = f.State().NodeByID(nil, "n1"); !n.Drain || n.DrainStrategy == nil || len(n.Events) != 2 {
		t.Fatal("registration undid the drain")
	}

	// A newer drain keeps the start; the drainer's verdict on the first is refused.
	t1 := t0.Add(time.Minute)
	second := structs.NewDrainStrategy(structs.DrainSpec{Deadline: -1}, t1, first)
	applyOK(t, f, 4, NodeDrainUpdateType, &NodeDrainUpdate{NodeID: "n1", DrainStrategy: second, Time: t1.UnixNano()})
	if n, _ = f.State().NodeByID(nil, "n1"); !n.DrainStrategy.StartedAt.Equal(t0) || !n.DrainStrategy.ForceDeadline.Equal(t1) ||
		n.LastDrain.Meta["k"] != "v" {
		t.Fatalf("updated drain: %+v %+v", n.DrainStrategy, n.LastDrain)
	}
	res := apply(t, f, 5, encode(t, NodeDrainUpdateType, &NodeDrainUpdate{NodeID: "n1", Complete: true, Expect: first, Time: t1.UnixNano()}))
	var ce *ConflictError
	if !errors.As(res.Err, &ce) {
		t.Fatalf("completion of a superseded drain: %v", res.Err)
	}
	res = apply(t, f, 6, encode(t, NodeEligibilityUpdateType, &NodeEligibilityUpdate{NodeID: "n1", Eligibility: structs.NodeSchedulingEligible}))
	if !errors.Is(res.Err, ErrEligibleWhileDraining) {
		t.Fatalf("eligible while draining: %v", res.Err)
	}
	applyOK(t, f, 7, NodeDrainUpdateType, &NodeDrainUpdate{NodeID: "n1", Complete: true, Expect: second, Time: t1.UnixNano()})
	if n, _ = f.State().NodeByID(nil, "n1"); n.Drain || n.DrainStrategy != nil || n.LastDrain.Status != structs.DrainStatusComplete ||
		n.SchedulingEligibility != structs.NodeSchedulingIneligible {
		t.Fatalf("completed drain: %+v %+v %s", n.DrainStrategy, n.LastDrain, n.SchedulingEligibility)
	}
	if nodes, _ := f.State().Snapshot().DrainingNodes(nil); len(nodes) != 0 {
		t.Fatalf("draining index still lists %d nodes", len(nodes))
	}
	applyOK(t, f, 8, NodeEligibilityUpdateType, &NodeEligibilityUpdate{NodeID: "n1", Eligibility: structs.NodeSchedulingEligible})
	if n, _ = f.State().NodeByID(nil, "n1"); n.SchedulingEligibility != structs.NodeSchedulingEligible {
		t.Fatal("not eligible")
	}
	applyOK(t, f, 9, NodePurgeType, &NodePurge{NodeID: "n1"})
	if n, _ = f.State().NodeByID(nil, "n1"); n != nil {
		t.Fatal("purged node still there")
	}
	if res := apply(t, f, 10, encode(t, NodePurgeType, &NodePurge{NodeID: "n1"})); res.Err == nil {
		t.Fatal("purge of an unknown node applied")
	}
}

// Node events are capped at MaxNodeEvents, oldest first out.
func TestNodeEventsCapped(t *testing.T) {
	var evs []*structs.NodeEvent
	for i := 0; i < 15; i++ {
		evs = structs.AddNodeEvent(evs, &structs.NodeEvent{CreateIndex: uint64(i)})
	}
	if len(evs) != structs.MaxNodeEvents || evs[0].CreateIndex != 5 || evs[9].CreateIndex != 14 {
		t.Fatalf("events: %d, first %d", len(evs), evs[0].CreateIndex)
	}
}
