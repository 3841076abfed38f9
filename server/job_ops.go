package server

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// EvaluateJob forces a scheduler pass over a job (`job eval`). With
// ForceReschedule its failed allocations are replaced now, whatever their
// reschedule policy allows; the marks and the eval are one entry.
func (s *Server) EvaluateJob(ctx context.Context, ns, id string, opts structs.EvalOptions) (*structs.JobRegisterResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	job, err := snap.JobByID(nil, ns, id)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if job == nil {
		return nil, fmt.Errorf("%w: job not found", ErrNotFound)
	}
	if job.IsPeriodic() {
		return nil, fmt.Errorf("%w: can't evaluate periodic job", ErrBadInput)
	}
	if job.IsParameterized() {
		return nil, fmt.Errorf("%w: can't evaluate parameterized job", ErrBadInput)
	}
	now := s.now()
	eval := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: job.Namespace, Priority: job.Priority, Type: job.Type,
		TriggeredBy: structs.EvalTriggerJobRegister, JobID: job.ID, JobModifyIndex: job.JobModifyIndex,
		Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
	}
	body := &raftfsm.AllocDesiredTransition{Allocs: map[string]*structs.DesiredTransition{},
		Evals: []*structs.Evaluation{eval}, Time: now}
	if opts.ForceReschedule {
		allocs, err := snap.AllocsByJob(nil, job.Namespace, job.ID)
		if err != nil {
			return nil, fmt.Errorf("reading allocations: %w", err)
		}
		yes := true
		for _, a := range allocs {
			if a.ClientStatus == structs.AllocClientStatusFailed && a.NextAllocation == "" &&
				(a.DesiredStatus == structs.AllocDesiredStatusRun || a.FollowupEvalID != "") {
				body.Allocs[a.ID] = &structs.DesiredTransition{ForceReschedule: &yes}
			}
		}
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.AllocDesiredTransitionType, body)
	if err != nil {
		return nil, err
	}
	return &structs.JobRegisterResponse{EvalID: eval.ID, EvalCreateIndex: index, JobModifyIndex: job.JobModifyIndex, Index: index}, nil
}

// RevertJob registers a retained version of a job again, as a new version
// (`job revert`). With EnforcePriorVersion it reverts only from that
// version; the job is also re-checked when the entry applies.
func (s *Server) RevertJob(ctx context.Context, ns string, req *structs.JobRevertRequest) (*structs.JobRegisterResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	cur, err := snap.JobByID(nil, ns, req.JobID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if cur == nil {
		return nil, fmt.Errorf("%w: job not found", ErrNotFound)
	}
	if req.EnforcePriorVersion != nil && cur.Version != *req.EnforcePriorVersion {
		return nil, fmt.Errorf("%w: Current job has version %d; enforcing version %d", ErrConflict, cur.Version, *req.EnforcePriorVersion)
	}
	if req.JobVersion == cur.Version {
		return nil, fmt.Errorf("%w: can't revert to current version", ErrBadInput)
	}
	target, err := snap.JobByIDAndVersion(nil, ns, req.JobID, req.JobVersion)
	if err != nil {
		return nil, fmt.Errorf("reading job version: %w", err)
	}
	if target == nil {
		return nil, fmt.Errorf("%w: job %q in namespace %q at version %d not found", ErrNotFound, req.JobID, ns, req.JobVersion)
	}
	sub, err := snap.JobSubmission(nil, ns, req.JobID, req.JobVersion)
	if err != nil {
		return nil, fmt.Errorf("reading job source: %w", err)
	}
	job := *target
	return s.RegisterJob(ctx, &structs.JobRegisterRequest{
		Job: &job, Submission: sub, EnforceIndex: true, JobModifyIndex: cur.JobModifyIndex,
	})
}

// SetJobStability marks a version of a job stable or not (`PUT
// /v1/job/<id>/stable`); auto_revert goes back to the newest stable one.
func (s *Server) SetJobStability(ctx context.Context, ns string, req *structs.JobStabilityRequest) (*structs.JobStabilityResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	v, err := s.State().JobByIDAndVersion(nil, ns, req.JobID, req.JobVersion)
	if err != nil {
		return nil, fmt.Errorf("reading job version: %w", err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: job %q in namespace %q at version %d not found", ErrNotFound, req.JobID, ns, req.JobVersion)
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.JobStabilityType, &raftfsm.JobStability{
		Namespace: ns, JobID: req.JobID, Version: req.JobVersion, Stable: req.Stable,
	})
	if err != nil {
		return nil, err
	}
	return &structs.JobStabilityResponse{JobModifyIndex: index, Index: index}, nil
}
