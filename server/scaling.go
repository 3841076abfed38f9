package server

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// EvalTriggerScaling marks the evaluation of a job scale request.
const EvalTriggerScaling = "job-scaling"

// ScaleJob changes a group's count within its scaling policy, recording
// the request in the group's scaling history; a request without a count
// (an autoscaler's report or error) is only recorded.
func (s *Server) ScaleJob(ctx context.Context, ns, jobID string, req *structs.ScalingRequest) (*structs.JobRegisterResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	job, err := s.State().JobByID(nil, ns, jobID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if job == nil {
		return nil, fmt.Errorf("%w: job %q", ErrNotFound, jobID)
	}
	if req.JobModifyIndex != 0 && req.JobModifyIndex != job.JobModifyIndex {
		return nil, fmt.Errorf("%w: job %q has modify index %d, not %d", ErrConflict, jobID, job.JobModifyIndex, req.JobModifyIndex)
	}
	group := req.Target[structs.ScalingTargetGroup]
	if err := jobspec.CheckScale(job, group, req.Count, req.Error); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	if req.Count != nil && *req.Count > int64(s.maxGroupCount()) {
		return nil, countError(group, *req.Count, s.maxGroupCount())
	}
	now := s.now()
	entry := &raftfsm.JobScale{Namespace: job.Namespace, JobID: job.ID, Group: group, Count: req.Count, SubmitTime: now,
		Event: &structs.ScalingEvent{Time: now, Count: req.Count, Message: req.Message, Error: req.Error, Meta: req.Meta}}
	if req.Count != nil && !job.Stop {
		entry.Eval = &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: job.Namespace, Priority: job.Priority, Type: job.Type,
			TriggeredBy: EvalTriggerScaling, JobID: job.ID,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		}
		entry.Event.EvalID = &entry.Eval.ID
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.JobScaleType, entry)
	if err != nil {
		return nil, err
	}
	resp := &structs.JobRegisterResponse{JobModifyIndex: index, Index: index}
	if stored, _ := s.State().JobByID(nil, job.Namespace, job.ID); stored != nil {
		resp.JobModifyIndex = stored.JobModifyIndex
	}
	if entry.Eval != nil {
		resp.EvalID = entry.Eval.ID
		resp.EvalCreateIndex = index
	}
	return resp, nil
}
