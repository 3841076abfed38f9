package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// markMigrate sets DesiredTransition.Migrate on an allocation, as the node
// drainer and `alloc stop` do.
func (h *harness) markMigrate(ids ...string) {
	h.t.Helper()
	yes := true
	tr := map[string]*structs.DesiredTransition{}
	for _, id := range ids {
		tr[id] = &structs.DesiredTransition{Migrate: &yes}
	}
	txn := h.store.WriteTxn(h.next())
	defer txn.Abort()
	if err := txn.UpdateAllocDesiredTransitions(tr, h.now); err != nil {
		h.t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) drainNode(n int) {
	h.t.Helper()
	node := mkNode(n, "dc1", 4000, 8000)
	node.Drain = true
	node.DrainStrategy = &structs.DrainStrategy{}
	node.SchedulingEligibility = structs.NodeSchedulingIneligible
	h.upsertNodes(node)
}

// A draining node alone moves nothing: the node drainer decides which
// allocations leave (max_parallel at a time) by marking them.
func TestServiceMigratesOnlyMarkedAllocs(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 3))
	h.run(job, structs.EvalTriggerJobRegister)
	h.drainNode(1)
	h.upsertNodes(mkNode(2, "dc1", 4000, 8000))
	if res := h.run(job, structs.EvalTriggerNodeUpdate); !res.Plan.IsNoOp() {
		t.Fatalf("unmarked allocations moved off a draining node: %d stopped", len(stoppedAllocs(res.Plan)))
	}
	live := h.liveAllocs("web")
	h.markMigrate(live["web.web[1]"].ID)
	res := h.run(job, structs.EvalTriggerNodeDrain)
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].Name != "web.web[1]" || st[0].DesiredDescription != descMigrating {
		t.Fatalf("stops: %+v", st)
	}
	p := placed(res.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(2) || p[0].Name != "web.web[1]" || p[0].PreviousAllocation != st[0].ID ||
		p[0].RescheduleTracker != nil {
		t.Fatalf("replacement: %+v", p)
	}
	if res.Annotations == nil || res.Annotations.DesiredTGUpdates["web"].Migrate != 1 {
		t.Fatalf("annotations: %+v", res.Annotations)
	}
}

// `alloc stop` on a node that takes work: the allocation is replaced, and
// may land on the same node.
func TestAllocStopReplacesOnReadyNode(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 1))
	h.run(job, structs.EvalTriggerJobRegister)
	old := h.liveAllocs("web")["web.web[0]"]
	h.markMigrate(old.ID)
	res := h.run(job, structs.EvalTriggerAllocStop)
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].ID != old.ID {
		t.Fatalf("stops: %+v", st)
	}
	if p := placed(res.Plan); len(p) != 1 || p[0].NodeID != nodeID(1) || p[0].PreviousAllocation != old.ID {
		t.Fatalf("replacement: %+v", p)
	}
	if res := h.run(job, structs.EvalTriggerAllocStop); !res.Plan.IsNoOp() {
		t.Fatalf("stopped allocation replaced twice")
	}
}

// Batch work drained off its node is stopped, not replaced (Nomad's
// documented drain behaviour); a batch allocation stopped by an operator on
// a node that is not draining is replaced.
func TestBatchDrainedNotReplaced(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("b", structs.JobTypeBatch, 1))
	h.run(job, structs.EvalTriggerJobRegister)
	drained := h.liveAllocs("b")["b.web[0]"]
	h.drainNode(1)
	h.upsertNodes(mkNode(2, "dc1", 4000, 8000))
	h.markMigrate(drained.ID)
	res := h.run(job, structs.EvalTriggerNodeDrain)
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].ID != drained.ID || st[0].DesiredDescription != descDrained {
		t.Fatalf("stops: %+v", st)
	}
	if p := placed(res.Plan); len(p) != 0 {
		t.Fatalf("drained batch work replaced: %+v", p)
	}
	h.clientStatus(drained.ID, structs.AllocClientStatusComplete)
	if res := h.run(job, structs.EvalTriggerNodeUpdate); !res.Plan.IsNoOp() {
		t.Fatalf("drained batch slot refilled: %d placed", len(placed(res.Plan)))
	}

	other := h.upsertJob(mkJob("b2", structs.JobTypeBatch, 1))
	h.run(other, structs.EvalTriggerJobRegister)
	a := h.liveAllocs("b2")["b2.web[0]"]
	if a.NodeID != nodeID(2) {
		t.Fatalf("placed on the draining node")
	}
	h.markMigrate(a.ID)
	res = h.run(other, structs.EvalTriggerAllocStop)
	if p := placed(res.Plan); len(p) != 1 || p[0].PreviousAllocation != a.ID {
		t.Fatalf("batch alloc stop not replaced: %+v", p)
	}
}

// System allocations on a draining node stay until the drainer marks them;
// then they are stopped, not replaced. `alloc stop` of a system allocation
// on an eligible node stops it without replacing it (Nomad's documented
// behaviour); the node's next evaluation places the job there again.
func TestSystemDrainAndAllocStop(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("agent", structs.JobTypeSystem, 1))
	h.run(job, structs.EvalTriggerJobRegister)
	byNode := map[string]*structs.Allocation{}
	for _, a := range placedOf(h, "agent") {
		byNode[a.NodeID] = a
	}
	h.drainNode(1)
	if res := h.run(job, structs.EvalTriggerNodeUpdate); !res.Plan.IsNoOp() {
		t.Fatalf("system alloc stopped before the drainer marked it")
	}
	h.markMigrate(byNode[nodeID(1)].ID)
	res := h.run(job, structs.EvalTriggerNodeDrain)
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].NodeID != nodeID(1) || st[0].DesiredDescription != descMigrating {
		t.Fatalf("stops: %+v", st)
	}
	if len(placed(res.Plan)) != 0 {
		t.Fatalf("drained system alloc replaced")
	}
	h.markMigrate(byNode[nodeID(2)].ID)
	res = h.run(job, structs.EvalTriggerAllocStop)
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].ID != byNode[nodeID(2)].ID {
		t.Fatalf("system alloc stop: stops %+v", st)
	}
	if p := placed(res.Plan); len(p) != 0 {
		t.Fatalf("system alloc stop replaced at once: %+v", p)
	}
	ev := h.eval(job, structs.EvalTriggerNodeUpdate)
	ev.NodeID = nodeID(2)
	res = h.schedule(ev)
	if p := placed(res.Plan); len(p) != 1 || p[0].NodeID != nodeID(2) {
		t.Fatalf("the node's next evaluation did not place the system job: %+v", p)
	}
}

func placedOf(h *harness, jobID string) []*structs.Allocation {
	h.t.Helper()
	all, err := h.store.AllocsByJob(nil, structs.DefaultNamespace, jobID)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*structs.Allocation
	for _, a := range all {
		if !a.TerminalStatus() {
			out = append(out, a)
		}
	}
	return out
}
