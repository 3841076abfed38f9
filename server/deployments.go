package server

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// The operator's deployment writes (promote, pause/resume, fail, manual
// allocation health). Like every write they run on the leader and commit
// one entry holding the change and the evaluation that acts on it. Their
// preconditions are checked again when the entry applies, so a deployment
// that finished meanwhile is never revived.

// activeDeployment reads a deployment that must still be in progress.
func activeDeployment(snap *state.Snapshot, id, verb string) (*structs.Deployment, error) {
	d, err := snap.DeploymentByID(nil, id)
	if err != nil {
		return nil, fmt.Errorf("reading deployment: %w", err)
	}
	if d == nil {
		return nil, fmt.Errorf("%w: deployment not found", ErrNotFound)
	}
	if !d.Active() {
		return nil, fmt.Errorf("%w: can't %s terminal deployment", ErrBadInput, verb)
	}
	return d, nil
}

// PromoteDeployment promotes the canaries of the named groups (all with
// All); each promoted group's canaries must all be healthy.
func (s *Server) PromoteDeployment(ctx context.Context, req *structs.DeploymentPromoteRequest) (*structs.DeploymentUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	d, err := activeDeployment(snap, req.DeploymentID, "promote")
	if err != nil {
		return nil, err
	}
	groups, err := promotableGroups(snap, d, req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	job, _ := snap.JobByID(nil, d.Namespace, d.JobID)
	eval := deploymentEval(d, job, now)
	index, err := s.raftApplyCtx(ctx, raftfsm.DeploymentPromoteType, &raftfsm.DeploymentPromote{
		DeploymentID: d.ID, All: req.All, Groups: groups, Eval: eval, Time: now,
	})
	if err != nil {
		return nil, err
	}
	return &structs.DeploymentUpdateResponse{EvalID: eval.ID, EvalCreateIndex: index, DeploymentModifyIndex: index, Index: index}, nil
}

// promotableGroups checks a promotion and returns the groups it promotes.
func promotableGroups(snap *state.Snapshot, d *structs.Deployment, req *structs.DeploymentPromoteRequest) ([]string, error) {
	if !req.All && len(req.Groups) == 0 {
		return nil, fmt.Errorf("%w: must promote all task groups or specify groups", ErrBadInput)
	}
	var groups []string
	if req.All {
		for name, st := range d.TaskGroups {
			if st.DesiredCanaries > 0 && !st.Promoted {
				groups = append(groups, name)
			}
		}
	} else {
		for _, name := range req.Groups {
			if d.TaskGroups[name] == nil {
				return nil, fmt.Errorf("%w: deployment has no task group %q", ErrBadInput, name)
			}
			if st := d.TaskGroups[name]; st.DesiredCanaries > 0 && !st.Promoted {
				groups = append(groups, name)
			}
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%w: deployment has no canaries to promote", ErrBadInput)
	}
	sort.Strings(groups)
	for _, name := range groups {
		st := d.TaskGroups[name]
		healthy, err := healthyCanaries(snap, st)
		if err != nil {
			return nil, err
		}
		if healthy < st.DesiredCanaries {
			return nil, fmt.Errorf("%w: Task group %q has %d/%d healthy allocations", ErrBadInput, name, healthy, st.DesiredCanaries)
		}
	}
	return groups, nil
}

// healthyCanaries counts a group's placed canaries that proved healthy.
func healthyCanaries(snap *state.Snapshot, st *structs.DeploymentState) (int, error) {
	n := 0
	for _, id := range st.PlacedCanaries {
		a, err := snap.AllocByID(nil, id)
		if err != nil {
			return 0, fmt.Errorf("reading canary %s: %w", id, err)
		}
		if a != nil && a.DeploymentStatus.IsHealthy() && !a.TerminalStatus() {
			n++
		}
	}
	return n, nil
}

// PauseDeployment pauses (or resumes) a deployment. Resuming evaluates the
// job so the rollout continues.
func (s *Server) PauseDeployment(ctx context.Context, req *structs.DeploymentPauseRequest) (*structs.DeploymentUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	verb := "resume"
	if req.Pause {
		verb = "pause"
	}
	d, err := activeDeployment(snap, req.DeploymentID, verb)
	if err != nil {
		return nil, err
	}
	now := s.now()
	body := &raftfsm.DeploymentStatusUpdate{Time: now, Update: &structs.DeploymentStatusUpdate{
		DeploymentID: d.ID, Status: structs.DeploymentStatusPaused, StatusDescription: structs.DeploymentDescPaused,
	}}
	if !req.Pause {
		body.Update.Status, body.Update.StatusDescription = structs.DeploymentStatusRunning, runningDescription(d)
		job, _ := snap.JobByID(nil, d.Namespace, d.JobID)
		body.Eval = deploymentEval(d, job, now)
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.DeploymentStatusUpdateType, body)
	if err != nil {
		return nil, err
	}
	resp := &structs.DeploymentUpdateResponse{DeploymentModifyIndex: index, Index: index}
	if body.Eval != nil {
		resp.EvalID, resp.EvalCreateIndex = body.Eval.ID, index
	}
	return resp, nil
}

// runningDescription is a running deployment's description.
func runningDescription(d *structs.Deployment) string {
	if !d.RequiresPromotion() {
		return structs.DeploymentDescRunning
	}
	for _, st := range d.TaskGroups {
		if st.DesiredCanaries > 0 && !st.Promoted && !st.AutoPromote {
			return structs.DeploymentDescRunningNeedsPromotion
		}
	}
	return structs.DeploymentDescRunningAutoPromotion
}

// FailDeployment fails a deployment on the operator's word, reverting the
// job when its update block asks for auto_revert.
func (s *Server) FailDeployment(ctx context.Context, req *structs.DeploymentFailRequest) (*structs.DeploymentUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	d, err := activeDeployment(snap, req.DeploymentID, "fail")
	if err != nil {
		return nil, err
	}
	f, err := failure(snap, d, structs.DeploymentDescFailedByUser, s.now())
	if err != nil {
		return nil, err
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.DeploymentStatusUpdateType, &raftfsm.DeploymentStatusUpdate{
		Update: f.update, Job: f.job, JobModifyIndex: f.jobModifyIndex, Eval: f.eval, Time: f.now,
	})
	if err != nil {
		return nil, err
	}
	return f.response(index), nil
}

// SetAllocHealth records operator-set allocation health (update blocks with
// health_check = "manual"). An unhealthy allocation fails the deployment.
func (s *Server) SetAllocHealth(ctx context.Context, req *structs.DeploymentAllocHealthRequest) (*structs.DeploymentUpdateResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if len(req.HealthyAllocationIDs)+len(req.UnhealthyAllocationIDs) == 0 {
		return nil, fmt.Errorf("%w: must specify at least one healthy/unhealthy allocation ID", ErrBadInput)
	}
	snap := s.State().Snapshot()
	d, err := activeDeployment(snap, req.DeploymentID, "set health of allocations of a")
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Concat(req.HealthyAllocationIDs, req.UnhealthyAllocationIDs) {
		a, err := snap.AllocByID(nil, id)
		if err != nil {
			return nil, fmt.Errorf("reading allocation: %w", err)
		}
		if a == nil || a.DeploymentID != d.ID {
			return nil, fmt.Errorf("%w: Allocation %q is not part of deployment", ErrBadInput, id)
		}
	}
	now := s.now()
	body := &raftfsm.DeploymentAllocHealth{
		DeploymentID: d.ID, Healthy: req.HealthyAllocationIDs, Unhealthy: req.UnhealthyAllocationIDs, Time: now,
	}
	var f *deploymentFailure
	if len(req.UnhealthyAllocationIDs) > 0 {
		if f, err = failure(snap, d, structs.DeploymentDescFailedAllocations, now); err != nil {
			return nil, err
		}
		body.Update, body.Job, body.JobModifyIndex, body.Eval = f.update, f.job, f.jobModifyIndex, f.eval
	} else {
		job, _ := snap.JobByID(nil, d.Namespace, d.JobID)
		body.Eval = deploymentEval(d, job, now)
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.DeploymentAllocHealthType, body)
	if err != nil {
		return nil, err
	}
	if f != nil {
		return f.response(index), nil
	}
	return &structs.DeploymentUpdateResponse{EvalID: body.Eval.ID, EvalCreateIndex: index, DeploymentModifyIndex: index, Index: index}, nil
}

// deploymentFailure is what failing a deployment commits: its status, and
// with auto_revert the job version to go back to.
type deploymentFailure struct {
	update         *structs.DeploymentStatusUpdate
	job            *structs.Job
	jobModifyIndex uint64
	revertedTo     *uint64
	eval           *structs.Evaluation
	now            int64
}

func (f *deploymentFailure) response(index uint64) *structs.DeploymentUpdateResponse {
	return &structs.DeploymentUpdateResponse{
		EvalID: f.eval.ID, EvalCreateIndex: index, DeploymentModifyIndex: index,
		RevertedJobVersion: f.revertedTo, Index: index,
	}
}

// failure decides how d fails: when a group of it asks for auto_revert and
// d rolls out the job's current version, the job goes back to its latest
// stable earlier version (unless that has the same spec). The evaluation it
// carries stops the deployment's unpromoted canaries, or rolls the revert out.
func failure(snap *state.Snapshot, d *structs.Deployment, desc string, now int64) (*deploymentFailure, error) {
	job, err := snap.JobByID(nil, d.Namespace, d.JobID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	f := &deploymentFailure{now: now, eval: deploymentEval(d, job, now)}
	revert := false
	for _, st := range d.TaskGroups {
		revert = revert || st.AutoRevert
	}
	if revert && job != nil && !job.Stop && job.Version == d.JobVersion && job.CreateIndex == d.JobCreateIndex {
		stable, err := latestStable(snap, job)
		if err != nil {
			return nil, err
		}
		switch {
		case stable == nil:
			desc = structs.DeploymentDescNoRollbackTarget(desc)
		case state.SpecEqual(stable, job):
			desc = structs.DeploymentDescRollbackNoop(desc, stable.Version)
		default:
			desc = structs.DeploymentDescRollback(desc, stable.Version)
			v := stable.Version
			f.job, f.jobModifyIndex, f.revertedTo = stable, job.JobModifyIndex, &v
		}
	}
	f.update = &structs.DeploymentStatusUpdate{
		DeploymentID: d.ID, Status: structs.DeploymentStatusFailed, StatusDescription: desc,
	}
	return f, nil
}

// latestStable returns the newest stable version of job older than its
// current one, or nil.
func latestStable(snap *state.Snapshot, job *structs.Job) (*structs.Job, error) {
	versions, err := snap.JobVersionsByID(nil, job.Namespace, job.ID)
	if err != nil {
		return nil, fmt.Errorf("reading job versions: %w", err)
	}
	for _, v := range versions { // newest first
		if v.Stable && v.Version < job.Version {
			return v, nil
		}
	}
	return nil, nil
}
