package scheduler

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// benchCluster stores n nodes of varied sizes across two datacenters.
func benchCluster(b *testing.B, n int) *harness {
	h := newHarness(b)
	nodes := make([]*structs.Node, 0, n)
	for i := 0; i < n; i++ {
		dc := "dc1"
		if i%2 == 1 {
			dc = "dc2"
		}
		node := mkNode(i+1, dc, int64(4000+2000*(i%4)), int64(8192+4096*(i%3)))
		node.NodeClass = fmt.Sprintf("class-%d", i%3)
		node.Attributes["cpu.arch"] = "amd64"
		node.Attributes["os.name"] = "ubuntu"
		node.Attributes["nomad.version"] = "1.7.2"
		if i%10 == 0 {
			node.Attributes["kernel.name"] = "darwin"
		}
		nodes = append(nodes, node)
	}
	h.upsertNodes(nodes...)
	return h
}

func benchJob(typ string, count int) *structs.Job {
	j := mkJob("bench", typ, count)
	j.Datacenters = []string{"dc*"}
	j.Constraints = []*structs.Constraint{
		{LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux"},
		{LTarget: "${attr.nomad.version}", Operand: "version", RTarget: ">= 1.2, < 2.0"},
	}
	return j
}

func benchSchedule(b *testing.B, typ string) {
	const nodes, count = 10_000, 1000
	h := benchCluster(b, nodes)
	job := h.upsertJob(benchJob(typ, count))
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
		if got := len(placed(res.Plan)); got != count {
			b.Fatalf("placed %d of %d", got, count)
		}
	}
	b.StopTimer()
	secondsPerOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(count)/secondsPerOp, "placements/s")
	// The machine is shared, so wall time swings with other load; process
	// CPU time (all threads, GC included) per op is the steadier figure.
	cpuPerOp := (processCPU(b) - cpu0).Seconds() / float64(b.N)
	b.ReportMetric(cpuPerOp*1000, "cpu-ms/op")
}

// processCPU is the process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServiceEval10kNodes1000Allocs measures one service eval placing
// 1000 allocations on a 10,000-node cluster (no commit).
func BenchmarkServiceEval10kNodes1000Allocs(b *testing.B) { benchSchedule(b, structs.JobTypeService) }

// BenchmarkBatchEval10kNodes1000Allocs is the batch variant (2 candidates
// per placement).
func BenchmarkBatchEval10kNodes1000Allocs(b *testing.B) { benchSchedule(b, structs.JobTypeBatch) }

// BenchmarkRollingUpdate1000 rolls a 1,000-allocation service over 100
// nodes to a new version with max_parallel = 50: every round is one
// scheduler run (the plan applied as the FSM would) after the previous
// round's replacements report healthy. It reports the scheduler's CPU per
// replaced allocation and how many evals the rollout took.
func BenchmarkRollingUpdate1000(b *testing.B) {
	const nodes, count, parallel = 100, 1000, 50
	var schedCPU time.Duration
	var rounds int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b)
		for n := 1; n <= nodes; n++ {
			h.upsertNodes(mkNode(n, "dc1", 64000, 256000))
		}
		job := rollingJob("roll", count, parallel, 0)
		v0 := h.upsertJob(job)
		h.run(v0, structs.EvalTriggerJobRegister)
		h.setHealth(true, h.liveList("roll")...)
		h.run(v0, structs.EvalTriggerDeploymentWatcher)
		job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"2"}}
		v1 := h.upsertJob(job)
		b.StartTimer()
		for done := false; !done; {
			cpu0 := processCPU(b)
			res := h.schedule(h.eval(v1, structs.EvalTriggerDeploymentWatcher))
			schedCPU += processCPU(b) - cpu0
			rounds++
			b.StopTimer()
			fresh := h.newPlacements(res.Plan)
			h.apply(res)
			for _, u := range res.Plan.DeploymentUpdates {
				done = done || u.Status == structs.DeploymentStatusSuccessful
			}
			if len(fresh) > 0 {
				h.setHealth(true, fresh...)
			} else if !done && res.Plan.IsNoOp() {
				b.Fatalf("rollout stalled after %d rounds", rounds)
			}
			b.StartTimer()
		}
		if vc := h.versionCount("roll"); vc[v1.Version] != count {
			b.Fatalf("after the rollout: %v", vc)
		}
	}
	b.ReportMetric(float64(schedCPU.Microseconds())/float64(b.N*count), "sched-cpu-µs/replaced")
	b.ReportMetric(float64(rounds)/float64(b.N), "evals/rollout")
}
