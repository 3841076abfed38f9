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
// Raft; a new leader starts it afresh and carries on from the replicated
// state. It
//   - fails a deployment with an unhealthy allocation, or one of whose
//     groups made no progress by its progress deadline, reverting the job
//     to its latest stable version when a group asks for auto_revert;
//   - promotes a deployment whose canaries are all healthy when every
//     group waiting on canaries asks for auto_promote;
//   - evaluates the job of a running deployment whose allocations turned
//     healthy, so the scheduler rolls the next ones out. Reports arrive
//     from many clients at once; it gathers them for evalBatchWindow and
//     commits one eval per deployment for the lot, created after reading
//     the state that holds them, so the scheduler's snapshot does too.

const (
	// watcherRetry paces a round after a failed commit.
	watcherRetry = time.Second
	// evalBatchWindow gathers health reports into one evaluation.
	evalBatchWindow = 50 * time.Millisecond
)

// deploymentWatch is the watcher's memory of one leadership term: per
// running deployment, the healthy count its last evaluation was created
// after. Losing it costs at most one evaluation per deployment.
type deploymentWatch struct {
	s       *Server
	evalled map[string]int
}

func (s *Server) deploymentWatcher(ctx context.Context) {
	w := &deploymentWatch{s: s, evalled: map[string]int{}}
	for {
		ws := memdb.NewWatchSet()
		next, progressed, err := w.round(ws)
		if err == nil && progressed {
			select {
			case <-ctx.Done():
				return
			case <-time.After(evalBatchWindow):
			}
			err = w.evaluateProgress()
			if err == nil {
				continue
			}
		}
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

// round runs one pass over the active deployments. It returns when the
// next progress deadline falls (zero when none) and whether some running
// deployment gained healthy allocations since its last evaluation.
func (w *deploymentWatch) round(ws memdb.WatchSet) (time.Time, bool, error) {
	snap := w.s.State().Snapshot()
	deps, err := snap.ActiveDeployments(ws)
	if err != nil {
		return time.Time{}, false, err
	}
	now := time.Now()
	var next time.Time
	var errs []error
	progressed := false
	active := make(map[string]bool, len(deps))
	for _, d := range deps {
		active[d.ID] = true
		deadline, err := w.s.watchDeployment(snap, d, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !deadline.IsZero() && (next.IsZero() || deadline.Before(next)) {
			next = deadline
		}
		progressed = progressed || w.progressed(d)
	}
	for id := range w.evalled {
		if !active[id] {
			delete(w.evalled, id)
		}
	}
	return next, progressed, errors.Join(errs...)
}

// progressed reports whether d needs an evaluation for healthy allocations
// it gained. A deployment first seen without any is noted as is (its
// creating plan's eval covers it); one first seen with some (a new leader)
// is evaluated once.
func (w *deploymentWatch) progressed(d *structs.Deployment) bool {
	if d.Status != structs.DeploymentStatusRunning {
		return false
	}
	h := healthyTotal(d)
	seen, ok := w.evalled[d.ID]
	if !ok && h == 0 {
		w.evalled[d.ID] = 0
		return false
	}
	return !ok || h != seen
}

func healthyTotal(d *structs.Deployment) int {
	n := 0
	for _, st := range d.TaskGroups {
		n += st.HealthyAllocs
	}
	return n
}

// evaluateProgress commits, in one entry, an evaluation of each running
// deployment's job that gained healthy allocations, as read now.
func (w *deploymentWatch) evaluateProgress() error {
	snap := w.s.State().Snapshot()
	deps, err := snap.ActiveDeployments(nil)
	if err != nil {
		return err
	}
	now := w.s.now()
	var evals []*structs.Evaluation
	counts := map[string]int{}
	for _, d := range deps {
		if !w.progressed(d) {
			continue
		}
		job, err := snap.JobByID(nil, d.Namespace, d.JobID)
		if err != nil {
			return err
		}
		evals = append(evals, deploymentEval(d, job, now))
		counts[d.ID] = healthyTotal(d)
	}
	if len(evals) == 0 {
		return nil
	}
	if _, err := w.s.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: evals, Time: now}); err != nil {
		return err
	}
	for id, n := range counts {
		w.evalled[id] = n
	}
	return nil
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
