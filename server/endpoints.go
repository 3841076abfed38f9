package server

import (
	"context"
	"fmt"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// The methods in this file are the server's write API. They run on the
// leader only (ErrNotLeader elsewhere; the HTTP layer forwards), validate,
// stamp times, build the evaluations a change calls for and commit one Raft
// entry. They never enqueue evals themselves: onCommit hands every eval an
// applied entry wrote to the broker.

func (s *Server) now() int64 { return time.Now().UnixNano() }

// RegisterJob stores a job (new or a new version) and evaluates it.
func (s *Server) RegisterJob(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	job := req.Job
	if job == nil {
		return nil, fmt.Errorf("%w: job is missing", ErrBadInput)
	}
	if err := s.checkJobNamespace(job); err != nil {
		return nil, err
	}
	if err := s.checkGroupCounts(job); err != nil {
		return nil, err
	}
	if err := checkEvalPriority(req.EvalPriority); err != nil {
		return nil, err
	}
	sub, warning := keepSubmission(req.Submission)
	now := s.now()
	var eval *structs.Evaluation
	// Periodic and parameterized jobs are templates: nothing runs until
	// they are launched or dispatched.
	if !job.IsPeriodic() && !job.IsParameterized() {
		prio := job.Priority
		if req.EvalPriority > 0 {
			prio = req.EvalPriority
		}
		eval = &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: job.Namespace, Priority: prio, Type: job.Type,
			TriggeredBy: structs.EvalTriggerJobRegister, JobID: job.ID,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		}
	}
	// EnforceIndex is checked when the entry applies: a check here could
	// pass for two racing writers.
	index, err := s.raftApplyCtx(ctx, raftfsm.JobRegisterType, &raftfsm.JobRegister{
		Job: job, Eval: eval, Submission: sub, SubmitTime: now,
		EnforceIndex: req.EnforceIndex, JobModifyIndex: req.JobModifyIndex,
	})
	if err != nil {
		return nil, err
	}
	resp := &structs.JobRegisterResponse{JobModifyIndex: index, Index: index, Warnings: warning}
	if stored, _ := s.State().JobByID(nil, job.Namespace, job.ID); stored != nil {
		resp.JobModifyIndex = stored.JobModifyIndex
	}
	if eval != nil {
		resp.EvalID = eval.ID
		resp.EvalCreateIndex = index
	}
	return resp, nil
}

// DeregisterJob stops a job, or removes it with purge, and evaluates it so
// its allocations stop. Like Nomad's, it is idempotent: an unknown job
// answers success with no evaluation.
func (s *Server) DeregisterJob(ctx context.Context, ns, id string, opts structs.JobDeregisterOptions) (*structs.JobDeregisterResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if err := checkEvalPriority(opts.EvalPriority); err != nil {
		return nil, err
	}
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	snap := s.State().Snapshot()
	job, err := snap.JobByID(nil, ns, id)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if job == nil {
		index, err := snap.Index(state.TableJobs)
		if err != nil {
			return nil, err
		}
		return &structs.JobDeregisterResponse{Index: index}, nil
	}
	now := s.now()
	var eval *structs.Evaluation
	// A periodic or parameterized template has nothing running to stop.
	if !job.IsPeriodic() && !job.IsParameterized() {
		prio := job.Priority
		if opts.EvalPriority > 0 {
			prio = opts.EvalPriority
		}
		eval = &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: ns, Priority: prio, Type: job.Type,
			TriggeredBy: structs.EvalTriggerJobDeregister, JobID: id,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		}
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.JobDeregisterType, &raftfsm.JobDeregister{
		Namespace: ns, JobID: id, Purge: opts.Purge, Eval: eval, Time: now, NoShutdownDelay: opts.NoShutdownDelay,
	})
	if err != nil {
		return nil, err
	}
	s.blocked.Untrack(ns, id)
	resp := &structs.JobDeregisterResponse{JobModifyIndex: index, Index: index}
	if eval != nil {
		resp.EvalID, resp.EvalCreateIndex = eval.ID, index
	}
	return resp, nil
}

// UpdateAllocsFromClient records what clients report about their
// allocations. A failed allocation the scheduler wanted running gets its job
// evaluated so it is rescheduled, and so does a service or system
// allocation that finished while it should run (its client stopped it after
// losing contact with the servers, or its tasks exited): the scheduler
// refills the slot. Any allocation that finished frees capacity for blocked
// evals.
func (s *Server) UpdateAllocsFromClient(ctx context.Context, allocs []*structs.Allocation) (*structs.GenericResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	now := s.now()
	var evals []*structs.Evaluation
	seen := map[structs.NamespacedID]bool{}
	for _, u := range allocs {
		existing, err := snap.AllocByID(nil, u.ID)
		if err != nil {
			return nil, fmt.Errorf("reading allocation %s: %w", u.ID, err)
		}
		if existing == nil || existing.ClientTerminalStatus() || existing.DesiredStatus != structs.AllocDesiredStatusRun || existing.Job == nil {
			continue
		}
		// A failed allocation may be rescheduled; one reported again after
		// its node reconnected must be reconciled with its replacement; a
		// service or system allocation that finished while it should run
		// leaves a slot to refill.
		trigger := ""
		switch {
		case u.ClientStatus == structs.AllocClientStatusFailed:
			trigger = structs.EvalTriggerRetryFailedAlloc
		case existing.ClientStatus == structs.AllocClientStatusUnknown && u.ClientStatus != "":
			trigger = structs.EvalTriggerReconnect
		case u.ClientStatus == structs.AllocClientStatusComplete && finishedNeedsRefill(existing.Job.Type):
			trigger = structs.EvalTriggerAllocStop
		default:
			continue
		}
		key := structs.NamespacedID{Namespace: existing.Namespace, ID: existing.JobID}
		if seen[key] {
			continue
		}
		seen[key] = true
		evals = append(evals, &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: existing.Namespace, Priority: existing.Job.Priority,
			Type: existing.Job.Type, TriggeredBy: trigger, JobID: existing.JobID,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		})
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.AllocClientUpdateType, &raftfsm.AllocClientUpdate{Allocs: allocs, Evals: evals, Time: now})
	if err != nil {
		return nil, err
	}
	return &structs.GenericResponse{Index: index}, nil
}

// finishedNeedsRefill reports whether a job type's allocations run until
// stopped, so one that finished on its own leaves a slot to refill; a
// finished batch allocation is done.
func finishedNeedsRefill(jobType string) bool {
	return jobType == structs.JobTypeService || jobType == structs.JobTypeSystem
}

// failedEvalRetryDelay is how long a follow-up of an eval that failed its
// deliveries waits: long enough for a transient fault (a slow disk, a
// leadership change) to pass.
const failedEvalRetryDelay = 30 * time.Second

// failEval records an eval that failed delivery too often, with a delayed
// follow-up eval so the job is not left unscheduled for good.
func (s *Server) failEval(e *structs.Evaluation) {
	now := s.now()
	followUp := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: e.Namespace, Priority: e.Priority, Type: e.Type,
		TriggeredBy: structs.EvalTriggerFailedFollowUp, JobID: e.JobID, NodeID: e.NodeID, PreviousEval: e.ID,
		Status: structs.EvalStatusPending, WaitUntil: time.Unix(0, now).Add(failedEvalRetryDelay),
		CreateTime: now, ModifyTime: now,
	}
	u := e.Copy()
	u.Status = structs.EvalStatusFailed
	u.StatusDescription = "evaluation reached its delivery limit"
	u.NextEval = followUp.ID
	u.ModifyTime = now
	// Called from the broker's timer and nack paths: commit off their
	// goroutine.
	go func() {
		if _, err := s.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: []*structs.Evaluation{u, followUp}, Time: now}); err != nil {
			s.logger.Error("failing evaluation", "eval_id", e.ID, "error", err)
		}
	}()
}

// cancelEvals records evals superseded by newer ones of the same job.
func (s *Server) cancelEvals(evals []*structs.Evaluation) {
	now := s.now()
	out := make([]*structs.Evaluation, 0, len(evals))
	for _, e := range evals {
		u := e.Copy()
		u.Status = structs.EvalStatusCancelled
		u.StatusDescription = "superseded by a newer evaluation of the job"
		u.ModifyTime = now
		out = append(out, u)
	}
	// Called from broker paths that hold no locks, but may run on a
	// worker's goroutine: commit asynchronously so the worker is not held.
	go func() {
		if _, err := s.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: out, Time: now}); err != nil {
			s.logger.Warn("cancelling superseded evaluations", "count", len(out), "error", err)
		}
	}()
}
