package server

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// simNode is one simulated client: it watches its node's allocations with
// a blocking query, as a real client does, and reports each new one
// running and healthy (min_healthy_time 0) and each stopped one complete,
// in one batch per wake-up, through the same server call a client's
// update reaches.
func simNode(ctx context.Context, s *Server, nodeID string) {
	reported := map[string]string{}
	for ctx.Err() == nil {
		ws := memdb.NewWatchSet()
		allocs, err := s.State().Snapshot().AllocsByNode(ws, nodeID)
		if err != nil {
			return
		}
		yes := true
		var ups []*structs.Allocation
		for _, a := range allocs {
			if a.ClientTerminalStatus() {
				continue
			}
			u := &structs.Allocation{ID: a.ID, DeploymentID: a.DeploymentID, ClientStatus: structs.AllocClientStatusRunning}
			if a.DesiredStatus != structs.AllocDesiredStatusRun {
				u.ClientStatus = structs.AllocClientStatusComplete
			} else if !a.DeploymentStatus.HealthSet() {
				u.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: &yes}
			}
			key := u.ClientStatus + a.DeploymentID
			if reported[a.ID] == key {
				continue
			}
			reported[a.ID] = key
			ups = append(ups, u)
		}
		if len(ups) > 0 {
			if _, err := s.UpdateAllocsFromClient(ctx, ups); err != nil && ctx.Err() == nil {
				for _, u := range ups {
					delete(reported, u.ID) // try again next round
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		_ = ws.WatchCtx(ctx)
	}
}

// BenchmarkRollingUpdate1000Allocs is issue 10's rollout benchmark: a
// 1,000-allocation service on 100 simulated clients rolls to a new version
// with max_parallel = 50 through the real server (Raft on disk, broker,
// workers, plan applier, FSM, deployment watcher). It reports the time
// from submitting the new version to its deployment succeeding, and the
// process CPU (server and simulated clients together) per replaced
// allocation.
func BenchmarkRollingUpdate1000Allocs(b *testing.B) {
	const nodes, count, parallel = 100, 1000, 50
	var total time.Duration
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := testServerWith(b, b.TempDir(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for n := 0; n < nodes; n++ {
			node := testNode(fmt.Sprintf("n%d", n), 64000, 256000)
			if _, err := s.RegisterNode(ctx, node); err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); simNode(ctx, s, node.ID) }()
		}
		job := rolloutJob("roll", count)
		job.TaskGroups[0].Update.MaxParallel = parallel
		job.TaskGroups[0].Update.Canary = 0
		job.TaskGroups[0].Tasks[0].Resources.MemoryMB = 32
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
			b.Fatal(err)
		}
		waitDeploymentB(b, s, "roll", 0)
		job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"2"}}
		b.StartTimer()
		cpu0, start := rusageCPU(b), time.Now()
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
			b.Fatal(err)
		}
		waitDeploymentB(b, s, "roll", 1)
		total += time.Since(start)
		cpu += rusageCPU(b) - cpu0
		b.StopTimer()
		if n := len(liveAllocs(b, s, "roll")); n != count {
			b.Fatalf("%d live allocations after the rollout", n)
		}
		evals, _ := s.State().EvalsByJob(nil, "default", "roll")
		byStatus := map[string]int{}
		for _, e := range evals {
			byStatus[e.TriggeredBy+"/"+e.Status]++
		}
		idx, _ := s.State().LatestIndex()
		b.Logf("evals %v, raft index %d", byStatus, idx)
		cancel()
		wg.Wait()
		_ = s.Shutdown()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-successful")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*count), "cpu-µs/replaced")
}

func waitDeploymentB(b *testing.B, s *Server, job string, version uint64) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ws := memdb.NewWatchSet()
		deps, err := s.State().Snapshot().DeploymentsByJob(ws, "default", job)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range deps {
			if d.JobVersion == version {
				switch d.Status {
				case structs.DeploymentStatusSuccessful:
					return
				case structs.DeploymentStatusFailed, structs.DeploymentStatusCancelled:
					b.Fatalf("deployment of version %d %s: %s", version, d.Status, d.StatusDescription)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = ws.WatchCtx(ctx)
		cancel()
	}
	b.Fatalf("deployment of version %d did not succeed", version)
}

func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
