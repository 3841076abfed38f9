package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// healthSim plays the clients for drain tests: every allocation the
// servers want running is reported running at once and healthy (outside
// any deployment, as the migrate block judges) once it has run for
// healthyAfter; stopped ones are reported complete. Batch allocations run
// until stopped. Real clients are covered by the e2e drain test.
type healthSim struct {
	s            *Server
	healthyAfter time.Duration
	mu           sync.Mutex
	firstSeen    map[string]time.Time
	stop, done   chan struct{}
}

func startHealthSim(t *testing.T, s *Server, healthyAfter time.Duration) *healthSim {
	h := &healthSim{s: s, healthyAfter: healthyAfter, firstSeen: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			h.step()
		}
	}()
	t.Cleanup(func() { close(h.stop); <-h.done })
	return h
}

func (h *healthSim) step() {
	allocs, err := h.s.State().AllocsByIDPrefix(nil, "*", "")
	if err != nil {
		return
	}
	now := time.Now()
	var ups []*structs.Allocation
	for _, a := range allocs {
		if a.ClientTerminalStatus() {
			continue
		}
		if a.DesiredStatus != structs.AllocDesiredStatusRun {
			ups = append(ups, &structs.Allocation{ID: a.ID, ClientStatus: structs.AllocClientStatusComplete})
			continue
		}
		h.mu.Lock()
		first, ok := h.firstSeen[a.ID]
		if !ok {
			h.firstSeen[a.ID], first = now, now
		}
		h.mu.Unlock()
		u := &structs.Allocation{ID: a.ID, DeploymentID: a.DeploymentID, ClientStatus: structs.AllocClientStatusRunning}
		if a.Job != nil && a.Job.Type == structs.JobTypeService && !a.DeploymentStatus.HealthSet() && now.Sub(first) >= h.healthyAfter {
			u.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: ptr(true), Timestamp: now}
		} else if a.ClientStatus == structs.AllocClientStatusRunning {
			continue
		}
		ups = append(ups, u)
	}
	if len(ups) > 0 && h.s.IsLeader() {
		_, _ = h.s.UpdateAllocsFromClient(context.Background(), ups)
	}
}

func registerTestNodes(t *testing.T, s *Server, names ...string) []*structs.Node {
	t.Helper()
	var out []*structs.Node
	for _, n := range names {
		node := testNode(n, 8000, 8192)
		if _, err := s.RegisterNode(context.Background(), node); err != nil {
			t.Fatal(err)
		}
		out = append(out, node)
	}
	return out
}

func drainNode(t *testing.T, s *Server, id string, spec structs.DrainSpec) {
	t.Helper()
	if _, err := s.UpdateNodeDrain(context.Background(), &structs.NodeUpdateDrainRequest{NodeID: id, DrainSpec: &spec}, ""); err != nil {
		t.Fatal(err)
	}
}

func waitDrainComplete(t *testing.T, s *Server, id string, within time.Duration) *structs.Node {
	t.Helper()
	var n *structs.Node
	waitUntil(t, within, "the drain to complete", func() bool {
		n, _ = s.State().NodeByID(nil, id)
		return n != nil && n.DrainStrategy == nil && n.LastDrain != nil && n.LastDrain.Status == structs.DrainStatusComplete
	})
	return n
}

// A drain moves a service group max_parallel at a time, counted across
// the group (never fewer than count - max_parallel running and healthy),
// stops system allocations only once the rest is gone, and leaves the
// node ineligible.
func TestDrainerMigratesMaxParallel(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	nodes := registerTestNodes(t, s, "drained")
	startHealthSim(t, s, 300*time.Millisecond)
	job := testJob("web", 5, 64)
	job.TaskGroups[0].Migrate = &structs.MigrateStrategy{MaxParallel: 2, HealthCheck: "task_states", HealthyDeadline: time.Minute}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	sys := testJob("agent", 1, 32)
	sys.Type = structs.JobTypeSystem
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: sys}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "5 healthy web allocations and the system one", func() bool {
		return healthyInGroup(liveAllocs(t, s, "web"), "g") == 5 && len(liveAllocs(t, s, "agent")) == 1
	})
	registerTestNodes(t, s, "other1", "other2")

	// Sample the group while it drains: never more than max_parallel of
	// its 5 allocations may be anything but running and healthy, and the
	// system allocation must outlive every web one on the node.
	var (
		violation error
		mu        sync.Mutex
	)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if h := healthyInGroup(liveAllocs(t, s, "web"), "g"); h < 3 {
				mu.Lock()
				violation = errors.Join(violation, errors.New("fewer than count - max_parallel (3) healthy web allocations"))
				mu.Unlock()
			}
			onNode, _ := s.State().AllocsByNode(nil, nodes[0].ID)
			sysGone, webLeft := false, false
			for _, a := range onNode {
				switch {
				case a.JobID == "agent" && a.TerminalStatus():
					sysGone = true
				case a.JobID == "web" && !a.TerminalStatus():
					webLeft = true
				}
			}
			if sysGone && webLeft {
				mu.Lock()
				violation = errors.Join(violation, errors.New("system allocation stopped before the service ones left"))
				mu.Unlock()
			}
		}
	}()
	drainNode(t, s, nodes[0].ID, structs.DrainSpec{Deadline: time.Hour})
	n := waitDrainComplete(t, s, nodes[0].ID, 30*time.Second)
	close(stopSampling)
	<-sampled
	if violation != nil {
		t.Fatal(violation)
	}
	if n.SchedulingEligibility != structs.NodeSchedulingIneligible || n.Drain {
		t.Fatalf("drained node: eligibility %s drain %v", n.SchedulingEligibility, n.Drain)
	}
	for _, a := range liveAllocs(t, s, "web") {
		if a.NodeID == n.ID {
			t.Fatalf("web allocation %s still on the drained node", a.Name)
		}
	}
	if live := liveAllocs(t, s, "agent"); len(live) != 2 {
		t.Fatalf("system allocations: %d live, want one per eligible node", len(live))
	}
	if ev := n.Events[len(n.Events)-1]; ev.Message != structs.NodeEventDrainComplete || ev.Subsystem != structs.NodeEventSubsystemDrain {
		t.Fatalf("last node event %+v", ev)
	}
}

// At the deadline what is left goes at once: a batch allocation that would
// run forever is stopped and not replaced.
func TestDrainerDeadlineForcesBatch(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	nodes := registerTestNodes(t, s, "drained")
	startHealthSim(t, s, 0)
	job := testJob("batch", 1, 64)
	job.Type = structs.JobTypeBatch
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the batch allocation running", func() bool {
		l := liveAllocs(t, s, "batch")
		return len(l) == 1 && l[0].ClientStatus == structs.AllocClientStatusRunning
	})
	registerTestNodes(t, s, "other")
	start := time.Now()
	drainNode(t, s, nodes[0].ID, structs.DrainSpec{Deadline: time.Second})
	time.Sleep(300 * time.Millisecond)
	if l := liveAllocs(t, s, "batch"); len(l) != 1 {
		t.Fatal("batch allocation stopped before the deadline")
	}
	waitDrainComplete(t, s, nodes[0].ID, 15*time.Second)
	if since := time.Since(start); since < time.Second {
		t.Fatalf("drain completed after %s, before its deadline", since)
	}
	time.Sleep(200 * time.Millisecond)
	if l := liveAllocs(t, s, "batch"); len(l) != 0 {
		t.Fatalf("drained batch work replaced: %d live", len(l))
	}
}

// Operator-set fields survive the client's next registration; eligibility
// cannot be restored while draining; disabling a drain with MarkEligible
// restores it; purge replaces the node's allocations elsewhere.
func TestNodeOperations(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	nodes := registerTestNodes(t, s, "a")
	startHealthSim(t, s, 0)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("web", 1, 64)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "web running", func() bool { return len(liveAllocs(t, s, "web")) == 1 })

	if _, err := s.UpdateNodeEligibility(ctx, &structs.NodeUpdateEligibilityRequest{NodeID: nodes[0].ID,
		Eligibility: structs.NodeSchedulingIneligible}); err != nil {
		t.Fatal(err)
	}
	// The client re-registers with its own view (eligible, not draining).
	if _, err := s.RegisterNode(ctx, nodes[0]); err != nil {
		t.Fatal(err)
	}
	n, _ := s.State().NodeByID(nil, nodes[0].ID)
	if n.SchedulingEligibility != structs.NodeSchedulingIneligible || n.Events[len(n.Events)-1].Message != structs.NodeEventIneligible {
		t.Fatalf("eligibility after re-registration: %s, events %+v", n.SchedulingEligibility, n.Events)
	}
	if len(liveAllocs(t, s, "web")) != 1 {
		t.Fatal("ineligibility moved the running allocation")
	}

	drainNode(t, s, nodes[0].ID, structs.DrainSpec{Deadline: time.Hour})
	if _, err := s.RegisterNode(ctx, nodes[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.State().NodeByID(nil, nodes[0].ID); n.DrainStrategy == nil || !n.Drain {
		t.Fatal("the client's registration undid the drain")
	}
	_, err := s.UpdateNodeEligibility(ctx, &structs.NodeUpdateEligibilityRequest{NodeID: nodes[0].ID, Eligibility: structs.NodeSchedulingEligible})
	var se *statusError
	if !errors.As(err, &se) || se.code != 400 {
		t.Fatalf("eligible while draining: %v", err)
	}
	if _, err := s.UpdateNodeDrain(ctx, &structs.NodeUpdateDrainRequest{NodeID: nodes[0].ID, MarkEligible: true}, ""); err != nil {
		t.Fatal(err)
	}
	n, _ = s.State().NodeByID(nil, nodes[0].ID)
	if n.DrainStrategy != nil || n.SchedulingEligibility != structs.NodeSchedulingEligible || n.LastDrain.Status != structs.DrainStatusCanceled {
		t.Fatalf("after disabling the drain: %+v %s %+v", n.DrainStrategy, n.SchedulingEligibility, n.LastDrain)
	}

	other := registerTestNodes(t, s, "b")
	resp, err := s.PurgeNode(ctx, nodes[0].ID)
	if err != nil || len(resp.EvalIDs) != 1 {
		t.Fatalf("purge: %+v %v", resp, err)
	}
	if n, _ := s.State().NodeByID(nil, nodes[0].ID); n != nil {
		t.Fatal("purged node still in state")
	}
	waitUntil(t, 10*time.Second, "web replaced on node b", func() bool {
		l := liveAllocs(t, s, "web")
		return len(l) == 1 && l[0].NodeID == other[0].ID
	})
	if _, err := s.PurgeNode(ctx, nodes[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purging an unknown node: %v", err)
	}
	ev, err := s.EvaluateNode(ctx, other[0].ID)
	if err != nil || ev.EvalID == "" || len(ev.EvalIDs) != 1 {
		t.Fatalf("evaluate node: %+v %v", ev, err)
	}
}
