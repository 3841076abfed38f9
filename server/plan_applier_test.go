package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// planHarness is a leader with no scheduler workers: the test plays the
// worker, taking evals from the broker and submitting plans it builds.
type planHarness struct {
	t *testing.T
	s *Server
}

func newPlanHarness(t *testing.T, adjust func(*Config)) *planHarness {
	s := testServerWith(t, t.TempDir(), func(c *Config) {
		c.NumWorkers = -1
		if adjust != nil {
			adjust(c)
		}
	})
	return &planHarness{t: t, s: s}
}

func (h *planHarness) node(name string, cpu, mem int64) *structs.Node {
	n := testNode(name, cpu, mem)
	if _, err := h.s.RegisterNode(context.Background(), n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// eval registers a job (committing its eval) and takes the eval from the
// broker as a worker would, returning it with its token.
func (h *planHarness) eval(job *structs.Job) (*structs.Evaluation, string) {
	h.t.Helper()
	if _, err := h.s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, token, err := h.s.broker.Dequeue(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return e, token
}

func planAlloc(job *structs.Job, nodeID string, idx int, mem int) *structs.Allocation {
	return &structs.Allocation{
		ID: structs.GenerateUUID(), Namespace: "default", NodeID: nodeID, JobID: job.ID, TaskGroup: "g",
		Name: structs.AllocName(job.ID, "g", idx), JobVersion: job.Version,
		DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending,
		AllocatedResources: &structs.AllocatedResources{
			Tasks: map[string]*structs.AllocatedTaskResources{"t": {
				Cpu: structs.AllocatedCpuResources{CpuShares: 100}, Memory: structs.AllocatedMemoryResources{MemoryMB: int64(mem)},
			}},
		},
	}
}

// commitAllocs places allocs directly through Raft (a previous plan).
func (h *planHarness) commitAllocs(allocs ...*structs.Allocation) {
	h.t.Helper()
	if _, err := h.s.raftApply(raftfsm.ApplyPlanResultsType, &raftfsm.ApplyPlanResults{AllocsUpdated: allocs, Time: h.s.now()}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *planHarness) alloc(id string) *structs.Allocation {
	a, err := h.s.State().AllocByID(nil, id)
	if err != nil || a == nil {
		h.t.Fatalf("alloc %s: %v %v", id, a, err)
	}
	return a
}

func (h *planHarness) applier() *planApplier {
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	p := newPlanApplier(h.s)
	p.start(ctx)
	return p
}

// A node whose placements are refused keeps the allocations the plan would
// have stopped there; stops on other nodes still commit.
func TestPlanApplierDropsARefusedNodesStops(t *testing.T) {
	h := newPlanHarness(t, nil)
	a, b := h.node("a", 4000, 4096), h.node("b", 4000, 4096)
	job := testJob("web", 2, 256)
	ev, token := h.eval(job)
	onA, onB := planAlloc(job, a.ID, 0, 256), planAlloc(job, b.ID, 1, 256)
	h.commitAllocs(onA, onB)

	// The new version replaces both in place; node a no longer has room
	// for its replacement (it is 4 GB, the new alloc 8 GB).
	plan := &structs.Plan{EvalID: ev.ID, Job: job}
	plan.AppendStoppedAlloc(onA, "replaced", "")
	plan.AppendStoppedAlloc(onB, "replaced", "")
	plan.AppendAlloc(planAlloc(job, a.ID, 0, 8192))
	res, err := h.applier().Submit(context.Background(), plan, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshIndex == 0 || len(res.NodeAllocation) != 0 || len(res.NodeUpdate[a.ID]) != 0 || len(res.NodeUpdate[b.ID]) != 1 {
		t.Fatalf("result: refresh %d, placed %v, stopped %v", res.RefreshIndex, res.NodeAllocation, res.NodeUpdate)
	}
	if got := h.alloc(onA.ID); got.DesiredStatus != structs.AllocDesiredStatusRun {
		t.Fatalf("the refused node's alloc was stopped: %s", got.DesiredStatus)
	}
	if got := h.alloc(onB.ID); got.DesiredStatus != structs.AllocDesiredStatusStop {
		t.Fatalf("the other node's stop was dropped: %s", got.DesiredStatus)
	}
}

// With all_at_once, one misfit refuses the whole plan: a 3-instance
// service moved to a node that cannot take it keeps all 3 running.
func TestPlanApplierAllAtOnceIsAllOrNothing(t *testing.T) {
	h := newPlanHarness(t, nil)
	a, b := h.node("a", 4000, 4096), h.node("b", 4000, 1024)
	job := testJob("web", 3, 256)
	job.AllAtOnce = true
	ev, token := h.eval(job)
	var old []*structs.Allocation
	for i := 0; i < 3; i++ {
		old = append(old, planAlloc(job, a.ID, i, 256))
	}
	h.commitAllocs(old...)

	plan := &structs.Plan{EvalID: ev.ID, Job: job, AllAtOnce: true}
	for i, o := range old {
		plan.AppendStoppedAlloc(o, "moved", "")
		// b has room for two of the three 512 MB allocations.
		plan.AppendAlloc(planAlloc(job, b.ID, i, 512))
	}
	done := statusEval(ev.ID, job.ID, structs.EvalStatusComplete)
	res, err := h.applier().Submit(context.Background(), plan, token, []*structs.Evaluation{done})
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshIndex == 0 || len(res.NodeAllocation) != 0 || len(res.NodeUpdate) != 0 {
		t.Fatalf("all-at-once plan partly committed: placed %v stopped %v", res.NodeAllocation, res.NodeUpdate)
	}
	if live := liveAllocs(t, h.s, "web"); len(live) != 3 {
		t.Fatalf("%d allocations running, want the 3 old ones", len(live))
	}
	if e, _ := h.s.State().EvalByID(nil, ev.ID); e.Status != structs.EvalStatusPending {
		t.Fatalf("refused plan committed its eval update: %s", e.Status)
	}

	// Without all_at_once the same plan commits what fits.
	job2 := testJob("web2", 3, 256)
	ev2, token2 := h.eval(job2)
	plan.EvalID, plan.AllAtOnce = ev2.ID, false
	res, err = h.applier().Submit(context.Background(), plan, token2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshIndex == 0 || len(res.NodeAllocation) != 0 || len(res.NodeUpdate[a.ID]) != 3 {
		t.Fatalf("partial plan: placed %v stopped %v", res.NodeAllocation, res.NodeUpdate)
	}
}

func statusEval(id, jobID, status string) *structs.Evaluation {
	return &structs.Evaluation{ID: id, Namespace: "default", JobID: jobID, Priority: 50, Type: structs.JobTypeService, Status: status}
}

// The eval's ack deadline does not run while its plan waits in the queue
// and commits: the eval is not redelivered to a second worker meanwhile,
// which would plan against state missing the first plan.
func TestPlanApplierPausesTheNackTimerWhileAPlanIsQueued(t *testing.T) {
	const nack = 200 * time.Millisecond
	h := newPlanHarness(t, func(c *Config) { c.EvalNackTimeout = nack })
	n := h.node("a", 4000, 4096)
	job := testJob("web", 1, 256)
	ev, token := h.eval(job)
	p := newPlanApplier(h.s) // not started yet: the plan waits in the queue
	plan := &structs.Plan{EvalID: ev.ID, Job: job}
	plan.AppendAlloc(planAlloc(job, n.ID, 0, 256))
	out := make(chan error, 1)
	go func() {
		_, err := p.Submit(context.Background(), plan, token, nil)
		out <- err
	}()
	time.Sleep(4 * nack)
	if !h.s.broker.Outstanding(ev.ID, token) {
		t.Fatal("the eval was taken back while its plan was queued")
	}
	if ready, unacked, _ := h.s.broker.Stats(); ready != 0 || unacked != 1 {
		t.Fatalf("broker: %d ready, %d unacked", ready, unacked)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.start(ctx)
	if err := <-out; err != nil {
		t.Fatal(err)
	}
	if len(liveAllocs(t, h.s, "web")) != 1 {
		t.Fatal("plan not committed")
	}
	// After the plan the deadline runs again.
	waitUntil(t, 5*time.Second, "redelivery after the resumed deadline", func() bool {
		return !h.s.broker.Outstanding(ev.ID, token)
	})
}

// Pipelined plans (each checked while the previous one commits) never
// overcommit a node: the check sees the in-flight plan's placements.
func TestPlanApplierPipelineNeverOvercommits(t *testing.T) {
	h := newPlanHarness(t, nil)
	var nodes []*structs.Node
	for i := 0; i < 4; i++ {
		nodes = append(nodes, h.node(fmt.Sprintf("n%d", i), 100000, 1024))
	}
	p := h.applier()
	type sub struct {
		ev    *structs.Evaluation
		token string
		job   *structs.Job
	}
	var subs []sub
	for i := 0; i < 16; i++ {
		job := testJob(fmt.Sprintf("j%d", i), 4, 256)
		ev, token := h.eval(job)
		subs = append(subs, sub{ev, token, job})
	}
	// Each plan asks for 256 MB on every node; every node has room for 4.
	var wg sync.WaitGroup
	for _, sb := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plan := &structs.Plan{EvalID: sb.ev.ID, Job: sb.job}
			for i, n := range nodes {
				plan.AppendAlloc(planAlloc(sb.job, n.ID, i, 256))
			}
			if _, err := p.Submit(context.Background(), plan, sb.token, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		allocs, _ := h.s.State().AllocsByNode(nil, n.ID)
		if len(allocs) != 4 {
			t.Errorf("node %s holds %d allocations of 256 MB in 1024 MB", n.Name, len(allocs))
		}
	}
}
