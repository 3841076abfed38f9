package structs

import "time"

// Reconcile strategies of disconnect.reconcile: which copy survives when a
// disconnected node comes back and its allocation was replaced meanwhile.
const (
	ReconcileBestScore       = "best_score"
	ReconcileKeepOriginal    = "keep_original"
	ReconcileKeepReplacement = "keep_replacement"
	ReconcileLongestRunning  = "longest_running"
)

// AllocState is one server-side transition of an allocation's status.
type AllocState struct {
	Field string    `json:"Field"`
	Value string    `json:"Value"`
	Time  time.Time `json:"Time"`
}

// AllocStateFieldClientStatus is the Field of client-status transitions.
const AllocStateFieldClientStatus = "ClientStatus"

// UnknownSince is when the allocation last went unknown, zero if never.
func (a *Allocation) UnknownSince() time.Time {
	for i := len(a.AllocStates) - 1; i >= 0; i-- {
		s := a.AllocStates[i]
		if s != nil && s.Field == AllocStateFieldClientStatus && s.Value == AllocClientStatusUnknown {
			return s.Time
		}
	}
	return time.Time{}
}

// DisconnectPolicy is a group's behaviour when its node misses heartbeats,
// normalized from the disconnect block and its legacy forms
// (max_client_disconnect, stop_after_client_disconnect,
// prevent_reschedule_on_lost).
type DisconnectPolicy struct {
	// LostAfter > 0: allocations go unknown when the node disconnects and
	// lost only after this long; the client keeps them running that long.
	LostAfter time.Duration
	// NeverLost: allocations stay unknown (never replaced) until the node
	// comes back (prevent_reschedule_on_lost).
	NeverLost bool
	// Replace: an unknown allocation is replaced at once.
	Replace bool
	// Reconcile picks the surviving copy on reconnect.
	Reconcile string
	// StopOnClientAfter > 0: the client stops the allocations after this
	// long without server contact, and the servers wait as long before
	// replacing a lost allocation.
	StopOnClientAfter time.Duration
}

// Tolerates reports whether allocations may outlive a disconnection as
// unknown rather than being lost at once.
func (p DisconnectPolicy) Tolerates() bool { return p.LostAfter > 0 || p.NeverLost }

// DisconnectPolicy returns the group's normalized disconnect behaviour.
func (tg *TaskGroup) DisconnectPolicy() DisconnectPolicy {
	p := DisconnectPolicy{Replace: true, Reconcile: ReconcileBestScore}
	if d := tg.Disconnect; d != nil {
		p.LostAfter = d.LostAfter
		if d.Replace != nil {
			p.Replace = *d.Replace
		}
		if d.Reconcile != "" {
			p.Reconcile = d.Reconcile
		}
		if d.StopOnClientAfter != nil {
			p.StopOnClientAfter = *d.StopOnClientAfter
		}
	}
	if tg.MaxClientDisconnect != nil && p.LostAfter == 0 {
		p.LostAfter = *tg.MaxClientDisconnect
	}
	if tg.StopAfterClientDisconnect != nil && p.StopOnClientAfter == 0 {
		p.StopOnClientAfter = *tg.StopAfterClientDisconnect
	}
	if tg.PreventRescheduleOnLost {
		p.NeverLost, p.Replace = true, false
	}
	return p
}

// AllocDisconnectPolicy is the policy of the allocation's group, the
// default policy when its job or group is unknown.
func AllocDisconnectPolicy(a *Allocation) DisconnectPolicy {
	if a.Job != nil {
		if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
			return tg.DisconnectPolicy()
		}
	}
	return (&TaskGroup{}).DisconnectPolicy()
}
