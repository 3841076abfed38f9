package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// testServer starts a single dev-mode server with Raft on disk in dir.
func testServer(t *testing.T, dir string) *Server {
	t.Helper()
	return testServerWith(t, dir, nil)
}

// testServerWith is testServer with a hook to adjust the configuration.
func testServerWith(t testing.TB, dir string, adjust func(*Config)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := Config{
		DataDir: dir, NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port,
		HTTPAddr: "127.0.0.1:0", BootstrapExpect: 1, Dev: true, NumWorkers: 2,
		// Test nodes do not heartbeat: keep them alive for the test.
		Heartbeat: HeartbeatConfig{MinTTL: time.Hour},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	// Leadership established: the barrier applied and the broker enabled.
	waitUntil(t, 10*time.Second, "leadership", func() bool { return s.AwaitLeaderReady(context.Background()) == nil })
	return s
}

func waitUntil(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testNode(name string, cpu, mem int64) *structs.Node {
	return &structs.Node{
		ID: structs.GenerateUUID(), SecretID: structs.GenerateUUID(), Name: name, Datacenter: "dc1", Status: structs.NodeStatusReady,
		Attributes: map[string]string{"kernel.name": "linux", "driver.raw_exec": "1"},
		Drivers:    map[string]*structs.DriverInfo{"raw_exec": {Detected: true, Healthy: true}},
		NodeResources: &structs.NodeResources{
			Cpu: structs.NodeCpuResources{CpuShares: cpu}, Memory: structs.NodeMemoryResources{MemoryMB: mem},
			Disk: structs.NodeDiskResources{DiskMB: 100000},
		},
	}
}

// markDown marks a node down as a missed heartbeat would.
func markDown(t *testing.T, s *Server, id string) {
	t.Helper()
	n, err := s.State().NodeByID(nil, id)
	if err != nil || n == nil {
		t.Fatalf("node %s: %v", id, err)
	}
	if err := s.setNodeStatus(n, structs.NodeStatusDown, "test"); err != nil {
		t.Fatal(err)
	}
}

func testJob(id string, count int, mem int) *structs.Job {
	return &structs.Job{
		ID: id, Name: id, Namespace: "default", Region: "global", Type: structs.JobTypeService, Priority: 50,
		Datacenters: []string{"dc1"},
		TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count,
			EphemeralDisk:    &structs.EphemeralDisk{SizeMB: 10},
			RestartPolicy:    &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: "fail"},
			ReschedulePolicy: &structs.ReschedulePolicy{Unlimited: true, Delay: 0, DelayFunction: "constant"},
			Tasks: []*structs.Task{{
				Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
				Resources: &structs.Resources{CPU: 100, MemoryMB: mem},
			}},
		}},
	}
}

func liveAllocs(t testing.TB, s *Server, job string) []*structs.Allocation {
	allocs, err := s.State().AllocsByJob(nil, "default", job)
	if err != nil {
		t.Fatal(err)
	}
	var out []*structs.Allocation
	for _, a := range allocs {
		if !a.TerminalStatus() {
			out = append(out, a)
		}
	}
	return out
}

func TestServerPlacesJobAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	resp, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("web", 3, 256)})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "3 allocations", func() bool { return len(liveAllocs(t, s, "web")) == 3 })
	waitUntil(t, 5*time.Second, "eval complete", func() bool {
		e, _ := s.State().EvalByID(nil, resp.EvalID)
		return e != nil && e.Status == structs.EvalStatusComplete
	})

	// Restart on the same data dir: Raft replays the log into fresh state.
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	port := s.cfg.RaftPort
	s2, err := New(Config{DataDir: dir, NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port, BootstrapExpect: 1, Dev: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	waitUntil(t, 5*time.Second, "leadership after restart", func() bool { return s2.IsLeader() })
	// Raft applies the replayed log once the new term commits its first entry.
	waitUntil(t, 5*time.Second, "3 allocations after restart", func() bool { return len(liveAllocs(t, s2, "web")) == 3 })
	if e, _ := s2.State().EvalByID(nil, resp.EvalID); e == nil {
		t.Fatal("eval lost across restart")
	}
}

func TestServerBlockedEvalUnblocksWhenNodeJoins(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("small", 1000, 600)); err != nil {
		t.Fatal(err)
	}
	resp, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("big", 4, 256)})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "partial placement with a blocked eval", func() bool {
		e, _ := s.State().EvalByID(nil, resp.EvalID)
		return e != nil && e.Status == structs.EvalStatusComplete && e.BlockedEval != "" && len(liveAllocs(t, s, "big")) == 2
	})
	e, _ := s.State().EvalByID(nil, resp.EvalID)
	m := e.FailedTGAllocs["g"]
	if m == nil || m.DimensionExhausted["memory"] == 0 {
		t.Fatalf("failed placement metrics do not name memory: %+v", m)
	}
	if _, err := s.RegisterNode(ctx, testNode("large", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "all 4 placed after a node joins", func() bool { return len(liveAllocs(t, s, "big")) == 4 })
}

func TestServerReplacesFailedAndLostAllocs(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	n1, n2 := testNode("n1", 4000, 4096), testNode("n2", 4000, 4096)
	for _, n := range []*structs.Node{n1, n2} {
		if _, err := s.RegisterNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("svc", 4, 128)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "4 allocations", func() bool { return len(liveAllocs(t, s, "svc")) == 4 })

	// A client reports one allocation failed: it is replaced.
	failed := liveAllocs(t, s, "svc")[0]
	up := &structs.Allocation{ID: failed.ID, ClientStatus: structs.AllocClientStatusFailed}
	if _, err := s.UpdateAllocsFromClient(ctx, []*structs.Allocation{up}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "failed alloc replaced", func() bool {
		live := liveAllocs(t, s, "svc")
		for _, a := range live {
			if a.ID == failed.ID {
				return false
			}
		}
		return len(live) == 4
	})

	// A node goes down: its allocations are lost and placed on the other node.
	markDown(t, s, n1.ID)
	waitUntil(t, 5*time.Second, "lost allocs replaced on n2", func() bool {
		live := liveAllocs(t, s, "svc")
		if len(live) != 4 {
			return false
		}
		for _, a := range live {
			if a.NodeID != n2.ID {
				return false
			}
		}
		return true
	})
	all, _ := s.State().AllocsByNode(nil, n1.ID)
	for _, a := range all {
		if a.ClientStatus != structs.AllocClientStatusLost && a.ClientStatus != structs.AllocClientStatusFailed {
			t.Fatalf("alloc %s on the down node has client status %s", a.ID, a.ClientStatus)
		}
	}
}

func TestServerSystemJobOnEveryNodeAndLateJoiners(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.RegisterNode(ctx, testNode(fmt.Sprintf("n%d", i), 4000, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	job := testJob("sys", 1, 64)
	job.Type = structs.JobTypeSystem
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "one alloc per node", func() bool { return len(liveAllocs(t, s, "sys")) == 3 })
	if _, err := s.RegisterNode(ctx, testNode("late", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "alloc on the late node", func() bool { return len(liveAllocs(t, s, "sys")) == 4 })

	// Deregistering stops them all.
	if _, err := s.DeregisterJob(ctx, "default", "sys", structs.JobDeregisterOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "all stopped", func() bool { return len(liveAllocs(t, s, "sys")) == 0 })
	// Deregistering is idempotent, as in Nomad: an unknown job answers
	// success without an evaluation.
	if resp, err := s.DeregisterJob(ctx, "default", "missing", structs.JobDeregisterOptions{}); err != nil || resp.EvalID != "" {
		t.Fatalf("deregistering a missing job: %+v, %v", resp, err)
	}
}

func TestPlanApplierRefusesPlansOfEvalsNoLongerOutstanding(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPlanApplier(s)
	p.start(ctx)
	node := testNode("n", 4000, 4096)
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	alloc := &structs.Allocation{
		ID: structs.GenerateUUID(), Namespace: "default", NodeID: node.ID, JobID: "ghost", TaskGroup: "g",
		DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending,
	}
	plan := &structs.Plan{EvalID: "not-handed-out"}
	plan.AppendAlloc(alloc)
	if _, err := p.Submit(ctx, plan, "stale-token", nil); !errors.Is(err, errEvalNotOutstanding) {
		t.Fatalf("plan of an eval that is not outstanding: err = %v", err)
	}
	if a, _ := s.State().AllocByID(nil, alloc.ID); a != nil {
		t.Fatal("refused plan was committed")
	}
	cancel()
	if _, err := p.Submit(ctx, plan, "stale-token", nil); err == nil {
		t.Fatal("submit after the term ended succeeded")
	}
}

func TestNodeFitsRejectsPortCollisions(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	node := testNode("n", 4000, 4096)
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	withPort := func(port int) *structs.Allocation {
		return &structs.Allocation{
			ID: structs.GenerateUUID(), NodeID: node.ID, DesiredStatus: structs.AllocDesiredStatusRun,
			AllocatedResources: &structs.AllocatedResources{Shared: structs.AllocatedSharedResources{
				Ports: []structs.AllocatedPort{{Label: "http", Value: port}},
			}},
		}
	}
	plan := &structs.Plan{}
	plan.AppendAlloc(withPort(8080))
	plan.AppendAlloc(withPort(8080))
	if ok, err := nodeFits(s.State().Snapshot(), plan, node.ID); err != nil || ok {
		t.Fatalf("two allocs on static port 8080 fit: %v %v", ok, err)
	}
	plan = &structs.Plan{}
	plan.AppendAlloc(withPort(8080))
	plan.AppendAlloc(withPort(8081))
	if ok, err := nodeFits(s.State().Snapshot(), plan, node.ID); err != nil || !ok {
		t.Fatalf("distinct ports do not fit: %v %v", ok, err)
	}
	// ignore_collision ports are shared among sharers only.
	sharing := func(port int) *structs.Allocation {
		a := withPort(port)
		a.AllocatedResources.Shared.Ports[0].IgnoreCollision = true
		return a
	}
	for _, c := range []struct {
		name string
		a, b *structs.Allocation
		fits bool
	}{
		{"two sharers", sharing(8080), sharing(8080), true},
		{"a sharer after a plain holder", withPort(8080), sharing(8080), false},
		{"a plain holder after a sharer", sharing(8080), withPort(8080), false},
	} {
		plan = &structs.Plan{}
		plan.AppendAlloc(c.a)
		plan.AppendAlloc(c.b)
		if ok, err := nodeFits(s.State().Snapshot(), plan, node.ID); err != nil || ok != c.fits {
			t.Fatalf("%s: fits %v (%v), want %v", c.name, ok, err, c.fits)
		}
	}
}

// A service allocation its client reports complete while the servers
// still want it running (the client stopped it after losing contact with
// the servers, though its node was never marked down) is replaced: before,
// no eval followed and the job stayed below its count for good.
func TestServerRefillsFinishedServiceAlloc(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("svc", 2, 128)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "2 allocations", func() bool { return len(liveAllocs(t, s, "svc")) == 2 })
	done := liveAllocs(t, s, "svc")[0]
	up := &structs.Allocation{ID: done.ID, ClientStatus: structs.AllocClientStatusComplete}
	if _, err := s.UpdateAllocsFromClient(ctx, []*structs.Allocation{up}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the finished allocation replaced", func() bool {
		live := liveAllocs(t, s, "svc")
		for _, a := range live {
			if a.ID == done.ID {
				return false
			}
		}
		return len(live) == 2
	})
}
