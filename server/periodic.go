package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// EvalTriggerPeriodicJob is Nomad's trigger of a periodic child's eval.
const EvalTriggerPeriodicJob = "periodic-job"

// launchPlan decides a periodic job's launches from its base (the last
// recorded launch, or its submit time when it never launched): due is the
// launch to make now (zero when none is due) and next the one after it.
// Of the ticks missed while no leader ran the dispatcher only the most
// recent is launched, as Nomad does. That tick is found by bisection, not
// by walking the missed ones: a seconds-level cron (with many crons, each
// step evaluates all of them) missed for days would otherwise cost the
// leader a million steps per round.
func launchPlan(p *structs.PeriodicConfig, base, now time.Time) (due, next time.Time) {
	next = p.Next(base)
	if next.IsZero() || next.After(now) {
		return time.Time{}, next
	}
	// Next(x) <= now exactly when x is before the latest tick at or before
	// now (Next is monotonic): lo keeps that true, hi false. Cron ticks
	// are whole seconds apart, so one second pins the tick down.
	lo, hi := base, now
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if n := p.Next(mid); !n.IsZero() && !n.After(now) {
			lo = mid
		} else {
			hi = mid
		}
	}
	due = p.Next(lo)
	// Whatever the zone's clock changes did to the bisection, end on the
	// last tick at or before now (a step or two at most).
	for n := p.Next(due); !n.IsZero() && !n.After(now); n = p.Next(due) {
		due = n
	}
	return due, p.Next(due)
}

// periodicDispatcher is the leader loop that launches periodic jobs. It
// holds no state of its own: every round reads the jobs and their last
// launches from the replicated state, so a new leader resumes exactly
// where the old one stopped, and the FSM refuses a launch at or before the
// recorded one, so no tick runs twice.
func (s *Server) periodicDispatcher(ctx context.Context) {
	sched := periodicSchedule{}
	for {
		ws := memdb.NewWatchSet()
		next, err := s.periodicRound(ctx, ws, sched)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logger.Warn("periodic dispatcher", "error", err)
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

// periodicSchedule remembers each periodic job's next launch between
// rounds, so a round recomputes the cron schedule (parsing included) only
// for jobs whose version or last launch changed. It is a cache of what the
// replicated state determines; a new leader starts with an empty one.
type periodicSchedule map[structs.NamespacedID]scheduledLaunch

type scheduledLaunch struct {
	jobModifyIndex uint64
	base           int64
	next           time.Time
}

// periodicRound launches every due periodic job and returns the earliest
// next launch (zero when nothing is scheduled); ws fires when jobs change.
func (s *Server) periodicRound(ctx context.Context, ws memdb.WatchSet, sched periodicSchedule) (time.Time, error) {
	snap := s.State().Snapshot()
	jobs, err := snap.ActivePeriodicJobs(ws)
	if err != nil {
		return time.Time{}, fmt.Errorf("listing periodic jobs: %w", err)
	}
	var earliest time.Time
	var errs []error
	seen := make(map[structs.NamespacedID]bool, len(jobs))
	for _, j := range jobs {
		seen[j.NamespacedID()] = true
		next, err := s.launchIfDue(ctx, snap, j, sched)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s/%s: %w", j.Namespace, j.ID, err))
		}
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	for k := range sched {
		if !seen[k] {
			delete(sched, k)
		}
	}
	return earliest, errors.Join(errs...)
}

// launchIfDue launches j if a tick is due and returns its next launch.
// Ticks are counted from the later of the last launch and the job's
// submission: a job submitted (or run again after a stop) does not catch
// up ticks from before it was submitted.
func (s *Server) launchIfDue(ctx context.Context, snap *state.Snapshot, j *structs.Job, sched periodicSchedule) (time.Time, error) {
	base := j.SubmitTime
	last, err := snap.PeriodicLaunchByID(nil, j.Namespace, j.ID)
	if err != nil {
		return time.Time{}, err
	}
	if last != nil {
		base = max(base, last.Launch)
	}
	now := time.Now()
	key := j.NamespacedID()
	if c, ok := sched[key]; ok && c.jobModifyIndex == j.JobModifyIndex && c.base == base && (c.next.IsZero() || now.Before(c.next)) {
		return c.next, nil
	}
	due, next := launchPlan(j.Periodic, time.Unix(0, base), now)
	if due.IsZero() {
		sched[key] = scheduledLaunch{jobModifyIndex: j.JobModifyIndex, base: base, next: next}
		return next, nil
	}
	// Not cached: until the launch commits (and moves the base), every
	// round retries it.
	delete(sched, key)
	_, _, err = s.launchPeriodic(ctx, snap, j, due, false)
	if errors.Is(err, raftfsm.ErrAlreadyLaunched) {
		err = nil
	}
	return next, err
}

// launchPeriodic commits one launch of j at t; the child is left out when
// prohibit_overlap holds it back (except for a forced launch).
func (s *Server) launchPeriodic(ctx context.Context, snap *state.Snapshot, j *structs.Job, t time.Time, force bool) (*structs.Evaluation, uint64, error) {
	body := &raftfsm.PeriodicLaunch{Namespace: j.Namespace, JobID: j.ID, Launch: t.UnixNano(), Force: force, Time: s.now()}
	skip := false
	if j.Periodic.ProhibitOverlap && !force {
		running, err := childRunning(snap, j)
		if err != nil {
			return nil, 0, err
		}
		skip = running
	}
	if !skip {
		body.Child = deriveChild(j, structs.PeriodicChildID(j.ID, t), body.Time)
		body.Child.Periodic = nil
		body.Eval = childEval(body.Child, EvalTriggerPeriodicJob, body.Time)
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.PeriodicLaunchType, body)
	if err != nil {
		return nil, 0, err
	}
	if skip {
		s.logger.Info("periodic launch skipped: prohibit_overlap and a child is still running",
			"namespace", j.Namespace, "job", j.ID, "launch", t.UTC())
	} else {
		s.logger.Debug("periodic job launched", "namespace", j.Namespace, "job", body.Child.ID)
	}
	return body.Eval, index, nil
}

// childRunning reports whether any child of j is not dead yet, from the
// children counts of its summary (kept exact by the state store), so the
// check does not grow with the children a seconds-level cron accumulates
// before GC.
func childRunning(snap *state.Snapshot, j *structs.Job) (bool, error) {
	sum, err := snap.JobSummaryByID(nil, j.Namespace, j.ID)
	if err != nil {
		return false, fmt.Errorf("reading job summary: %w", err)
	}
	return sum != nil && sum.Children != nil && sum.Children.Pending+sum.Children.Running > 0, nil
}

// deriveChild is a runnable copy of a periodic or parameterized parent.
func deriveChild(parent *structs.Job, id string, now int64) *structs.Job {
	c := *parent
	c.ID, c.Name, c.ParentID = id, id, parent.ID
	c.Status, c.StatusDescription, c.Stable, c.Version = "", "", false, 0
	c.CreateIndex, c.ModifyIndex, c.JobModifyIndex = 0, 0, 0
	c.SubmitTime = now
	return &c
}

// childEval is the first evaluation of a launched or dispatched child.
func childEval(c *structs.Job, trigger string, now int64) *structs.Evaluation {
	if c.IsPeriodic() {
		// The dispatched child of a periodic parameterized job is itself a
		// periodic template: nothing to place.
		return nil
	}
	return &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: c.Namespace, Priority: c.Priority, Type: c.Type,
		TriggeredBy: trigger, JobID: c.ID, Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
	}
}

// ForcePeriodicJob launches a periodic job now, whatever its schedule
// (`job periodic force`).
func (s *Server) ForcePeriodicJob(ctx context.Context, ns, id string) (*structs.PeriodicForceResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	snap := s.State().Snapshot()
	j, err := snap.JobByID(nil, ns, id)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	if j == nil {
		return nil, fmt.Errorf("%w: job not found", ErrNotFound)
	}
	if !j.IsPeriodic() || j.IsParameterized() {
		return nil, fmt.Errorf("%w: can't force launch non-periodic job", ErrBadInput)
	}
	if j.Stop {
		return nil, fmt.Errorf("%w: can't force launch a stopped job", ErrBadInput)
	}
	// Whole seconds: the child's ID names the second it was launched. A
	// second that already has a child (a tick of a seconds-level cron) is
	// passed for the next free one; the forced launch, recorded as the
	// latest, then stands in for a tick at that second.
	t := time.Unix(time.Now().Unix(), 0)
	for {
		c, err := snap.JobByID(nil, j.Namespace, structs.PeriodicChildID(j.ID, t))
		if err != nil {
			return nil, fmt.Errorf("reading job: %w", err)
		}
		if c == nil {
			break
		}
		t = t.Add(time.Second)
	}
	eval, index, err := s.launchPeriodic(ctx, snap, j, t, true)
	if err != nil {
		return nil, err
	}
	resp := &structs.PeriodicForceResponse{Index: index}
	if eval != nil {
		resp.EvalID, resp.EvalCreateIndex = eval.ID, resp.Index
	}
	return resp, nil
}
