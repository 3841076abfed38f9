package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// testGCServer is testServer with a fast GC loop and thresholds so small
// that everything eligible is collected on the next run.
func testGCServer(t *testing.T) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := New(Config{
		DataDir: t.TempDir(), NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port,
		BootstrapExpect: 1, Dev: true, NumWorkers: 2,
		GCInterval: 20 * time.Millisecond, EvalGCThreshold: time.Nanosecond,
		JobGCThreshold: time.Nanosecond, NodeGCThreshold: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	waitUntil(t, 5*time.Second, "leadership", func() bool { return s.IsLeader() })
	return s
}

func reportAllocs(t *testing.T, s *Server, allocs []*structs.Allocation, status string) {
	t.Helper()
	var ups []*structs.Allocation
	for _, a := range allocs {
		ups = append(ups, &structs.Allocation{ID: a.ID, ClientStatus: status})
	}
	if _, err := s.UpdateAllocsFromClient(context.Background(), ups); err != nil {
		t.Fatal(err)
	}
}

func jobGone(s *Server, id string) bool {
	j, _ := s.State().JobByID(nil, "default", id)
	allocs, _ := s.State().AllocsByJob(nil, "default", id)
	evals, _ := s.State().EvalsByJob(nil, "default", id)
	return j == nil && len(allocs) == 0 && len(evals) == 0
}

func TestGCCollectsFinishedWorkAndKeepsLiveWork(t *testing.T) {
	s := testGCServer(t)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	batch := testJob("batch", 2, 64)
	batch.Type = structs.JobTypeBatch
	for _, j := range []*structs.Job{batch, testJob("svc", 2, 64), testJob("stopme", 2, 64)} {
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: j}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"batch", "svc", "stopme"} {
		waitUntil(t, 5*time.Second, id+" placed", func() bool { return len(liveAllocs(t, s, id)) == 2 })
		reportAllocs(t, s, liveAllocs(t, s, id), structs.AllocClientStatusRunning)
	}

	// A finished batch job goes with its evals and allocs.
	reportAllocs(t, s, liveAllocs(t, s, "batch"), structs.AllocClientStatusComplete)
	waitUntil(t, 5*time.Second, "batch job collected", func() bool { return jobGone(s, "batch") })

	// A stopped job goes once its clients have finished its allocs.
	running, _ := s.State().AllocsByJob(nil, "default", "stopme")
	if _, err := s.DeregisterJob(ctx, "default", "stopme", structs.JobDeregisterOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "stopme allocs stopped", func() bool { return len(liveAllocs(t, s, "stopme")) == 0 })
	if err := s.GarbageCollect(ctx, false); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.State().JobByID(nil, "default", "stopme"); j == nil {
		t.Fatal("stopped job collected while its clients still run its allocs")
	}
	reportAllocs(t, s, running, structs.AllocClientStatusComplete)
	waitUntil(t, 5*time.Second, "stopped job collected", func() bool { return jobGone(s, "stopme") })

	// A down node without allocations goes; one with a running alloc stays.
	empty := testNode("empty", 1000, 1024)
	if _, err := s.RegisterNode(ctx, empty); err != nil {
		t.Fatal(err)
	}
	markDown(t, s, empty.ID)
	waitUntil(t, 5*time.Second, "down node collected", func() bool {
		n, _ := s.State().NodeByID(nil, empty.ID)
		return n == nil
	})

	// The running service, its allocs, its eval and its node are kept.
	if err := s.GarbageCollect(ctx, true); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.State().JobByID(nil, "default", "svc"); j == nil || j.Status != structs.JobStatusRunning {
		t.Fatalf("running service job: %+v", j)
	}
	live := liveAllocs(t, s, "svc")
	if len(live) != 2 {
		t.Fatalf("running service has %d live allocs after GC, want 2", len(live))
	}
	if e, _ := s.State().EvalByID(nil, live[0].EvalID); e == nil {
		t.Fatal("eval of running allocs collected")
	}
	nodes, _ := s.State().NodesByIDPrefix(nil, "")
	if len(nodes) != 1 {
		t.Fatalf("%d nodes left, want the ready one", len(nodes))
	}
}

func TestGCKeepsNewestFinishedAllocOfLiveJob(t *testing.T) {
	s := testGCServer(t)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	job := testJob("svc", 1, 64)
	job.TaskGroups[0].ReschedulePolicy = &structs.ReschedulePolicy{Attempts: 0, Interval: time.Hour}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placed", func() bool { return len(liveAllocs(t, s, "svc")) == 1 })
	first := liveAllocs(t, s, "svc")[0]
	reportAllocs(t, s, []*structs.Allocation{first}, structs.AllocClientStatusFailed)
	// Let evals caused by the failure finish, then collect with no age limit.
	waitUntil(t, 5*time.Second, "evals terminal", func() bool {
		evals, _ := s.State().EvalsByJob(nil, "default", "svc")
		for _, e := range evals {
			if !e.Terminal() {
				return false
			}
		}
		return true
	})
	if err := s.GarbageCollect(ctx, true); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.State().AllocByID(nil, first.ID); a == nil {
		t.Fatal("newest (failed, unreplaced) alloc of a live service job was collected")
	}
	if j, _ := s.State().JobByID(nil, "default", "svc"); j == nil {
		t.Fatal("live service job collected")
	}
}

func TestGCPurgedJobLeftovers(t *testing.T) {
	s := testGCServer(t)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("p", 2, 64)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placed", func() bool { return len(liveAllocs(t, s, "p")) == 2 })
	allocs := liveAllocs(t, s, "p")
	if _, err := s.DeregisterJob(ctx, "default", "p", structs.JobDeregisterOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.State().JobByID(nil, "default", "p"); j != nil {
		t.Fatal("purge did not delete the job at once")
	}
	reportAllocs(t, s, allocs, structs.AllocClientStatusComplete)
	waitUntil(t, 5*time.Second, "purged job's evals and allocs collected", func() bool { return jobGone(s, "p") })
}

func TestBatchGCKeepsJobsAheadOfTheirObjects(t *testing.T) {
	g1 := &raftfsm.GCDelete{Jobs: []raftfsm.GCJob{{ID: "a"}}, EvalIDs: []string{"e1", "e2"}, AllocIDs: []string{"a1"}}
	g2 := &raftfsm.GCDelete{Jobs: []raftfsm.GCJob{{ID: "b"}}, AllocIDs: []string{"b1", "b2"}}
	loose := &raftfsm.GCDelete{EvalIDs: []string{"x"}, Nodes: []raftfsm.GCNode{{ID: "n"}}}
	out := batchGC([]*raftfsm.GCDelete{g1, g2, loose}, 3)
	if len(out) != 3 {
		t.Fatalf("%d batches, want 3", len(out))
	}
	total := 0
	for _, b := range out {
		if b.Len() > 3 {
			t.Fatalf("batch of %d objects exceeds 3", b.Len())
		}
		total += b.Len()
	}
	if total != 9 {
		t.Fatalf("batches hold %d objects, want 9", total)
	}
	// Job b is in batch 2 (after a1), its allocs in batches 2 and 3.
	if len(out[1].Jobs) != 1 || out[1].Jobs[0].ID != "b" || len(out[1].AllocIDs) != 2 || out[1].AllocIDs[0] != "a1" {
		t.Fatalf("batch 2 = %+v", out[1])
	}
	if out[2].AllocIDs[0] != "b2" || out[2].EvalIDs[0] != "x" || len(out[2].Nodes) != 1 {
		t.Fatalf("batch 3 = %+v", out[2])
	}
	if batchGC(nil, 3) != nil {
		t.Fatal("empty plan gives batches")
	}
}
