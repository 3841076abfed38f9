package scheduler

import (
	"reflect"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func TestBatchCompletedNotRerunFailedReplaced(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("crunch", structs.JobTypeBatch, 3))
	res := h.run(job, structs.EvalTriggerJobRegister)
	if n := len(placed(res.Plan)); n != 3 {
		t.Fatalf("placed %d", n)
	}
	live := h.liveAllocs("crunch")
	h.clientStatus(live["crunch.web[0]"].ID, structs.AllocClientStatusComplete)
	h.clientStatus(live["crunch.web[1]"].ID, structs.AllocClientStatusComplete)
	failed := live["crunch.web[2]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)

	// Default batch policy: one reschedule per day, after 5s.
	res = h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if len(placed(res.Plan)) != 0 {
		t.Fatalf("replaced before the delay")
	}
	res = h.runFollowup(res)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].Name != "crunch.web[2]" || p[0].PreviousAllocation != failed.ID {
		t.Fatalf("want only the failed alloc replaced, got %v", names(p))
	}
	h.clientStatus(p[0].ID, structs.AllocClientStatusComplete)
	if res := h.run(job, structs.EvalTriggerRetryFailedAlloc); !res.Plan.IsNoOp() {
		t.Fatalf("completed batch work re-run: %v", names(placed(res.Plan)))
	}
	// Shrinking never stops completed work.
	j := mkJob("crunch", structs.JobTypeBatch, 1)
	if res := h.run(h.upsertJob(j), structs.EvalTriggerJobRegister); len(stoppedAllocs(res.Plan)) != 0 || len(placed(res.Plan)) != 0 {
		t.Fatalf("shrinking touched completed allocations")
	}
}

func TestBatchLostReplacedAndSecondFailureNot(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("crunch", structs.JobTypeBatch, 1))
	h.run(job, structs.EvalTriggerJobRegister)
	a := h.liveAllocs("crunch")["crunch.web[0]"]
	// The client reports the alloc lost (e.g. the FSM marked its node down).
	h.clientStatus(a.ID, structs.AllocClientStatusLost)
	res := h.run(job, structs.EvalTriggerNodeUpdate)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].PreviousAllocation != a.ID || p[0].RescheduleTracker != nil {
		t.Fatalf("lost batch alloc not replaced: %+v", p)
	}
	// Fail twice: the first is rescheduled, the second exhausts the policy.
	h.clientStatus(p[0].ID, structs.AllocClientStatusFailed)
	res = h.runFollowup(h.run(job, structs.EvalTriggerRetryFailedAlloc))
	p = placed(res.Plan)
	if len(p) != 1 {
		t.Fatalf("first failure not rescheduled")
	}
	h.clientStatus(p[0].ID, structs.AllocClientStatusFailed)
	if res := h.run(job, structs.EvalTriggerRetryFailedAlloc); !res.Plan.IsNoOp() {
		t.Fatalf("rescheduled past attempts")
	}
}

func TestBatchCandidateLimit(t *testing.T) {
	h := newHarness(t)
	var nodes []*structs.Node
	for i := 1; i <= 64; i++ {
		nodes = append(nodes, mkNode(i, "dc1", 4000, 8000))
	}
	h.upsertNodes(nodes...)
	batch := h.upsertJob(mkJob("b", structs.JobTypeBatch, 1))
	svc := h.upsertJob(mkJob("s", structs.JobTypeService, 1))
	if m := placed(h.schedule(h.eval(batch, structs.EvalTriggerJobRegister)).Plan)[0].Metrics; m.NodesEvaluated != 2 {
		t.Fatalf("batch evaluated %d nodes, want 2", m.NodesEvaluated)
	}
	if m := placed(h.schedule(h.eval(svc, structs.EvalTriggerJobRegister)).Plan)[0].Metrics; m.NodesEvaluated != 6 {
		t.Fatalf("service evaluated %d nodes, want ceil(log2(64)) = 6", m.NodesEvaluated)
	}
}

func TestSystemJobEveryEligibleNodeAndLateJoiner(t *testing.T) {
	h := newHarness(t)
	inelig := mkNode(3, "dc1", 4000, 8000)
	inelig.SchedulingEligibility = structs.NodeSchedulingIneligible
	nodocker := mkNode(4, "dc1", 4000, 8000)
	delete(nodocker.Drivers, "raw_exec")
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000), inelig, nodocker,
		mkNode(5, "dc2", 4000, 8000))
	job := h.upsertJob(mkJob("agent", structs.JobTypeSystem, 1))
	res := h.run(job, structs.EvalTriggerJobRegister)
	got := map[string]string{}
	for _, a := range placed(res.Plan) {
		got[a.NodeID] = a.Name
	}
	want := map[string]string{nodeID(1): "agent.web[0]", nodeID(2): "agent.web[0]"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("system placements %v, want %v", got, want)
	}
	if res.EvalUpdate.FailedTGAllocs != nil || len(res.CreateEvals) != 0 {
		t.Fatalf("infeasible nodes reported as failures: %+v", res.EvalUpdate.FailedTGAllocs)
	}
	// A re-run is a no-op.
	if res := h.run(job, structs.EvalTriggerJobRegister); !res.Plan.IsNoOp() {
		t.Fatalf("system re-run not a no-op")
	}

	// Node 6 joins: its node-update eval places there and only there.
	h.upsertNodes(mkNode(6, "dc1", 4000, 8000))
	ev := h.eval(job, structs.EvalTriggerNodeUpdate)
	ev.NodeID = nodeID(6)
	res = h.schedule(ev)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(6) || len(stoppedAllocs(res.Plan)) != 0 {
		t.Fatalf("late joiner: %+v", p)
	}
	h.apply(res)

	// Node 1 becomes ineligible, node 2 goes down and node 6 leaves the
	// job's datacenter. What runs on an ineligible node keeps running (it
	// only takes no new work, as in Nomad).
	n1 := mkNode(1, "dc1", 4000, 8000)
	n1.SchedulingEligibility = structs.NodeSchedulingIneligible
	h.upsertNodes(n1, mkNode(6, "dc9", 4000, 8000))
	h.setNodeStatus(nodeID(2), structs.NodeStatusDown)
	res = h.run(job, structs.EvalTriggerNodeUpdate)
	byNode := map[string]*structs.Allocation{}
	for _, a := range stoppedAllocs(res.Plan) {
		byNode[a.NodeID] = a
	}
	if len(byNode) != 2 || byNode[nodeID(6)] == nil || byNode[nodeID(2)] == nil ||
		byNode[nodeID(2)].ClientStatus != structs.AllocClientStatusLost || byNode[nodeID(6)].DesiredDescription != descNodeInelig {
		t.Fatalf("stops wrong: %+v", byNode)
	}
	if len(placed(res.Plan)) != 0 {
		t.Fatalf("system placed onto unusable nodes")
	}
	if live := h.liveAllocs("agent"); len(live) != 1 || live["agent.web[0]"].NodeID != nodeID(1) {
		t.Fatalf("live system allocs: %v", live)
	}
}

func TestSystemJobResourceFailureAndUpdate(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 50, 8000))
	job := mkJob("agent", structs.JobTypeSysBatch, 1)
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if p := placed(res.Plan); len(p) != 1 || p[0].NodeID != nodeID(1) {
		t.Fatalf("placed %+v", p)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted["cpu"] != 1 || res.EvalUpdate.QueuedAllocations["web"] != 1 {
		t.Fatalf("failure metrics wrong: %+v", m)
	}
	a := h.liveAllocs("agent")["agent.web[0]"]
	h.clientStatus(a.ID, structs.AllocClientStatusComplete)
	if res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister); len(placed(res.Plan)) != 0 {
		t.Fatalf("completed sysbatch work re-run")
	}
	// A new version runs again, replacing the completed alloc of the old one.
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/true"}
	v := h.upsertJob(job)
	res = h.run(v, structs.EvalTriggerJobRegister)
	if p := placed(res.Plan); len(p) != 1 || p[0].NodeID != nodeID(1) || p[0].JobVersion != v.Version {
		t.Fatalf("new version not placed: %+v", p)
	}
}

func TestSystemJobStopped(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("agent", structs.JobTypeSystem, 1)
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	job.Stop = true
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobDeregister)
	if len(stoppedAllocs(res.Plan)) != 2 || len(h.liveAllocs("agent")) != 0 {
		t.Fatalf("stopped system job keeps allocations")
	}
}

func TestSystemJobInPlaceAndDestructiveUpdate(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("agent", structs.JobTypeSystem, 1)
	first := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	before := map[string]*structs.Allocation{} // by ID
	for _, a := range placed(first.Plan) {
		before[a.ID] = a
	}

	job.TaskGroups[0].Update = &structs.UpdateStrategy{MaxParallel: 1}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if len(stoppedAllocs(res.Plan)) != 0 || len(h.newPlacements(res.Plan)) != 0 || len(placed(res.Plan)) != 2 {
		t.Fatalf("in-place system update: %d stopped, %d placed", len(stoppedAllocs(res.Plan)), len(placed(res.Plan)))
	}

	// A destructive update replaces max_parallel (1) at a time, the next
	// round following after the stagger.
	job.TaskGroups[0].Update.Stagger = 5 * time.Second
	job.TaskGroups[0].Tasks[0].Resources.MemoryMB = 256
	v := h.upsertJob(job)
	res = h.run(v, structs.EvalTriggerJobRegister)
	st, p := stoppedAllocs(res.Plan), placed(res.Plan)
	if len(st) != 1 || len(p) != 1 {
		t.Fatalf("destructive system update, first round: %d stopped, %d placed", len(st), len(p))
	}
	if len(res.CreateEvals) != 1 || res.CreateEvals[0].TriggeredBy != structs.EvalTriggerRollingUpdate ||
		res.CreateEvals[0].WaitUntil.UnixNano() != h.now+int64(5*time.Second) {
		t.Fatalf("no rolling-update follow-up after the stagger: %+v", res.CreateEvals)
	}
	if d := res.Annotations.DesiredTGUpdates["web"]; d.DestructiveUpdate != 1 || d.Ignore != 1 {
		t.Fatalf("annotations: %+v", d)
	}
	h.now += int64(5 * time.Second)
	next := h.run(v, structs.EvalTriggerRollingUpdate)
	if len(stoppedAllocs(next.Plan)) != 1 || len(placed(next.Plan)) != 1 || len(next.CreateEvals) != 0 {
		t.Fatalf("destructive system update, second round: %d stopped, %d placed, %d follow-ups",
			len(stoppedAllocs(next.Plan)), len(placed(next.Plan)), len(next.CreateEvals))
	}
	p = append(p, placed(next.Plan)...)
	for _, a := range p {
		if a.PreviousAllocation == "" || a.AllocatedResources.Tasks["server"].Memory.MemoryMB != 256 || a.JobVersion != v.Version {
			t.Fatalf("replacement wrong: %+v", a)
		}
		if prev := before[a.PreviousAllocation]; prev == nil || prev.NodeID != a.NodeID {
			t.Fatalf("replacement does not replace an alloc on its own node: %+v", a)
		}
	}
}
