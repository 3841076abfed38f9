package scheduler

import (
	"fmt"
	"testing"

	"github.com/orch-project/orch/structs"
)

// benchPrefs places count allocations of a job with spread and affinity
// blocks on a cluster of nodes in racks (meta.rack) and two datacenters,
// Nomad's "5k nodes / 600 allocs with spread over 50 racks" shape. check
// verifies each plan.
func benchPrefs(b *testing.B, nodes, racks, count int, adjust func(*structs.Job), check func(*testing.B, map[string]int)) {
	h := benchCluster(b, nodes)
	all, _ := h.store.NodesByIDPrefix(nil, "")
	rackOf := map[string]string{}
	var updated []*structs.Node
	for i, n := range all {
		c := *n
		c.Meta = map[string]string{"rack": fmt.Sprintf("r%d", i*racks/len(all))}
		rackOf[c.ID] = c.Meta["rack"]
		updated = append(updated, &c)
	}
	h.upsertNodes(updated...)
	job := benchJob(structs.JobTypeService, count)
	adjust(job)
	job = h.upsertJob(job)
	snap := h.store.Snapshot()
	ev := h.eval(job, structs.EvalTriggerJobRegister)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Schedule(snap, ev, Config{Seed: uint64(i), Now: testNow})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		perRack := map[string]int{}
		for _, a := range placed(res.Plan) {
			perRack[rackOf[a.NodeID]]++
		}
		if got := len(placed(res.Plan)); got != count {
			b.Fatalf("placed %d of %d", got, count)
		}
		check(b, perRack)
		b.StartTimer()
	}
	b.StopTimer()
	secondsPerOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(count)/secondsPerOp, "placements/s")
	b.ReportMetric((processCPU(b)-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkSpreadEval5kNodes600Allocs spreads 600 allocations evenly over
// 50 racks of 100 nodes each (10 of which fail the job's constraints): every
// rack must get exactly 12.
func BenchmarkSpreadEval5kNodes600Allocs(b *testing.B) {
	benchPrefs(b, 5000, 50, 600, func(j *structs.Job) {
		j.TaskGroups[0].Spreads = []*structs.Spread{{Attribute: "${meta.rack}", Weight: 100}}
	}, func(b *testing.B, perRack map[string]int) {
		for r, n := range perRack {
			if n != 12 || len(perRack) != 50 {
				b.Fatalf("rack %s got %d of 600 over %d racks, want 12 each", r, n, len(perRack))
			}
		}
	})
}

// BenchmarkAffinityEval5kNodes600Allocs places 600 allocations with an
// affinity for one rack of 100 nodes (the eval's constraints leave 90):
// the preferred rack must take at least 90% of them.
func BenchmarkAffinityEval5kNodes600Allocs(b *testing.B) {
	benchPrefs(b, 5000, 50, 600, func(j *structs.Job) {
		j.Affinities = []*structs.Affinity{{LTarget: "${meta.rack}", Operand: "=", RTarget: "r7", Weight: 100}}
	}, func(b *testing.B, perRack map[string]int) {
		if perRack["r7"] < 600*9/10 {
			b.Fatalf("the preferred rack got %d of 600: %v", perRack["r7"], perRack)
		}
	})
}

// BenchmarkPlainEval5kNodes600Allocs is the same eval without preferences,
// the baseline the two above add to.
func BenchmarkPlainEval5kNodes600Allocs(b *testing.B) {
	benchPrefs(b, 5000, 50, 600, func(*structs.Job) {}, func(*testing.B, map[string]int) {})
}
