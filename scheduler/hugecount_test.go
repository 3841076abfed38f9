package scheduler

import (
	"runtime"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestUnplaceableCountCostsNothingPerInstance: a group of count 1e9 on a
// cluster that fits six is scheduled in bounded time and memory (issue 8:
// the scheduler's memory grew with the count until the agent died, at every
// restart). What cannot be placed is only counted: queued allocations, the
// failed-placement metric's coalesced failures and one blocked eval.
func TestUnplaceableCountCostsNothingPerInstance(t *testing.T) {
	const count = 1_000_000_000
	h := newHarness(t)
	// Each node fits three 128 MB tasks.
	h.upsertNodes(mkNode(1, "dc1", 10000, 400), mkNode(2, "dc1", 10000, 400))
	job := h.upsertJob(mkJob("huge", structs.JobTypeService, count))
	ev := h.eval(job, structs.EvalTriggerJobRegister)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := h.schedule(ev)
	took := time.Since(start)
	runtime.ReadMemStats(&after)

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("count %d: %s, %d KiB allocated", count, took, allocated>>10)
	// A handful of allocations and one plan: well under a few MB, where
	// one placement record per instance would take tens of GB.
	if allocated > 8<<20 {
		t.Fatalf("scheduling allocated %d bytes for an unplaceable count", allocated)
	}
	if took > 10*time.Second {
		t.Fatalf("scheduling took %s", took)
	}
	if n := len(placed(res.Plan)); n != 6 {
		t.Fatalf("placed %d, want 6", n)
	}
	up := res.EvalUpdate
	if up.QueuedAllocations["web"] != count-6 {
		t.Fatalf("queued %d, want %d", up.QueuedAllocations["web"], count-6)
	}
	if m := up.FailedTGAllocs["web"]; m == nil || m.CoalescedFailures != count-7 {
		t.Fatalf("failed metric %+v, want %d coalesced failures", m, count-7)
	}
	if len(res.CreateEvals) != 1 || res.CreateEvals[0].Status != structs.EvalStatusBlocked {
		t.Fatalf("want one blocked eval, got %+v", res.CreateEvals)
	}

	// The next pass (the blocked eval unblocked by capacity) is as cheap.
	h.apply(res)
	runtime.GC()
	runtime.ReadMemStats(&before)
	res = h.schedule(h.eval(job, structs.EvalTriggerQueuedAllocs))
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 8<<20 || len(placed(res.Plan)) != 0 {
		t.Fatalf("second pass: %d bytes, %d placed", allocated, len(placed(res.Plan)))
	}
}

// BenchmarkUnplaceableCount schedules a group of count 1e9 on a cluster
// that fits six: the cost must not depend on the count.
func BenchmarkUnplaceableCount(b *testing.B) {
	h := newHarness(b)
	h.upsertNodes(mkNode(1, "dc1", 10000, 400), mkNode(2, "dc1", 10000, 400))
	job := h.upsertJob(mkJob("huge", structs.JobTypeService, 1_000_000_000))
	snap := h.store.Snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Schedule(snap, h.eval(job, structs.EvalTriggerJobRegister), Config{Seed: h.seed, Now: h.now}); err != nil {
			b.Fatal(err)
		}
	}
}
