package scheduler

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func TestServicePlacesCount(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000), mkNode(3, "dc1", 4000, 8000),
		mkNode(4, "dc2", 4000, 8000))
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 5))
	ev := h.eval(job, structs.EvalTriggerJobRegister)
	res := h.schedule(ev)

	got := placed(res.Plan)
	want := []string{"web.web[0]", "web.web[1]", "web.web[2]", "web.web[3]", "web.web[4]"}
	if !reflect.DeepEqual(names(got), want) {
		t.Fatalf("placed %v, want %v", names(got), want)
	}
	ids := map[string]bool{}
	for _, a := range got {
		if a.NodeID == nodeID(4) {
			t.Fatalf("placed on a node outside the job's datacenters")
		}
		if ids[a.ID] || len(a.ID) != 36 {
			t.Fatalf("bad or duplicate alloc ID %q", a.ID)
		}
		ids[a.ID] = true
		if a.EvalID != ev.ID || a.JobID != "web" || a.TaskGroup != "web" || a.Namespace != "default" ||
			a.DesiredStatus != structs.AllocDesiredStatusRun || a.ClientStatus != structs.AllocClientStatusPending ||
			a.CreateTime != testNow || a.ModifyTime != testNow || a.NodeName == "" || a.JobVersion != job.Version {
			t.Fatalf("alloc fields wrong: %+v", a)
		}
		tr := a.AllocatedResources.Tasks["server"]
		if tr == nil || tr.Cpu.CpuShares != 100 || tr.Memory.MemoryMB != 128 || a.AllocatedResources.Shared.DiskMB != 150 {
			t.Fatalf("allocated resources wrong: %+v", a.AllocatedResources)
		}
		m := a.Metrics
		if m == nil || m.NodesEvaluated == 0 || m.NodesAvailable["dc1"] != 3 || len(m.ScoreMetaData) != 1 {
			t.Fatalf("metrics wrong: %+v", m)
		}
	}
	if res.Plan.Job != job || res.Plan.EvalID != ev.ID || res.Plan.SnapshotIndex == 0 {
		t.Fatalf("plan header wrong: %+v", res.Plan)
	}
	up := res.EvalUpdate
	if up.ID != ev.ID || up.QueuedAllocations["web"] != 0 || up.FailedTGAllocs != nil || up.BlockedEval != "" ||
		up.SnapshotIndex != res.Plan.SnapshotIndex || len(res.CreateEvals) != 0 {
		t.Fatalf("eval update wrong: %+v", up)
	}
	if ev.Status != structs.EvalStatusPending {
		t.Fatalf("input eval mutated")
	}

	// Re-evaluating a satisfied job changes nothing.
	h.apply(res)
	if res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister)); !res.Plan.IsNoOp() {
		t.Fatalf("second eval not a no-op: %d placed, %d stopped", len(placed(res.Plan)), len(stoppedAllocs(res.Plan)))
	}
}

func TestRankingPrefersFullerNode(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	// Load node 2 with another job's allocation.
	other := mkJob("other", structs.JobTypeService, 1)
	other.TaskGroups[0].Tasks[0].Resources = &structs.Resources{CPU: 2000, MemoryMB: 4000}
	other = h.upsertJob(other)
	res := h.run(other, structs.EvalTriggerJobRegister)
	fuller := placed(res.Plan)[0].NodeID

	job := h.upsertJob(mkJob("web", structs.JobTypeService, 1))
	for seed := uint64(1); seed <= 5; seed++ {
		h.seed = seed
		res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
		if got := placed(res.Plan)[0].NodeID; got != fuller {
			t.Fatalf("seed %d: placed on %s, want the fuller node %s", seed, got, fuller)
		}
	}
}

func TestServiceScaleUpAndDown(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 3)
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)

	job.TaskGroups[0].Count = 5
	res := h.schedule(h.eval(h.upsertJob(job), structs.EvalTriggerJobRegister))
	if got := names(h.newPlacements(res.Plan)); !reflect.DeepEqual(got, []string{"web.web[3]", "web.web[4]"}) {
		t.Fatalf("scale up placed %v", got)
	}
	if len(stoppedAllocs(res.Plan)) != 0 {
		t.Fatalf("scale up stopped allocations")
	}
	h.apply(res)

	job.TaskGroups[0].Count = 2
	stored := h.upsertJob(job)
	res = h.run(stored, structs.EvalTriggerJobRegister)
	if got := names(stoppedAllocs(res.Plan)); !reflect.DeepEqual(got, []string{"web.web[2]", "web.web[3]", "web.web[4]"}) {
		t.Fatalf("scale down stopped %v, want the highest indexes", got)
	}
	if got := nameSet(h.liveAllocs("web")); !reflect.DeepEqual(got, []string{"web.web[0]", "web.web[1]"}) {
		t.Fatalf("live after scale down: %v", got)
	}
	// Only the count changed, so the survivors were updated in place.
	for _, a := range h.liveAllocs("web") {
		if a.JobVersion != stored.Version {
			t.Fatalf("alloc %s still on version %d, want %d", a.Name, a.JobVersion, stored.Version)
		}
	}
}

func TestServiceFillsLowestMissingIndex(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 4))
	h.run(job, structs.EvalTriggerJobRegister)
	live := h.liveAllocs("web")
	// Two service allocations exit: their indexes are free again.
	h.clientStatus(live["web.web[1]"].ID, structs.AllocClientStatusComplete)
	h.clientStatus(live["web.web[3]"].ID, structs.AllocClientStatusComplete)
	res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if got := names(placed(res.Plan)); !reflect.DeepEqual(got, []string{"web.web[1]", "web.web[3]"}) {
		t.Fatalf("placed %v", got)
	}
}

func TestServiceReschedulesFailedWithinPolicy(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000), mkNode(3, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 2)
	job.TaskGroups[0].ReschedulePolicy = &structs.ReschedulePolicy{Attempts: 1, Interval: time.Hour}
	job = h.upsertJob(job)
	h.run(job, structs.EvalTriggerJobRegister)
	failed := h.liveAllocs("web")["web.web[1]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)

	res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].Name != "web.web[1]" || p[0].PreviousAllocation != failed.ID {
		t.Fatalf("replacement wrong: %+v", p)
	}
	tr := p[0].RescheduleTracker
	if tr == nil || len(tr.Events) != 1 || tr.Events[0].PrevAllocID != failed.ID || tr.Events[0].PrevNodeID != failed.NodeID ||
		tr.Events[0].RescheduleTime != testNow {
		t.Fatalf("reschedule tracker wrong: %+v", tr)
	}
	if p[0].NodeID == failed.NodeID {
		t.Fatalf("replacement went back to the failed node")
	}
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].ID != failed.ID || st[0].DesiredDescription != descRescheduled {
		t.Fatalf("failed alloc not stopped: %+v", st)
	}

	// The replacement fails too: the single attempt within the hour is used up.
	h.clientStatus(p[0].ID, structs.AllocClientStatusFailed)
	res = h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if !res.Plan.IsNoOp() {
		t.Fatalf("rescheduled beyond the policy: %v placed", names(placed(res.Plan)))
	}
	if res.EvalUpdate.QueuedAllocations["web"] != 0 {
		t.Fatalf("queued %v", res.EvalUpdate.QueuedAllocations)
	}
}

func TestServiceReplacesLostAllocs(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 2)
	job.Constraints = []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts, RTarget: "true"}}
	job = h.upsertJob(job)
	h.run(job, structs.EvalTriggerJobRegister)
	var onNode1 *structs.Allocation
	for _, a := range h.liveAllocs("web") {
		if a.NodeID == nodeID(1) {
			onNode1 = a
		}
	}
	if onNode1 == nil {
		t.Fatalf("distinct_hosts did not spread the group")
	}
	h.setNodeStatus(nodeID(1), structs.NodeStatusDown)
	h.upsertNodes(mkNode(3, "dc1", 4000, 8000))

	res := h.run(job, structs.EvalTriggerNodeUpdate)
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].ID != onNode1.ID || st[0].ClientStatus != structs.AllocClientStatusLost ||
		st[0].DesiredDescription != descLost {
		t.Fatalf("lost alloc not marked: %+v", st)
	}
	p := placed(res.Plan)
	if len(p) != 1 || p[0].Name != onNode1.Name || p[0].NodeID != nodeID(3) || p[0].PreviousAllocation != onNode1.ID {
		t.Fatalf("lost alloc not replaced on the new node: %+v", p)
	}
	// Lost allocations stay replaced.
	if res := h.run(job, structs.EvalTriggerNodeUpdate); !res.Plan.IsNoOp() {
		t.Fatalf("lost alloc replaced twice")
	}
}

func TestServiceJobStopAndDeregister(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 3)
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)

	job.Stop = true
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobDeregister)
	if len(stoppedAllocs(res.Plan)) != 3 || len(placed(res.Plan)) != 0 || res.Plan.Job != nil {
		t.Fatalf("stop: %d stopped %d placed", len(stoppedAllocs(res.Plan)), len(placed(res.Plan)))
	}
	if len(h.liveAllocs("web")) != 0 {
		t.Fatalf("allocations survive a stopped job")
	}

	// A purged job: the eval still completes and stops what is left.
	h2 := newHarness(t)
	h2.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	j2 := h2.upsertJob(mkJob("gone", structs.JobTypeService, 2))
	h2.run(j2, structs.EvalTriggerJobRegister)
	if err := h2.store.DeleteJob(h2.next(), "default", "gone"); err != nil {
		t.Fatalf("delete job: %v", err)
	}
	res = h2.schedule(h2.eval(j2, structs.EvalTriggerJobDeregister))
	if len(stoppedAllocs(res.Plan)) != 2 || res.EvalUpdate.Status != structs.EvalStatusComplete {
		t.Fatalf("purged job: %d stopped, status %s", len(stoppedAllocs(res.Plan)), res.EvalUpdate.Status)
	}
}

func TestServiceDestructiveAndInPlaceUpdate(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 2)
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	before := h.liveAllocs("web")

	// A changed update stanza does not touch what runs: in place.
	job.TaskGroups[0].Update = &structs.UpdateStrategy{MaxParallel: 2}
	v1 := h.upsertJob(job)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	if len(stoppedAllocs(res.Plan)) != 0 || len(placed(res.Plan)) != 2 {
		t.Fatalf("in-place: %d stopped %d updated", len(stoppedAllocs(res.Plan)), len(placed(res.Plan)))
	}
	for _, a := range placed(res.Plan) {
		if before[a.Name] == nil || before[a.Name].ID != a.ID || a.JobVersion != v1.Version {
			t.Fatalf("in-place update replaced the allocation: %+v", a)
		}
	}

	// A changed command must restart the tasks: stop old, place new.
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/true"}
	v2 := h.upsertJob(job)
	res = h.run(v2, structs.EvalTriggerJobRegister)
	st, p := stoppedAllocs(res.Plan), placed(res.Plan)
	if len(st) != 2 || len(p) != 2 {
		t.Fatalf("destructive: %d stopped %d placed", len(st), len(p))
	}
	for _, a := range st {
		if a.DesiredDescription != descUpdating {
			t.Fatalf("stop description %q", a.DesiredDescription)
		}
	}
	for _, a := range p {
		if before[a.Name] == nil || a.ID == before[a.Name].ID || a.PreviousAllocation != before[a.Name].ID || a.JobVersion != v2.Version {
			t.Fatalf("replacement wrong: %+v", a)
		}
	}
}

func TestBlockedEvalOnInsufficientResources(t *testing.T) {
	h := newHarness(t)
	// Each node fits three 128 MB tasks by memory; cpu is plentiful.
	h.upsertNodes(mkNode(1, "dc1", 10000, 400), mkNode(2, "dc1", 10000, 400))
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 10))
	ev := h.eval(job, structs.EvalTriggerJobRegister)
	res := h.schedule(ev)

	if n := len(placed(res.Plan)); n != 6 {
		t.Fatalf("placed %d, want 6", n)
	}
	up := res.EvalUpdate
	if up.QueuedAllocations["web"] != 4 {
		t.Fatalf("queued %v, want 4", up.QueuedAllocations)
	}
	m := up.FailedTGAllocs["web"]
	if m == nil {
		t.Fatalf("no failed metric")
	}
	if m.NodesEvaluated != 2 || m.NodesExhausted != 2 || m.DimensionExhausted["memory"] != 2 ||
		m.NodesAvailable["dc1"] != 2 || m.CoalescedFailures != 3 || m.NodesFiltered != 0 || m.NodesInPool != 2 {
		t.Fatalf("failed metric wrong: %+v", m)
	}
	if len(res.CreateEvals) != 1 {
		t.Fatalf("want one blocked eval, got %d", len(res.CreateEvals))
	}
	b := res.CreateEvals[0]
	if b.Status != structs.EvalStatusBlocked || b.TriggeredBy != structs.EvalTriggerQueuedAllocs ||
		b.PreviousEval != ev.ID || up.BlockedEval != b.ID || b.JobID != "web" || b.ID == ev.ID {
		t.Fatalf("blocked eval wrong: %+v (update BlockedEval %q)", b, up.BlockedEval)
	}
}

func TestConstraintFilteredCounts(t *testing.T) {
	h := newHarness(t)
	var nodes []*structs.Node
	for i := 1; i <= 6; i++ {
		n := mkNode(i, "dc1", 4000, 8000)
		if i > 2 {
			n.Attributes["kernel.name"] = "windows"
		}
		nodes = append(nodes, n)
	}
	h.upsertNodes(nodes...)
	job := mkJob("web", structs.JobTypeService, 1)
	job.Constraints = []*structs.Constraint{{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"}}
	job.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${meta.rack}", Operand: "!=", RTarget: "r1"}}
	job = h.upsertJob(job)
	res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
	p := placed(res.Plan)
	// Node 1 sits in rack r1, so only node 2 passes both constraints.
	if len(p) != 1 || p[0].NodeID != nodeID(2) {
		t.Fatalf("placed %+v", p)
	}

	// Ask for more than the one feasible node can hold with distinct hosts.
	job.TaskGroups[0].Count = 2
	job.TaskGroups[0].Constraints = append(job.TaskGroups[0].Constraints,
		&structs.Constraint{Operand: structs.ConstraintDistinctHosts})
	job = h.upsertJob(job)
	res = h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil {
		t.Fatalf("expected a failed placement")
	}
	if m.NodesEvaluated != 6 || m.NodesFiltered != 6 ||
		m.ConstraintFiltered["${attr.kernel.name} = linux"] != 4 ||
		m.ConstraintFiltered["${meta.rack} != r1"] != 1 ||
		m.ConstraintFiltered[structs.ConstraintDistinctHosts] != 1 {
		t.Fatalf("constraint metrics wrong: %+v", m)
	}
}

func TestStaticPortCollision(t *testing.T) {
	h := newHarness(t)
	n1 := mkNode(1, "dc1", 4000, 8000)
	n1.ReservedResources = &structs.NodeReservedResources{Networks: structs.NodeReservedNetworkResources{ReservedHostPorts: "22,8000-8100"}}
	h.upsertNodes(n1, mkNode(2, "dc1", 4000, 8000), mkNode(3, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 3)
	job.TaskGroups[0].Networks = []*structs.NetworkResource{{
		Mode:          "host",
		ReservedPorts: []structs.Port{{Label: "http", Value: 8080}},
		DynamicPorts:  []structs.Port{{Label: "admin"}},
	}}
	job = h.upsertJob(job)
	res := h.run(job, structs.EvalTriggerJobRegister)
	p := placed(res.Plan)
	if len(p) != 2 {
		t.Fatalf("placed %d, want 2 (node 1 reserves the port, one alloc per other node)", len(p))
	}
	seen := map[string]bool{}
	for _, a := range p {
		if a.NodeID == nodeID(1) || seen[a.NodeID] {
			t.Fatalf("port collision on %s", a.NodeID)
		}
		seen[a.NodeID] = true
		ports := a.AllocatedResources.Shared.Ports
		if len(ports) != 1 || ports[0].Value != 8080 || ports[0].Label != "http" || !strings.HasPrefix(ports[0].HostIP, "10.0.") {
			t.Fatalf("shared ports %+v", ports)
		}
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted["network: reserved port collision"] != 3 {
		t.Fatalf("port metric wrong: %+v", m)
	}
	// Ports held by committed allocations are seen on the next eval.
	res = h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
	if len(placed(res.Plan)) != 0 || res.EvalUpdate.QueuedAllocations["web"] != 1 {
		t.Fatalf("second eval placed onto taken ports")
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	h := newHarness(t)
	var nodes []*structs.Node
	for i := 1; i <= 50; i++ {
		nodes = append(nodes, mkNode(i, "dc1", int64(2000+100*(i%7)), int64(4000+256*(i%5))))
	}
	h.upsertNodes(nodes...)
	job := h.upsertJob(mkJob("web", structs.JobTypeService, 40))
	ev := h.eval(job, structs.EvalTriggerJobRegister)
	snap := h.store.Snapshot()
	a, err := Schedule(snap, ev, Config{Seed: 7, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Schedule(snap, ev, Config{Seed: 7, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different results")
	}
	c, err := Schedule(snap, ev, Config{Seed: 8, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(placed(a.Plan), placed(c.Plan)) {
		t.Fatalf("different seeds gave identical plans")
	}
}

func TestScheduleRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	if _, err := Schedule(h.store.Snapshot(), nil, Config{}); err == nil {
		t.Fatalf("nil eval accepted")
	}
	if _, err := Schedule(nil, &structs.Evaluation{}, Config{}); err == nil {
		t.Fatalf("nil state accepted")
	}
	j := mkJob("odd", "weird", 1)
	h.upsertJob(j)
	if _, err := Schedule(h.store.Snapshot(), h.eval(j, structs.EvalTriggerJobRegister), Config{}); err == nil {
		t.Fatalf("unknown job type accepted")
	}
}

func TestJobAntiAffinitySpreadsGroup(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		h := newHarness(t)
		h.seed = seed
		h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
		job := h.upsertJob(mkJob("web", structs.JobTypeService, 2))
		res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
		p := placed(res.Plan)
		if len(p) != 2 || p[0].NodeID == p[1].NodeID {
			t.Fatalf("seed %d: group stacked on one node", seed)
		}
		var sawPenalty bool
		for _, a := range p {
			if _, ok := a.Metrics.ScoreMetaData[0].Scores[scoreBinPack]; !ok {
				t.Fatalf("no binpack score recorded")
			}
			sawPenalty = sawPenalty || a.Metrics.ScoreMetaData[0].Scores[scoreJobAntiAff] != 0
		}
		if sawPenalty {
			t.Fatalf("chosen nodes should carry no anti-affinity penalty")
		}
	}
}

func TestTemplateJobsPlaceNothing(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	j := mkJob("cron", structs.JobTypeBatch, 1)
	j.Periodic = &structs.PeriodicConfig{Enabled: true, Spec: "*/5 * * * *"}
	res := h.schedule(h.eval(h.upsertJob(j), structs.EvalTriggerJobRegister))
	if !res.Plan.IsNoOp() {
		t.Fatalf("periodic template placed allocations")
	}
}

func TestInPlaceFallsBackWhenNodeNoLongerFeasible(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc2", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 1)
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	old := h.liveAllocs("web")["web.web[0]"]
	if old.NodeID != nodeID(1) {
		t.Fatalf("placed outside dc1")
	}
	// Only job-level placement fields change: the group itself is equal,
	// but node 1 is no longer in the job's datacenters.
	job.Datacenters = []string{"dc2"}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	st, p := stoppedAllocs(res.Plan), placed(res.Plan)
	if len(st) != 1 || st[0].ID != old.ID || len(p) != 1 || p[0].NodeID != nodeID(2) || p[0].PreviousAllocation != old.ID {
		t.Fatalf("want a destructive move to dc2: stopped %d, placed %+v", len(st), p)
	}
}

func TestRemovedGroupStopped(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 1)
	db := *job.TaskGroups[0]
	db.Name = "db"
	job.TaskGroups = append(job.TaskGroups, &db)
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if got := names(placed(res.Plan)); !reflect.DeepEqual(got, []string{"web.db[0]", "web.web[0]"}) {
		t.Fatalf("placed %v", got)
	}
	job.TaskGroups = job.TaskGroups[:1]
	res = h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].Name != "web.db[0]" || st[0].DesiredDescription != descNotNeeded {
		t.Fatalf("removed group not stopped: %+v", st)
	}
	if _, ok := res.EvalUpdate.QueuedAllocations["db"]; ok {
		t.Fatalf("queued counts a removed group")
	}
}

// all_at_once travels from the job to its plan, where the plan applier
// (server.TestPlanApplierAllAtOnceIsAllOrNothing) refuses the whole plan
// on any misfit instead of committing what fits.
func TestAllAtOnceJobMakesAllOrNothingPlan(t *testing.T) {
	for _, allAtOnce := range []bool{false, true} {
		h := newHarness(t)
		h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
		j := mkJob("web", structs.JobTypeService, 2)
		j.AllAtOnce = allAtOnce
		job := h.upsertJob(j)
		res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
		if res.Plan.AllAtOnce != allAtOnce || len(placed(res.Plan)) != 2 {
			t.Fatalf("all_at_once=%v: plan AllAtOnce=%v with %d placements", allAtOnce, res.Plan.AllAtOnce, len(placed(res.Plan)))
		}
	}
}
