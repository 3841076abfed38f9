package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// planApplier serializes plans from all workers. Workers plan in parallel
// against snapshots that may be stale by the time they finish; the applier
// re-checks every node a plan places on against the latest state, commits
// what still fits through Raft, and tells the worker to re-plan the rest.
//
// It is pipelined, as Nomad's: while plan N commits, plan N+1 is checked
// against the latest state with N's result laid over it, so Raft's commit
// latency and the fit checks overlap. At most one plan commits at a time;
// if N fails, N+1 is checked again against the real state.
type planApplier struct {
	srv   *Server
	queue chan *pendingPlan
	// serial turns pipelining off (benchmarks compare the two).
	serial bool
}

type pendingPlan struct {
	plan *structs.Plan
	// token is the broker token of the eval being planned; a plan whose
	// eval is no longer outstanding under that token (nacked on timeout,
	// or the broker was reset by a leadership change) is refused, so one
	// eval's plan is never committed twice.
	token string
	// evals are committed with the plan only when all of it fits: they
	// record the scheduler's verdict, which a partial commit invalidates.
	evals []*structs.Evaluation
	done  chan planOutcome
}

// errEvalNotOutstanding refuses a plan whose eval the broker no longer
// considers handed to the submitting worker.
var errEvalNotOutstanding = errors.New("evaluation is no longer outstanding with this token")

type planOutcome struct {
	result *structs.PlanResult
	err    error
}

func newPlanApplier(s *Server) *planApplier {
	return &planApplier{srv: s, queue: make(chan *pendingPlan, 64)}
}

// start runs the apply loop for one leadership term.
func (p *planApplier) start(ctx context.Context) {
	go p.run(ctx)
}

// inflightPlan is a plan result handed to Raft and not yet committed.
type inflightPlan struct {
	body *raftfsm.ApplyPlanResults
	done chan struct{}
	err  error
}

func (p *planApplier) run(ctx context.Context) {
	var inflight *inflightPlan
	for {
		var req *pendingPlan
		select {
		case <-ctx.Done():
			if inflight != nil {
				<-inflight.done
			}
			p.drain(ErrNotLeader)
			return
		case req = <-p.queue:
		}
		if inflight != nil && isDone(inflight.done) {
			inflight = nil
		}
		var snap stateReader = p.srv.State().Snapshot()
		if inflight != nil {
			snap = newPlanOverlay(snap, inflight.body)
		}
		result, body, err := p.evaluate(req, snap)
		if inflight != nil {
			<-inflight.done
			failed := inflight.err != nil
			inflight = nil
			if failed && err == nil {
				// The check assumed the previous plan committed.
				result, body, err = p.evaluate(req, p.srv.State().Snapshot())
			}
		}
		if err != nil || body == nil {
			req.done <- planOutcome{result: result, err: err}
			continue
		}
		inflight = p.dispatch(req, result, body)
		if p.serial {
			<-inflight.done
			inflight = nil
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// dispatch hands a plan's result to Raft; a goroutine waits for the commit
// and answers the worker.
func (p *planApplier) dispatch(req *pendingPlan, result *structs.PlanResult, body *raftfsm.ApplyPlanResults) *inflightPlan {
	in := &inflightPlan{body: body, done: make(chan struct{})}
	// No deadline: a leadership loss fails the commit, and the worker
	// waits for the outcome with its own context.
	f, err := p.srv.raftDispatch(context.Background(), raftfsm.ApplyPlanResultsType, body)
	finish := func(f raft.ApplyFuture, err error) {
		if err == nil {
			var index uint64
			index, err = p.srv.raftWait(context.Background(), f)
			result.AllocIndex = index
			if result.RefreshIndex != 0 {
				result.RefreshIndex = index
			}
		}
		if err != nil {
			err = fmt.Errorf("committing plan of eval %s: %w", req.plan.EvalID, err)
			result = nil
		}
		in.err = err
		close(in.done)
		req.done <- planOutcome{result: result, err: err}
	}
	if err != nil {
		finish(nil, err)
		return in
	}
	go finish(f, nil)
	return in
}

func (p *planApplier) drain(err error) {
	for {
		select {
		case req := <-p.queue:
			req.done <- planOutcome{err: err}
		default:
			return
		}
	}
}

// Submit queues a plan and waits for its result. The eval's ack deadline
// is paused meanwhile: however long the queue and the commit take, the
// eval is not handed to a second worker while its plan may still commit.
func (p *planApplier) Submit(ctx context.Context, plan *structs.Plan, token string, evals []*structs.Evaluation) (*structs.PlanResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	broker := p.srv.broker
	if err := broker.PauseNackTimeout(plan.EvalID, token); err != nil {
		return nil, fmt.Errorf("plan of eval %s refused: %w: %v", plan.EvalID, errEvalNotOutstanding, err)
	}
	defer func() { _ = broker.ResumeNackTimeout(plan.EvalID, token) }()
	req := &pendingPlan{plan: plan, token: token, evals: evals, done: make(chan planOutcome, 1)}
	select {
	case p.queue <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-req.done:
		return out.result, out.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evaluate checks a plan against snap and returns what of it may commit,
// with the Raft entry to commit it (nil when there is nothing to commit).
//
// A node whose placements no longer fit loses its stops too: they are the
// other half of the same change (an in-place or destructive update on that
// node). With AllAtOnce any misfit refuses the whole plan, stops included,
// so a job is never left with its old allocations stopped and its new ones
// refused.
func (p *planApplier) evaluate(req *pendingPlan, snap stateReader) (*structs.PlanResult, *raftfsm.ApplyPlanResults, error) {
	plan := req.plan
	if !p.srv.broker.Outstanding(plan.EvalID, req.token) {
		return nil, nil, fmt.Errorf("plan of eval %s refused: %w", plan.EvalID, errEvalNotOutstanding)
	}
	result := &structs.PlanResult{NodeUpdate: map[string][]*structs.Allocation{}, NodeAllocation: map[string][]*structs.Allocation{}}
	refused := map[string]bool{}
	for nodeID, allocs := range plan.NodeAllocation {
		ok, err := nodeFits(snap, plan, nodeID)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			refused[nodeID] = true
			continue
		}
		result.NodeAllocation[nodeID] = allocs
	}
	partial := len(refused) > 0
	if partial && plan.AllAtOnce {
		result.NodeAllocation = map[string][]*structs.Allocation{}
	} else {
		for nodeID, stops := range plan.NodeUpdate {
			if !refused[nodeID] {
				result.NodeUpdate[nodeID] = stops
			}
		}
	}
	body := &raftfsm.ApplyPlanResults{
		EvalID: plan.EvalID, Job: plan.Job, Time: p.srv.now(),
		Deployment: plan.Deployment, DeploymentUpdates: plan.DeploymentUpdates,
	}
	for _, allocs := range result.NodeUpdate {
		body.AllocsStopped = append(body.AllocsStopped, allocs...)
	}
	for _, allocs := range result.NodeAllocation {
		body.AllocsUpdated = append(body.AllocsUpdated, allocs...)
	}
	if !partial {
		body.EvalUpdates = req.evals
	}
	if len(body.AllocsStopped) == 0 && len(body.AllocsUpdated) == 0 && len(body.EvalUpdates) == 0 &&
		body.Deployment == nil && len(body.DeploymentUpdates) == 0 {
		result.RefreshIndex, _ = p.srv.State().LatestIndex()
		return result, nil, nil
	}
	if partial {
		// A placeholder: dispatch replaces it with the commit's index,
		// the state the worker must re-plan against.
		result.RefreshIndex = 1
	}
	return result, body, nil
}

// nodeFits re-checks, against the latest state, that a node can take the
// plan's placements: it must still be ready, its capacity must cover its
// running allocations plus the new ones, less those the plan stops, and no
// static port, reserved core or device instance may be held twice.
func nodeFits(snap stateReader, plan *structs.Plan, nodeID string) (bool, error) {
	node, err := snap.NodeByID(nil, nodeID)
	if err != nil {
		return false, fmt.Errorf("reading node %s: %w", nodeID, err)
	}
	if node == nil || !node.Ready() {
		return false, nil
	}
	existing, err := snap.AllocsByNode(nil, nodeID)
	if err != nil {
		return false, fmt.Errorf("reading allocations of node %s: %w", nodeID, err)
	}
	replaced := map[string]bool{}
	for _, a := range plan.NodeUpdate[nodeID] {
		replaced[a.ID] = true
	}
	var used structs.ComparableResources
	for _, a := range plan.NodeAllocation[nodeID] {
		replaced[a.ID] = true
		used.Add(a.AllocatedResources.Comparable())
	}
	// Two workers may each have placed a static port on this node from
	// snapshots that did not see the other's plan.
	// Ports with ignore_collision (shared) are shared among sharers only.
	ports, shared := map[int]bool{}, map[int]bool{}
	// held are the allocations keeping their cores and devices (in-place
	// updates included); fresh ones must be granted what the node offers.
	var held, fresh []*structs.Allocation
	stored := map[string]bool{}
	for _, a := range existing {
		stored[a.ID] = true
		if replaced[a.ID] || a.TerminalStatus() {
			continue
		}
		held = append(held, a)
		used.Add(a.AllocatedResources.Comparable())
		for _, p := range allocPorts(a) {
			ports[p] = true
		}
		for _, p := range allocSharedPorts(a) {
			shared[p] = true
		}
	}
	for _, a := range plan.NodeAllocation[nodeID] {
		if stored[a.ID] {
			held = append(held, a)
		} else {
			fresh = append(fresh, a)
		}
		for _, p := range allocPorts(a) {
			if ports[p] || shared[p] {
				return false, nil
			}
			ports[p] = true
		}
		for _, p := range allocSharedPorts(a) {
			if ports[p] {
				return false, nil
			}
			shared[p] = true
		}
	}
	if structs.ExclusiveConflict(node, held, fresh) != "" {
		return false, nil
	}
	capacity := node.Comparable()
	return used.CPU <= capacity.CPU && used.MemoryMB <= capacity.MemoryMB && used.DiskMB <= capacity.DiskMB, nil
}

// allocSharedPorts lists the host ports an allocation holds with
// ignore_collision.
func allocSharedPorts(a *structs.Allocation) []int {
	if a.AllocatedResources == nil {
		return nil
	}
	var out []int
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.Value > 0 && p.IgnoreCollision {
			out = append(out, p.Value)
		}
	}
	return out
}

// allocPorts lists the host ports an allocation holds (dynamic ports not
// yet assigned by the client are 0 and left out).
func allocPorts(a *structs.Allocation) []int {
	if a.AllocatedResources == nil {
		return nil
	}
	var out []int
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.Value > 0 && !p.IgnoreCollision {
			out = append(out, p.Value)
		}
	}
	return out
}
