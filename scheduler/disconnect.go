package scheduler

import (
	"time"

	"github.com/orch-project/orch/structs"
)

// Descriptions of the disconnect handling, in Nomad's spirit.
const (
	descReconnectLoser = "alloc not needed as the other copy was kept when its node reconnected"
	descDelayedLost    = "alloc is lost and its replacement waits for stop_on_client_after"
	descLostReplaced   = "alloc is lost since its node is down"
)

// A group's allocations on a node that missed its heartbeats are, per the
// group's disconnect policy (structs.DisconnectPolicy):
//   - unknown while the node is disconnected and lost_after has not run out
//     (the FSM marks them, and lost once lost_after passed). An unknown
//     allocation holds its slot; with replace, a replacement is placed at
//     once beside it (it is not stopped: it may come back).
//   - lost otherwise, and replaced; with stop_on_client_after the
//     replacement waits that long after the loss, the time the client takes
//     to stop the original on its own.
// When the node reconnects and its client reports the original again, the
// group's reconcile strategy picks which of the original and its
// replacement survives; the other is stopped.

// unknownAction decides the fate of an unknown allocation that has no
// replacement yet.
func (c *evalCtx) unknownAction(g *groupCtx, a *structs.Allocation) slotAction {
	if ni := c.nodeByID(a.NodeID); ni != nil && ni.node.Status == structs.NodeStatusReady {
		// Reconnected; its client has not reported yet.
		return actKeep
	}
	p := g.tg.DisconnectPolicy()
	if p.Replace && !p.NeverLost {
		return actDisconnect
	}
	return actKeep
}

// lostAction decides the fate of a lost allocation (without replacement):
// replace it now, or, under stop_on_client_after, once that long has
// passed since the loss (a follow-up eval holds it meanwhile).
func (c *evalCtx) lostAction(a *structs.Allocation, tg *structs.TaskGroup) (slotAction, time.Duration, int64, error) {
	if tg.PreventRescheduleOnLost {
		return actKeep, 0, 0, nil
	}
	wait := tg.DisconnectPolicy().StopOnClientAfter
	if wait <= 0 {
		return actLost, 0, c.now, nil
	}
	return c.dueAction(a, lostTime(a, c.now)+int64(wait), wait, actLost)
}

// lostTime is when the servers declared the allocation lost.
func lostTime(a *structs.Allocation, now int64) int64 {
	for i := len(a.AllocStates) - 1; i >= 0; i-- {
		if s := a.AllocStates[i]; s != nil && s.Field == structs.AllocStateFieldClientStatus && s.Value == structs.AllocClientStatusLost {
			return s.Time.UnixNano()
		}
	}
	if a.ModifyTime != 0 {
		return a.ModifyTime
	}
	return now
}

// reconcileReconnects settles a group's allocations that were replaced
// while their node was disconnected and that are still wanted running.
// It stops originals the servers declared lost, and, for an original its
// client reported again after reconnecting, keeps one of it and its
// replacement per the group's reconcile strategy and stops the other. It
// returns the allocations it stopped, which the slot count must skip;
// replaced loses the originals that were kept.
func (c *evalCtx) reconcileReconnects(g *groupCtx, allocs []*structs.Allocation, replaced map[string]bool) map[string]bool {
	var replacement map[string]*structs.Allocation
	skip := map[string]bool{}
	for _, a := range allocs {
		// Only allocations replaced while their node was away are kept
		// running beside their replacement.
		if !replaced[a.ID] || a.DesiredStatus != structs.AllocDesiredStatusRun || a.NextAllocation != "" ||
			a.UnknownSince().IsZero() {
			continue
		}
		switch a.ClientStatus {
		case structs.AllocClientStatusLost:
			c.stopAlloc(a, descLostReplaced, structs.AllocClientStatusLost)
			g.desired.Stop++
			continue
		case structs.AllocClientStatusUnknown, structs.AllocClientStatusComplete, structs.AllocClientStatusFailed:
			// Still away, or done: its replacement holds the slot.
			continue
		}
		if replacement == nil {
			replacement = make(map[string]*structs.Allocation)
			for _, r := range allocs {
				if r.PreviousAllocation != "" && !r.TerminalStatus() {
					replacement[r.PreviousAllocation] = r
				}
			}
		}
		r := replacement[a.ID]
		if r != nil && r.ClientStatus == structs.AllocClientStatusUnknown {
			continue // the replacement is away in turn: decide later
		}
		g.desired.Reconnect++
		if r != nil && !keepOriginal(g.tg.DisconnectPolicy().Reconcile, a, r) {
			c.stopAlloc(a, descReconnectLoser, "")
			g.desired.Stop++
			continue
		}
		if r != nil {
			c.stopAlloc(r, descReconnectLoser, "")
			g.desired.Stop++
			skip[r.ID] = true
		}
		delete(replaced, a.ID)
	}
	return skip
}

// keepOriginal applies a reconcile strategy to a reconnected original and
// its live replacement.
func keepOriginal(strategy string, orig, repl *structs.Allocation) bool {
	switch strategy {
	case structs.ReconcileKeepOriginal:
		return true
	case structs.ReconcileKeepReplacement:
		return false
	case structs.ReconcileLongestRunning:
		o, r := runningSince(orig), runningSince(repl)
		return r.IsZero() || (!o.IsZero() && !o.After(r))
	}
	// best_score: the copy on the node that scored better when placed.
	return placementScore(orig) >= placementScore(repl)
}

// runningSince is when the allocation's tasks last all started running:
// the latest StartedAt of its running tasks, zero when none runs.
func runningSince(a *structs.Allocation) time.Time {
	var t time.Time
	for _, ts := range a.TaskStates {
		if ts == nil || ts.State != structs.TaskStateRunning {
			continue
		}
		if ts.StartedAt.After(t) {
			t = ts.StartedAt
		}
	}
	return t
}

// placementScore is the normalized score of the node the allocation was
// placed on.
func placementScore(a *structs.Allocation) float64 {
	if a.Metrics == nil {
		return 0
	}
	for _, m := range a.Metrics.ScoreMetaData {
		if m != nil && m.NodeID == a.NodeID {
			return m.NormScore
		}
	}
	return 0
}
