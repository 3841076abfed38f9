package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// Operators' node and allocation writes: drain, eligibility, purge, forced
// evaluation and allocation stop. Each is validated here and committed as
// one Raft entry; the node drainer (drainer.go) carries a drain out.

// nodeEvals builds, on the leader, an evaluation of every job with work on
// the node and (withSystem) of every system job, for an entry to carry.
func (s *Server) nodeEvals(nodeID string, withSystem bool, now int64) ([]*structs.Evaluation, error) {
	evals, err := raftfsm.NodeEvals(s.State().Snapshot(), nodeID, withSystem,
		func(string, string) string { return structs.GenerateUUID() }, now)
	if err != nil {
		return nil, fmt.Errorf("building node evaluations: %w", err)
	}
	return evals, nil
}

// lookupNode returns the node or a 404.
func (s *Server) lookupNode(id string) (*structs.Node, error) {
	n, err := s.State().NodeByID(nil, id)
	if err != nil {
		return nil, fmt.Errorf("reading node: %w", err)
	}
	if n == nil {
		return nil, fmt.Errorf("%w: node %q not found", ErrNotFound, id)
	}
	return n, nil
}

// UpdateNodeDrain starts, changes or ends a node's drain (PUT
// /v1/node/<id>/drain). accessor is the caller's token accessor, kept in
// the node's LastDrain.
func (s *Server) UpdateNodeDrain(ctx context.Context, req *structs.NodeUpdateDrainRequest, accessor string) (*structs.NodeDrainUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	node, err := s.lookupNode(req.NodeID)
	if err != nil {
		return nil, err
	}
	now := time.Unix(0, s.now()).UTC()
	body := &raftfsm.NodeDrainUpdate{NodeID: node.ID, MarkEligible: req.MarkEligible, Meta: req.Meta,
		AccessorID: accessor, Time: now.UnixNano()}
	ev := &structs.NodeEvent{Subsystem: structs.NodeEventSubsystemDrain, Timestamp: now}
	switch {
	case req.DrainSpec != nil:
		body.DrainStrategy = structs.NewDrainStrategy(*req.DrainSpec, now, node.DrainStrategy)
		ev.Message = structs.NodeEventDrainSet
		if node.DrainStrategy != nil {
			ev.Message = structs.NodeEventDrainUpdated
		}
	case node.DrainStrategy == nil && !req.MarkEligible:
		// Nothing to end and nothing to change: Nomad answers success.
		return &structs.NodeDrainUpdateResponse{NodeModifyIndex: node.ModifyIndex, Index: node.ModifyIndex}, nil
	default:
		ev.Message = structs.NodeEventDrainDisabled
		if req.MarkEligible && node.SchedulingEligibility != structs.NodeSchedulingEligible {
			// Eligible again: system jobs may place here, as may blocked evals.
			if body.Evals, err = s.nodeEvals(node.ID, true, body.Time); err != nil {
				return nil, err
			}
		}
	}
	body.Event = ev
	index, err := s.raftApplyCtx(ctx, raftfsm.NodeDrainUpdateType, body)
	if err != nil {
		return nil, err
	}
	if body.DrainStrategy != nil {
		s.logger.Info("node drain set", "node_id", node.ID, "deadline", req.DrainSpec.Deadline,
			"ignore_system_jobs", req.DrainSpec.IgnoreSystemJobs)
	} else {
		s.logger.Info("node drain disabled", "node_id", node.ID, "mark_eligible", req.MarkEligible)
	}
	return &structs.NodeDrainUpdateResponse{NodeModifyIndex: index, EvalIDs: evalIDs(body.Evals),
		EvalCreateIndex: evalIndex(body.Evals, index), Index: index}, nil
}

// UpdateNodeEligibility sets a node's scheduling eligibility (PUT
// /v1/node/<id>/eligibility). A draining node cannot be made eligible.
func (s *Server) UpdateNodeEligibility(ctx context.Context, req *structs.NodeUpdateEligibilityRequest) (*structs.NodeDrainUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	switch req.Eligibility {
	case structs.NodeSchedulingEligible, structs.NodeSchedulingIneligible:
	default:
		return nil, fmt.Errorf("%w: invalid scheduling eligibility %q", ErrBadInput, req.Eligibility)
	}
	node, err := s.lookupNode(req.NodeID)
	if err != nil {
		return nil, err
	}
	if req.Eligibility == structs.NodeSchedulingEligible && node.DrainStrategy != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, raftfsm.ErrEligibleWhileDraining)
	}
	if node.SchedulingEligibility == req.Eligibility {
		return &structs.NodeDrainUpdateResponse{NodeModifyIndex: node.ModifyIndex, Index: node.ModifyIndex}, nil
	}
	now := time.Unix(0, s.now()).UTC()
	body := &raftfsm.NodeEligibilityUpdate{NodeID: node.ID, Eligibility: req.Eligibility, Time: now.UnixNano(),
		Event: &structs.NodeEvent{Subsystem: structs.NodeEventSubsystemCluster, Message: structs.NodeEventIneligible, Timestamp: now}}
	if req.Eligibility == structs.NodeSchedulingEligible {
		body.Event.Message = structs.NodeEventEligible
		if body.Evals, err = s.nodeEvals(node.ID, true, body.Time); err != nil {
			return nil, err
		}
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.NodeEligibilityUpdateType, body)
	if err != nil {
		if errors.Is(err, raftfsm.ErrEligibleWhileDraining) {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, raftfsm.ErrEligibleWhileDraining)
		}
		return nil, err
	}
	return &structs.NodeDrainUpdateResponse{NodeModifyIndex: index, EvalIDs: evalIDs(body.Evals),
		EvalCreateIndex: evalIndex(body.Evals, index), Index: index}, nil
}

// PurgeNode removes a node from the state (PUT /v1/node/<id>/purge); the
// jobs with allocations there are evaluated, which replaces them. A live
// client registers its node again.
func (s *Server) PurgeNode(ctx context.Context, id string) (*structs.NodePurgeResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	node, err := s.lookupNode(id)
	if err != nil {
		return nil, err
	}
	body := &raftfsm.NodePurge{NodeID: node.ID, Time: s.now()}
	if body.Evals, err = s.nodeEvals(node.ID, false, body.Time); err != nil {
		return nil, err
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.NodePurgeType, body)
	if err != nil {
		return nil, err
	}
	s.logger.Info("node purged", "node_id", node.ID, "name", node.Name)
	return &structs.NodePurgeResponse{EvalIDs: evalIDs(body.Evals), EvalCreateIndex: evalIndex(body.Evals, index),
		NodeModifyIndex: index, Index: index}, nil
}

// EvaluateNode creates an evaluation of every job with work on the node
// and of every system job (PUT /v1/node/<id>/evaluate).
func (s *Server) EvaluateNode(ctx context.Context, id string) (*structs.NodeEvaluateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	node, err := s.lookupNode(id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	evals, err := s.nodeEvals(node.ID, true, now)
	if err != nil {
		return nil, err
	}
	resp := &structs.NodeEvaluateResponse{EvalIDs: evalIDs(evals), NodeModifyIndex: node.ModifyIndex, Index: node.ModifyIndex}
	if len(evals) == 0 {
		return resp, nil
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: evals, Time: now})
	if err != nil {
		return nil, err
	}
	resp.EvalCreateIndex, resp.Index, resp.EvalID = index, index, evals[0].ID
	return resp, nil
}

// StopAlloc stops one allocation and has the scheduler replace it (POST
// /v1/allocation/<id>/stop): it is marked for migration, with an eval of
// its job in the same entry.
func (s *Server) StopAlloc(ctx context.Context, id string, noShutdownDelay bool) (*structs.AllocStopResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	a, err := snap.AllocByID(nil, id)
	if err != nil {
		return nil, fmt.Errorf("reading allocation: %w", err)
	}
	if a == nil {
		return nil, fmt.Errorf("%w: allocation %q not found", ErrNotFound, id)
	}
	job, err := snap.JobByID(nil, a.Namespace, a.JobID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if job == nil {
		job = a.Job
	}
	if job == nil {
		return nil, fmt.Errorf("%w: the job of allocation %q is gone", ErrBadInput, id)
	}
	now := s.now()
	eval := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: a.Namespace, Priority: job.Priority, Type: job.Type,
		TriggeredBy: structs.EvalTriggerAllocStop, JobID: a.JobID, JobModifyIndex: job.JobModifyIndex,
		Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
	}
	yes := true
	tr := &structs.DesiredTransition{Migrate: &yes}
	if noShutdownDelay {
		tr.NoShutdownDelay = &yes
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.AllocDesiredTransitionType, &raftfsm.AllocDesiredTransition{
		Allocs: map[string]*structs.DesiredTransition{a.ID: tr}, Evals: []*structs.Evaluation{eval}, Time: now,
	})
	if err != nil {
		return nil, err
	}
	return &structs.AllocStopResponse{EvalID: eval.ID, Index: index}, nil
}

func evalIDs(evals []*structs.Evaluation) []string {
	out := make([]string, 0, len(evals))
	for _, e := range evals {
		out = append(out, e.ID)
	}
	return out
}

// evalIndex is the index evals were created at (0 when there are none).
func evalIndex(evals []*structs.Evaluation, index uint64) uint64 {
	if len(evals) == 0 {
		return 0
	}
	return index
}
