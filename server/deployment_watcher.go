package server

import (
	"context"
	"errors"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// The deployment watcher is a leader-only loop (architecture-next §2): it
// reads the active deployments from state, decides, and commits through
// Raft. It keeps nothing between rounds, so a new leader simply starts it
// and carries on from the replicated state. It
//   - fails a deployment with an unhealthy allocation, or one of whose
//     groups made no progress by its progress deadline, reverting the job
//     to its latest stable version when a group asks for auto_revert;
//   - promotes a deployment whose canaries are all healthy when every
//     group waiting on canaries asks for auto_promote.
// Healthy reports reach the scheduler without it: the client update that
// carries them commits an evaluation of the job (see healthEvals).

// watcherRetry paces a round after a failed commit.
const watcherRetry = time.Second

func (s *Server) deploymentWatcher(ctx context.Context) {
	for {
		ws := memdb.NewWatchSet()
		next, err := s.watchDeployments(ws)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("deployment watcher", "error", err)
			next = time.Now().Add(watcherRetry)
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !next.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, next)
		}
		_ = ws.WatchCtx(wctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}

// watchDeployments runs one round over the active deployments and returns
// when the next progress deadline falls (zero when none).
func (s *Server) watchDeployments(ws memdb.WatchSet) (time.Time, error) {
	snap := s.State().Snapshot()
	deps, err := snap.ActiveDeployments(ws)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	var next time.Time
	var errs []error
	for _, d := range deps {
		deadline, err := s.watchDeployment(snap, d, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !deadline.IsZero() && (next.IsZero() || deadline.Before(next)) {
			next = deadline
		}
	}
	return next, errors.Join(errs...)
}

// watchDeployment acts on one deployment and returns its next deadline.
func (s *Server) watchDeployment(snap *state.Snapshot, d *structs.Deployment, now time.Time) (time.Time, error) {
	if desc, failed := failureCause(d, now); failed {
		return retryOnConflict(s.failDeployment(snap, d, desc), now)
	}
	if d.Status != structs.DeploymentStatusRunning {
		return time.Time{}, nil
	}
	if promote, err := autoPromotable(snap, d); err != nil || promote {
		if err != nil {
			return time.Time{}, err
		}
		return retryOnConflict(s.autoPromote(snap, d), now)
	}
	return progressDeadline(d), nil
}

// retryOnConflict turns a rejection by a precondition (the deployment
// finished, the job changed since the round read it) into another round
// shortly, on fresh state.
func retryOnConflict(err error, now time.Time) (time.Time, error) {
	var se *statusError
	if errors.As(err, &se) && se.code == 409 {
		return now.Add(watcherRetry), nil
	}
	return time.Time{}, err
}

// failureCause tells whether d must fail now, and why: an unhealthy
// allocation, or a running group that missed its progress deadline.
func failureCause(d *structs.Deployment, now time.Time) (string, bool) {
	for _, st := range d.TaskGroups {
		if st.UnhealthyAllocs > 0 {
			return structs.DeploymentDescFailedAllocations, true
		}
	}
	if d.Status != structs.DeploymentStatusRunning {
		return "", false
	}
	for _, st := range d.TaskGroups {
		if waitsOnProgress(st) && now.After(st.RequireProgressBy) {
			return structs.DeploymentDescProgressDeadline, true
		}
	}
	return "", false
}

// waitsOnProgress reports whether a group's progress deadline is running:
// it has one, it started, and the group is not done.
func waitsOnProgress(st *structs.DeploymentState) bool {
	done := st.HealthyAllocs >= st.DesiredTotal && (st.DesiredCanaries == 0 || st.Promoted)
	return st.ProgressDeadline > 0 && !st.RequireProgressBy.IsZero() && !done
}

// progressDeadline is the earliest deadline among d's groups (zero: none).
func progressDeadline(d *structs.Deployment) time.Time {
	var next time.Time
	for _, st := range d.TaskGroups {
		if waitsOnProgress(st) && (next.IsZero() || st.RequireProgressBy.Before(next)) {
			next = st.RequireProgressBy
		}
	}
	if !next.IsZero() {
		// Strictly after the deadline, so the round that wakes sees it passed.
		next = next.Add(time.Millisecond)
	}
	return next
}

// autoPromotable reports whether every group awaiting promotion asks for
// auto_promote and has all its canaries placed and healthy.
func autoPromotable(snap *state.Snapshot, d *structs.Deployment) (bool, error) {
	if !d.RequiresPromotion() {
		return false, nil
	}
	for _, st := range d.TaskGroups {
		if st.DesiredCanaries == 0 || st.Promoted {
			continue
		}
		if !st.AutoPromote || len(st.PlacedCanaries) < st.DesiredCanaries {
			return false, nil
		}
		healthy, err := healthyCanaries(snap, st)
		if err != nil {
			return false, err
		}
		if healthy < st.DesiredCanaries {
			return false, nil
		}
	}
	return true, nil
}

func (s *Server) autoPromote(snap *state.Snapshot, d *structs.Deployment) error {
	now := s.now()
	job, _ := snap.JobByID(nil, d.Namespace, d.JobID)
	eval := deploymentEval(d, job, now)
	_, err := s.raftApply(raftfsm.DeploymentPromoteType, &raftfsm.DeploymentPromote{
		DeploymentID: d.ID, All: true, Eval: eval, Time: now,
	})
	if err != nil {
		return err
	}
	s.logger.Info("deployment auto-promoted", "deployment_id", d.ID, "job_id", d.JobID)
	return nil
}

func (s *Server) failDeployment(snap *state.Snapshot, d *structs.Deployment, desc string) error {
	f, err := failure(snap, d, desc, s.now())
	if err != nil {
		return err
	}
	_, err = s.raftApply(raftfsm.DeploymentStatusUpdateType, &raftfsm.DeploymentStatusUpdate{
		Update: f.update, Job: f.job, JobModifyIndex: f.jobModifyIndex, Eval: f.eval, Time: f.now,
	})
	if err != nil {
		return err
	}
	s.logger.Info("deployment failed", "deployment_id", d.ID, "job_id", d.JobID, "reason", f.update.StatusDescription)
	return nil
}
