package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// planApplier serializes plans from all workers. Workers plan in parallel
// against snapshots that may be stale by the time they finish; the applier
// re-checks every node a plan places on against the latest state, commits
// what still fits through Raft, and tells the worker to re-plan the rest.
type planApplier struct {
	srv   *Server
	queue chan *pendingPlan
	once  sync.Once
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
	go func() {
		for {
			select {
			case <-ctx.Done():
				p.drain(ErrNotLeader)
				return
			case req := <-p.queue:
				res, err := p.apply(req)
				req.done <- planOutcome{result: res, err: err}
			}
		}
	}()
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

// Submit queues a plan and waits for its result.
func (p *planApplier) Submit(ctx context.Context, plan *structs.Plan, token string, evals []*structs.Evaluation) (*structs.PlanResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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

func (p *planApplier) apply(req *pendingPlan) (*structs.PlanResult, error) {
	plan := req.plan
	if !p.srv.broker.Outstanding(plan.EvalID, req.token) {
		return nil, fmt.Errorf("plan of eval %s refused: %w", plan.EvalID, errEvalNotOutstanding)
	}
	snap := p.srv.State().Snapshot()
	result := &structs.PlanResult{NodeUpdate: plan.NodeUpdate, NodeAllocation: map[string][]*structs.Allocation{}}
	partial := false
	for nodeID, allocs := range plan.NodeAllocation {
		ok, err := nodeFits(snap, plan, nodeID)
		if err != nil {
			return nil, err
		}
		if !ok {
			partial = true
			continue
		}
		result.NodeAllocation[nodeID] = allocs
	}
	if partial && plan.AllAtOnce {
		result.NodeAllocation = map[string][]*structs.Allocation{}
	}
	body := &raftfsm.ApplyPlanResults{EvalID: plan.EvalID, Job: plan.Job, Time: p.srv.now()}
	for _, allocs := range result.NodeUpdate {
		body.AllocsStopped = append(body.AllocsStopped, allocs...)
	}
	for _, allocs := range result.NodeAllocation {
		body.AllocsUpdated = append(body.AllocsUpdated, allocs...)
	}
	if !partial {
		body.EvalUpdates = req.evals
	}
	if len(body.AllocsStopped) == 0 && len(body.AllocsUpdated) == 0 && len(body.EvalUpdates) == 0 {
		result.RefreshIndex, _ = snap.LatestIndex()
		return result, nil
	}
	index, err := p.srv.raftApply(raftfsm.ApplyPlanResultsType, body)
	if err != nil {
		return nil, fmt.Errorf("committing plan of eval %s: %w", plan.EvalID, err)
	}
	result.AllocIndex = index
	if partial {
		result.RefreshIndex = index
	}
	return result, nil
}

// nodeFits re-checks, against the latest state, that a node can take the
// plan's placements: it must still be ready and its capacity must cover its
// running allocations plus the new ones, less those the plan stops.
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
	ports := map[int]bool{}
	for _, a := range existing {
		if replaced[a.ID] || a.TerminalStatus() {
			continue
		}
		used.Add(a.AllocatedResources.Comparable())
		for _, p := range allocPorts(a) {
			ports[p] = true
		}
	}
	for _, a := range plan.NodeAllocation[nodeID] {
		for _, p := range allocPorts(a) {
			if ports[p] {
				return false, nil
			}
			ports[p] = true
		}
	}
	capacity := node.Comparable()
	return used.CPU <= capacity.CPU && used.MemoryMB <= capacity.MemoryMB && used.DiskMB <= capacity.DiskMB, nil
}

// allocPorts lists the host ports an allocation holds (dynamic ports not
// yet assigned by the client are 0 and left out).
func allocPorts(a *structs.Allocation) []int {
	if a.AllocatedResources == nil {
		return nil
	}
	var out []int
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.Value > 0 {
			out = append(out, p.Value)
		}
	}
	return out
}
