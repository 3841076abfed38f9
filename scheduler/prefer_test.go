package scheduler

import (
	"fmt"
	"math"
	"testing"

	"github.com/orch-project/orch/structs"
)

// rackCluster stores n identical nodes; node i is in rack r<i%racks> and
// datacenter dc1 or dc2 alternately by rack.
func rackCluster(h *harness, n, racks int) []*structs.Node {
	nodes := make([]*structs.Node, n)
	for i := range nodes {
		dc := "dc1"
		if (i%racks)%2 == 1 {
			dc = "dc2"
		}
		nodes[i] = mkNode(i+1, dc, 100_000, 100_000)
		nodes[i].Meta["rack"] = fmt.Sprintf("r%d", i%racks)
	}
	h.upsertNodes(nodes...)
	return nodes
}

// countBy counts the job's live allocations by a node property.
func countBy(h *harness, jobID string, prop func(*structs.Node) string) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, a := range h.liveAllocs(jobID) {
		n, err := h.store.NodeByID(nil, a.NodeID)
		if err != nil || n == nil {
			h.t.Fatalf("node %s: %v", a.NodeID, err)
		}
		out[prop(n)]++
	}
	return out
}

func rackOf(n *structs.Node) string { return n.Meta["rack"] }
func dcOf(n *structs.Node) string   { return n.Datacenter }

// TestAffinityPrefersFewMatchingNodes: among 2,000 nodes, the 10 whose
// rack an affinity names get the group's allocations although a sample
// of log2(n) would rarely contain them; a negative weight keeps the group
// off a rack; task-level affinities apply to the group.
func TestAffinityPrefersFewMatchingNodes(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 2000, 200)
	job := mkJob("aff", structs.JobTypeService, 10)
	job.Datacenters = []string{"dc1", "dc2"}
	job.TaskGroups[0].Tasks[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r7", Weight: 100}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if got := countBy(h, "aff", rackOf); got["r7"] != 10 {
		t.Fatalf("racks %v, want all 10 on r7", got)
	}
	if s := placed(res.Plan)[0].Metrics.ScoreMetaData[0].Scores[scoreNodeAffinity]; s != 1 {
		t.Fatalf("node-affinity score %v, want 1", s)
	}

	anti := mkJob("anti", structs.JobTypeService, 40)
	anti.Datacenters = []string{"dc1", "dc2"}
	anti.Affinities = []*structs.Affinity{{LTarget: "${node.datacenter}", Operand: "=", RTarget: "dc1", Weight: -100}}
	h.run(h.upsertJob(anti), structs.EvalTriggerJobRegister)
	if got := countBy(h, "anti", dcOf); got["dc1"] != 0 {
		t.Fatalf("datacenters %v, want none in dc1", got)
	}
}

// TestAffinityYieldsToFeasibility: an affinity is a preference: when the
// preferred nodes are full the group still places elsewhere.
func TestAffinityYieldsToFeasibility(t *testing.T) {
	h := newHarness(t)
	nodes := rackCluster(h, 100, 10)
	for _, n := range nodes {
		if n.Meta["rack"] == "r3" {
			n.NodeResources.Cpu.CpuShares = 150 // room for one task
		}
	}
	h.upsertNodes(nodes...)
	job := mkJob("aff", structs.JobTypeService, 25)
	job.Datacenters = []string{"dc1", "dc2"}
	job.TaskGroups[0].Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r3", Weight: 50}}
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	got := countBy(h, "aff", rackOf)
	total := 0
	for _, n := range got {
		total += n
	}
	if total != 25 || got["r3"] != 10 {
		t.Fatalf("racks %v, want 25 placed, r3's 10 nodes one each", got)
	}
}

// TestSpreadEvenAcrossValues: without targets a spread shares the count
// evenly among the values, here 50 racks over 2,000 nodes, and a scale-up
// in a later eval keeps it even.
func TestSpreadEvenAcrossValues(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 2000, 50)
	job := mkJob("spread", structs.JobTypeService, 100)
	job.Datacenters = []string{"dc1", "dc2"}
	job.Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	checkEven(t, countBy(h, "spread", rackOf), 50, 2)
	if _, ok := placed(res.Plan)[0].Metrics.ScoreMetaData[0].Scores[scoreSpread]; !ok {
		t.Fatal("no allocation-spread score")
	}
	job.TaskGroups[0].Count = 150
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	checkEven(t, countBy(h, "spread", rackOf), 50, 3)
}

func checkEven(t *testing.T, got map[string]int, values, each int) {
	t.Helper()
	if len(got) != values {
		t.Fatalf("%d values used, want %d: %v", len(got), values, got)
	}
	for v, n := range got {
		if n != each {
			t.Fatalf("%s has %d, want %d each: %v", v, n, each, got)
		}
	}
}

// TestSpreadTargets: targets' percentages are met; the percentage left is
// shared by the values without a target; a value with none left gets
// nothing.
func TestSpreadTargets(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 300, 3) // r0, r2 in dc1; r1 in dc2
	job := mkJob("pct", structs.JobTypeService, 10)
	job.Datacenters = []string{"dc1", "dc2"}
	job.Spreads = []*structs.Spread{{Attribute: "${node.datacenter}", Weight: 100,
		SpreadTarget: []*structs.SpreadTarget{{Value: "dc1", Percent: 30}, {Value: "dc2", Percent: 70}}}}
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if got := countBy(h, "pct", dcOf); got["dc1"] != 3 || got["dc2"] != 7 {
		t.Fatalf("datacenters %v, want 3/7", got)
	}

	rest := mkJob("rest", structs.JobTypeService, 10)
	rest.Datacenters = []string{"dc1", "dc2"}
	rest.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100,
		SpreadTarget: []*structs.SpreadTarget{{Value: "r1", Percent: 50}}}}
	h.run(h.upsertJob(rest), structs.EvalTriggerJobRegister)
	if got := countBy(h, "rest", rackOf); got["r1"] != 5 || got["r0"]+got["r2"] != 5 || got["r0"] < 2 || got["r2"] < 2 {
		t.Fatalf("racks %v, want r1 5 and the rest shared", got)
	}

	only := mkJob("only", structs.JobTypeService, 6)
	only.Datacenters = []string{"dc1", "dc2"}
	only.Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100,
		SpreadTarget: []*structs.SpreadTarget{{Value: "r0", Percent: 50}, {Value: "r2", Percent: 50}}}}
	h.run(h.upsertJob(only), structs.EvalTriggerJobRegister)
	if got := countBy(h, "only", rackOf); got["r1"] != 0 || got["r0"] != 3 || got["r2"] != 3 {
		t.Fatalf("racks %v, want 3/3 and none on r1", got)
	}
}

// TestSpreadMultipleAttributes is the docs' example: count 12 over two
// datacenters with two racks each, weights 50/50: 6 per datacenter, 3 per
// rack.
func TestSpreadMultipleAttributes(t *testing.T) {
	h := newHarness(t)
	nodes := rackCluster(h, 400, 4) // r0,r2 dc1; r1,r3 dc2
	for _, n := range nodes {
		n.Meta["rack"] = map[string]string{"r0": "a", "r1": "a", "r2": "b", "r3": "b"}[n.Meta["rack"]]
	}
	h.upsertNodes(nodes...)
	job := mkJob("multi", structs.JobTypeService, 12)
	job.Datacenters = []string{"dc1", "dc2"}
	job.Spreads = []*structs.Spread{{Attribute: "${node.datacenter}", Weight: 50}, {Attribute: "${meta.rack}", Weight: 50}}
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	got := countBy(h, "multi", func(n *structs.Node) string { return n.Datacenter + "/" + n.Meta["rack"] })
	for _, k := range []string{"dc1/a", "dc1/b", "dc2/a", "dc2/b"} {
		if got[k] != 3 {
			t.Fatalf("placements %v, want 3 in each datacenter and rack", got)
		}
	}
}

// TestSpreadMissingPropertyPenalized: nodes without the spread attribute
// score -1 and are used only when nothing else fits.
func TestSpreadMissingPropertyPenalized(t *testing.T) {
	h := newHarness(t)
	nodes := rackCluster(h, 40, 2)
	for _, n := range nodes[:30] {
		delete(n.Meta, "rack")
	}
	h.upsertNodes(nodes...)
	job := mkJob("miss", structs.JobTypeService, 8)
	job.Datacenters = []string{"dc1", "dc2"}
	job.Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if got := countBy(h, "miss", rackOf); got[""] != 0 || got["r0"] != 4 || got["r1"] != 4 {
		t.Fatalf("racks %v", got)
	}
	for _, a := range placed(res.Plan) {
		if s := a.Metrics.ScoreMetaData[0].Scores[scoreSpread]; math.IsNaN(s) || s < -1 || s > 1 {
			t.Fatalf("spread score %v", s)
		}
	}
}

// TestDistinctProperty: at most value allocations per property value, at
// job level across the job's groups and at group level per group; nodes
// without the property are filtered; a stop frees its value's room.
func TestDistinctProperty(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 40, 4)
	job := mkJob("dp", structs.JobTypeService, 10)
	job.Datacenters = []string{"dc1", "dc2"}
	job.TaskGroups[0].Constraints = []*structs.Constraint{{LTarget: "${meta.rack}", Operand: structs.ConstraintDistinctProperty, RTarget: "2"}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	got := countBy(h, "dp", rackOf)
	for _, r := range []string{"r0", "r1", "r2", "r3"} {
		if got[r] != 2 {
			t.Fatalf("racks %v, want 2 each", got)
		}
	}
	key := "${meta.rack} distinct_property 2"
	if m := res.EvalUpdate.FailedTGAllocs["web"]; m == nil || m.ConstraintFiltered[key] == 0 {
		t.Fatalf("metric %+v, want %q", m, key)
	}

	// Job level: two groups share one rack budget of one each.
	two := mkJob("dpjob", structs.JobTypeService, 3)
	two.Datacenters = []string{"dc1", "dc2"}
	g2 := *two.TaskGroups[0]
	g2.Name = "other"
	two.TaskGroups = append(two.TaskGroups, &g2)
	two.Constraints = []*structs.Constraint{{LTarget: "${meta.rack}", Operand: structs.ConstraintDistinctProperty}}
	h.run(h.upsertJob(two), structs.EvalTriggerJobRegister)
	got = countBy(h, "dpjob", rackOf)
	if len(got) != 4 || got["r0"] != 1 || got["r1"] != 1 || got["r2"] != 1 || got["r3"] != 1 {
		t.Fatalf("racks %v, want one allocation per rack across both groups", got)
	}

	// Scaling the first group down frees room in its racks.
	job.TaskGroups[0].Count = 7
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	job.TaskGroups[0].Count = 8
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	// 8 live with at most 2 per rack: the scale-up took the freed room.
	if got := countBy(h, "dp", rackOf); len(h.liveAllocs("dp")) != 8 || got["r0"] > 2 || got["r1"] > 2 || got["r2"] > 2 || got["r3"] > 2 {
		t.Fatalf("after scale down and up: %v", got)
	}
}

// TestDistinctHosts: job-level distinct_hosts keeps all the job's
// allocations apart; group level only the group's.
func TestDistinctHosts(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 3, 1)
	job := mkJob("dh", structs.JobTypeService, 5)
	job.TaskGroups[0].Constraints = []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	on := countBy(h, "dh", func(n *structs.Node) string { return n.ID })
	if len(on) != 3 || res.EvalUpdate.FailedTGAllocs["web"].ConstraintFiltered[reasonDistinctHosts] == 0 {
		t.Fatalf("nodes %v", on)
	}
	for _, n := range on {
		if n != 1 {
			t.Fatalf("two allocations on one node: %v", on)
		}
	}
}

// TestPreferenceChangeReplacesAllocations: changing a job's spread (or
// affinity) is a destructive update, as in Nomad, so the allocations move
// to where the new preference wants them; a count change alone is not.
func TestPreferenceChangeReplacesAllocations(t *testing.T) {
	h := newHarness(t)
	rackCluster(h, 40, 2)
	job := mkJob("move", structs.JobTypeService, 4)
	job.Datacenters = []string{"dc1", "dc2"}
	job.Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100,
		SpreadTarget: []*structs.SpreadTarget{{Value: "r0", Percent: 100}}}}
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if got := countBy(h, "move", rackOf); got["r0"] != 4 {
		t.Fatalf("racks %v", got)
	}
	job.Spreads[0].SpreadTarget[0].Value = "r1"
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if d := res.Annotations.DesiredTGUpdates["web"]; d.DestructiveUpdate != 4 {
		t.Fatalf("desired %+v, want 4 destructive updates", d)
	}
	if got := countBy(h, "move", rackOf); got["r1"] != 4 {
		t.Fatalf("racks after the change %v", got)
	}
	job.TaskGroups[0].Count = 5
	res = h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if d := res.Annotations.DesiredTGUpdates["web"]; d.InPlaceUpdate != 4 || d.Place != 1 {
		t.Fatalf("count change: %+v", d)
	}
}
