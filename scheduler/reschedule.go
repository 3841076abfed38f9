package scheduler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/orch-project/orch/structs"
)

// Delay functions of a reschedule policy.
const (
	delayConstant    = "constant"
	delayExponential = "exponential"
	delayFibonacci   = "fibonacci"
)

// rescheduleWindow is the slack of delayed rescheduling: failures due
// within it of each other share one follow-up eval, and an allocation due
// within it of now is replaced now rather than deferred again.
const rescheduleWindow = time.Second

// Default reschedule policies, as Nomad applies them when a job sets none.
var (
	defaultServiceReschedule = structs.ReschedulePolicy{Unlimited: true, Delay: 30 * time.Second, DelayFunction: delayExponential, MaxDelay: time.Hour}
	defaultBatchReschedule   = structs.ReschedulePolicy{Attempts: 1, Interval: 24 * time.Hour, Delay: 5 * time.Second, DelayFunction: delayConstant}
)

// reschedulePolicy is the policy governing tg: its own, else the job's,
// else the default for the job type.
func (c *evalCtx) reschedulePolicy(tg *structs.TaskGroup) *structs.ReschedulePolicy {
	if tg.ReschedulePolicy != nil {
		return tg.ReschedulePolicy
	}
	if c.job.Reschedule != nil {
		return c.job.Reschedule
	}
	if c.job.Type == structs.JobTypeBatch {
		return &defaultBatchReschedule
	}
	return &defaultServiceReschedule
}

// rescheduleEligible reports whether a failed allocation may be replaced at
// all: the policy is unlimited, or fewer than Attempts reschedules of its
// lineage happened within the last Interval.
func rescheduleEligible(p *structs.ReschedulePolicy, a *structs.Allocation, now int64) bool {
	if p.Unlimited {
		return true
	}
	if p.Attempts <= 0 {
		return false
	}
	n := 0
	if a.RescheduleTracker != nil {
		since := now - int64(p.Interval)
		for _, e := range a.RescheduleTracker.Events {
			if e != nil && (p.Interval <= 0 || e.RescheduleTime > since) {
				n++
			}
		}
	}
	return n < p.Attempts
}

// awaitingReschedule reports whether a is a failed allocation parked by an
// earlier eval until its reschedule delay passes. It is stopped only to carry
// FollowupEvalID through the plan; it still holds its slot in the group.
func awaitingReschedule(a *structs.Allocation) bool {
	if a.DesiredStatus != structs.AllocDesiredStatusStop || a.FollowupEvalID == "" {
		return false
	}
	return (a.ClientStatus == structs.AllocClientStatusFailed && a.DesiredDescription == descDelayed) ||
		(a.ClientStatus == structs.AllocClientStatusLost && a.DesiredDescription == descDelayedLost)
}

// failureTime is when a failed allocation failed: its last task's finish,
// else its last modification, else now.
func failureTime(a *structs.Allocation, now int64) int64 {
	var t int64
	for _, ts := range a.TaskStates {
		if ts != nil && !ts.FinishedAt.IsZero() {
			t = max(t, ts.FinishedAt.UnixNano())
		}
	}
	if t == 0 {
		t = a.ModifyTime
	}
	if t == 0 {
		t = now
	}
	return t
}

// rescheduleDelay is how long to wait after a failure before replacing the
// allocation, given the delays of its lineage's earlier reschedules.
func rescheduleDelay(p *structs.ReschedulePolicy, tr *structs.RescheduleTracker, failTime int64) time.Duration {
	base := p.Delay
	if base <= 0 {
		return 0
	}
	var events []*structs.RescheduleEvent
	if tr != nil {
		for _, e := range tr.Events {
			if e != nil {
				events = append(events, e)
			}
		}
	}
	if len(events) == 0 {
		return base
	}
	// Events recorded before delays existed (or under a smaller policy)
	// count as the base delay, so the series still grows.
	prev := func(i int) time.Duration { return max(events[i].Delay, base) }
	n := len(events)
	var d time.Duration
	switch p.DelayFunction {
	case delayExponential:
		d = satAdd(prev(n-1), prev(n-1))
	case delayFibonacci:
		switch {
		case n < 2:
			d = base
		case events[n-1].Delay <= base && events[n-2].Delay > base:
			// The series was reset at the last reschedule: its second
			// term is the base again.
			d = base
		default:
			d = satAdd(prev(n-1), prev(n-2))
		}
	default:
		return base
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
		// The failed allocation outlived the ceiling: it was healthy for a
		// while, so the series starts over.
		if failTime-events[n-1].RescheduleTime > int64(p.MaxDelay) {
			d = base
		}
	}
	return d
}

func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// failedAction decides what to do with a failed allocation of tg: keep it
// (not eligible, or already waiting on a live follow-up eval), replace it
// now, or defer the replacement to a new follow-up eval. It also returns the
// delay applied and the time the replacement is due.
func (c *evalCtx) failedAction(a *structs.Allocation, tg *structs.TaskGroup) (slotAction, time.Duration, int64, error) {
	if a.DesiredTransition.ShouldForceReschedule() {
		return actReschedule, 0, c.now, nil
	}
	// A failure inside a running rollout is the deployment's to judge
	// (it fails, and may revert); replacing the allocation would only
	// repeat the failure. An operator may still ask for it.
	if d := c.activeDeployment(); d != nil && a.DeploymentID == d.ID && !a.DesiredTransition.ShouldReschedule() {
		return actKeep, 0, 0, nil
	}
	p := c.reschedulePolicy(tg)
	if !rescheduleEligible(p, a, c.now) {
		return actKeep, 0, 0, nil
	}
	delay := rescheduleDelay(p, a.RescheduleTracker, failureTime(a, c.now))
	if delay <= 0 {
		return actReschedule, 0, c.now, nil
	}
	return c.dueAction(a, failureTime(a, c.now)+int64(delay), delay, actReschedule)
}

// dueAction decides for an allocation whose replacement is due at due:
// replace it now (act), keep it while a live follow-up eval holds it, or
// defer it to a new follow-up eval (actDelay).
func (c *evalCtx) dueAction(a *structs.Allocation, due int64, delay time.Duration, act slotAction) (slotAction, time.Duration, int64, error) {
	if a.FollowupEvalID != "" {
		fe := c.eval
		if a.FollowupEvalID != c.eval.ID {
			var err error
			if fe, err = c.snap.EvalByID(nil, a.FollowupEvalID); err != nil {
				return actKeep, 0, 0, fmt.Errorf("look up follow-up eval %s of alloc %s: %w", a.FollowupEvalID, a.ID, err)
			}
		}
		// A follow-up that is gone or finished without acting (its plan
		// was only partly committed, it was collected) no longer holds the
		// allocation: fall through and defer it again.
		if fe != nil && (fe == c.eval || !fe.Terminal()) {
			if !fe.WaitUntil.IsZero() {
				due = fe.WaitUntil.UnixNano()
			}
			if due <= c.now+int64(rescheduleWindow) {
				return act, delay, due, nil
			}
			if fe != c.eval {
				return actKeep, 0, 0, nil
			}
			// This is the follow-up, run before its time: defer again.
		}
	}
	if due <= c.now+int64(rescheduleWindow) {
		return act, delay, due, nil
	}
	return actDelay, delay, due, nil
}

// deferReschedules parks failed allocations whose delay has not passed: one
// pending follow-up eval per window of due times, and each allocation
// stopped with FollowupEvalID set so later evals leave it to that eval.
func (c *evalCtx) deferReschedules(slots []slot) {
	slices.SortFunc(slots, func(x, y slot) int {
		if r := cmp.Compare(x.due, y.due); r != 0 {
			return r
		}
		return cmp.Compare(x.a.ID, y.a.ID)
	})
	var (
		ev    *structs.Evaluation
		start int64
	)
	for _, s := range slots {
		if ev == nil || s.due-start >= int64(rescheduleWindow) {
			start = s.due
			ev = c.followupEval(start)
			c.createEvals = append(c.createEvals, ev)
		}
		desc, status := descDelayed, ""
		if s.a.ClientStatus == structs.AllocClientStatusLost {
			desc, status = descDelayedLost, structs.AllocClientStatusLost
		}
		st := c.stopAlloc(s.a, desc, status)
		st.FollowupEvalID = ev.ID
	}
}

// followupEval is a pending eval the broker holds until waitUntil.
func (c *evalCtx) followupEval(waitUntil int64) *structs.Evaluation {
	return &structs.Evaluation{
		ID:             c.newID(),
		Namespace:      c.ns,
		Priority:       c.plan.Priority,
		Type:           c.job.Type,
		TriggeredBy:    structs.EvalTriggerRetryFailedAlloc,
		JobID:          c.job.ID,
		JobModifyIndex: c.job.JobModifyIndex,
		Status:         structs.EvalStatusPending,
		PreviousEval:   c.eval.ID,
		WaitUntil:      time.Unix(0, waitUntil).UTC(),
		CreateTime:     c.now,
		ModifyTime:     c.now,
	}
}
