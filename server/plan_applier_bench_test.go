package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// BenchmarkPlanApply measures the plan applier's throughput with Raft on
// disk, on a lone server and on the leader of three: 4 submitters (as
// scheduler workers) send plans that each place 50 allocations on random
// nodes of 200, each node already running 50. The applier checks every
// node a plan touches (its allocations, ports, capacity) and commits
// through Raft; pipelined, the check of plan N+1 overlaps plan N's commit.
//
//	go test -run '^$' -bench PlanApply -benchtime 300x ./server/
func BenchmarkPlanApply(b *testing.B) {
	for _, servers := range []int{1, 3} {
		for _, mode := range []struct {
			name   string
			serial bool
		}{{"Serial", true}, {"Pipelined", false}} {
			b.Run(fmt.Sprintf("%dServers/%s", servers, mode.name), func(b *testing.B) {
				var s *Server
				if servers == 1 {
					s = testServerWith(b, b.TempDir(), func(c *Config) { c.NumWorkers = -1 })
				} else {
					s = waitLeader(b, testCluster(b, servers, func(_ int, c *Config) { c.NumWorkers = -1 }))
				}
				benchPlanApply(b, s, mode.serial)
			})
		}
	}
}

func benchPlanApply(b *testing.B, s *Server, serial bool) {
	const (
		nodes        = 200
		perNode      = 50
		perPlan      = 50
		submitters   = 4
		allocMemMB   = 16
		nodeMemoryMB = 1 << 20
	)
	ctx := context.Background()
	job := testJob("bench", 1, allocMemMB)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		b.Fatal(err)
	}
	// The register eval is outstanding with nobody to work it; take it.
	if _, _, err := s.broker.Dequeue(ctx); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := 0; i < nodes; i++ {
		n := testNode(fmt.Sprintf("n%d", i), 1<<30, nodeMemoryMB)
		if _, err := s.RegisterNode(ctx, n); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, n.ID)
		var allocs []*structs.Allocation
		for k := 0; k < perNode; k++ {
			allocs = append(allocs, planAlloc(job, n.ID, k, allocMemMB))
		}
		if _, err := s.raftApply(raftfsm.ApplyPlanResultsType, &raftfsm.ApplyPlanResults{AllocsUpdated: allocs}); err != nil {
			b.Fatal(err)
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPlanApplier(s)
	p.serial = serial
	p.start(pctx)

	// One outstanding eval per plan, as a worker holds while planning.
	type work struct {
		plan  *structs.Plan
		token string
	}
	jobs := make(chan work, b.N)
	for i := 0; i < b.N; i++ {
		ev := &structs.Evaluation{ID: structs.GenerateUUID(), Namespace: "default", JobID: fmt.Sprintf("j%d", i),
			Priority: 50, Type: structs.JobTypeService, Status: structs.EvalStatusPending}
		s.broker.Enqueue(ev)
		got, token, err := s.broker.Dequeue(ctx)
		if err != nil || got.ID != ev.ID {
			b.Fatalf("dequeue: %v", err)
		}
		plan := &structs.Plan{EvalID: ev.ID, Job: job}
		for k := 0; k < perPlan; k++ {
			plan.AppendAlloc(planAlloc(job, ids[rand.IntN(nodes)], k, allocMemMB))
		}
		jobs <- work{plan, token}
	}
	close(jobs)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < submitters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for wk := range jobs {
				res, err := p.Submit(ctx, wk.plan, wk.token, nil)
				if err != nil {
					b.Error(err)
					return
				}
				if full, _, _ := res.FullCommit(wk.plan); !full {
					b.Error("plan refused in part")
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "plans/s")
	b.ReportMetric(float64(b.N*perPlan)/elapsed.Seconds(), "placements/s")
}
