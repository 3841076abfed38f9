package structs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Drain statuses of Node.LastDrain, as Nomad reports them.
const (
	DrainStatusDraining = "draining"
	DrainStatusComplete = "complete"
	DrainStatusCanceled = "canceled"
)

// Node event subsystems and the drain's event messages, as Nomad words them.
const (
	NodeEventSubsystemDrain   = "Drain"
	NodeEventSubsystemCluster = "Cluster"

	NodeEventDrainSet      = "Node drain strategy set"
	NodeEventDrainUpdated  = "Node drain strategy updated"
	NodeEventDrainDisabled = "Node drain disabled"
	NodeEventDrainComplete = "Node drain complete"
	NodeEventEligible      = "Node marked as eligible for scheduling"
	NodeEventIneligible    = "Node marked as ineligible for scheduling"
)

// MaxNodeEvents is how many events a node keeps (the oldest are dropped), as
// in Nomad.
const MaxNodeEvents = 10

// DrainSpec is what an operator asks of a drain.
type DrainSpec struct {
	// Deadline bounds the drain: once it passes, every allocation left on
	// the node is stopped at once. Zero means no deadline; a negative one
	// forces the drain (the deadline is now).
	Deadline time.Duration `json:"Deadline"`
	// IgnoreSystemJobs leaves system jobs' allocations running.
	IgnoreSystemJobs bool `json:"IgnoreSystemJobs"`
}

// DrainStrategy is a node's drain in progress: the spec with the times the
// leader stamped.
type DrainStrategy struct {
	DrainSpec
	// ForceDeadline is when remaining allocations are stopped; zero when
	// the drain has no deadline.
	ForceDeadline time.Time `json:"ForceDeadline"`
	// StartedAt is when the drain began.
	StartedAt time.Time `json:"StartedAt"`
}

// NewDrainStrategy stamps spec at now. prev, when the node is already
// draining, keeps that drain's start.
func NewDrainStrategy(spec DrainSpec, now time.Time, prev *DrainStrategy) *DrainStrategy {
	d := &DrainStrategy{DrainSpec: spec, StartedAt: now}
	if prev != nil {
		d.StartedAt = prev.StartedAt
	}
	switch {
	case spec.Deadline < 0:
		d.ForceDeadline = now
	case spec.Deadline > 0:
		d.ForceDeadline = now.Add(spec.Deadline)
	}
	return d
}

// DeadlineTime reports whether the drain has a deadline and when it is.
func (d *DrainStrategy) DeadlineTime() (bool, time.Time) {
	if d == nil || d.ForceDeadline.IsZero() {
		return false, time.Time{}
	}
	return true, d.ForceDeadline
}

// Equal reports whether two strategies are the same drain.
func (d *DrainStrategy) Equal(o *DrainStrategy) bool {
	if d == nil || o == nil {
		return d == o
	}
	return d.DrainSpec == o.DrainSpec && d.ForceDeadline.Equal(o.ForceDeadline) && d.StartedAt.Equal(o.StartedAt)
}

func (d *DrainStrategy) String() string {
	if d.IgnoreSystemJobs {
		return fmt.Sprintf("drain ignoring system jobs and deadline at %s", d.ForceDeadline)
	}
	return fmt.Sprintf("drain with deadline at %s", d.ForceDeadline)
}

// DrainMetadata describes a node's most recent drain.
type DrainMetadata struct {
	StartedAt  time.Time         `json:"StartedAt"`
	UpdatedAt  time.Time         `json:"UpdatedAt"`
	Status     string            `json:"Status"`
	AccessorID string            `json:"AccessorID"`
	Meta       map[string]string `json:"Meta"`
}

// NodeUpdateDrainRequest is the body of PUT /v1/node/<id>/drain. A nil
// DrainSpec ends the node's drain.
type NodeUpdateDrainRequest struct {
	NodeID    string     `json:"NodeID"`
	DrainSpec *DrainSpec `json:"DrainSpec"`
	// MarkEligible makes the node eligible again when the drain ends.
	MarkEligible bool              `json:"MarkEligible"`
	Meta         map[string]string `json:"Meta"`
}

// NodeDrainUpdateResponse answers a drain or eligibility change.
type NodeDrainUpdateResponse struct {
	NodeModifyIndex uint64   `json:"NodeModifyIndex"`
	EvalIDs         []string `json:"EvalIDs"`
	EvalCreateIndex uint64   `json:"EvalCreateIndex"`
	Index           uint64   `json:"-"`
}

// NodeUpdateEligibilityRequest is the body of PUT /v1/node/<id>/eligibility.
type NodeUpdateEligibilityRequest struct {
	NodeID      string `json:"NodeID"`
	Eligibility string `json:"Eligibility"`
}

// NodePurgeResponse answers PUT /v1/node/<id>/purge.
type NodePurgeResponse struct {
	EvalIDs         []string `json:"EvalIDs"`
	EvalCreateIndex uint64   `json:"EvalCreateIndex"`
	NodeModifyIndex uint64   `json:"NodeModifyIndex"`
	Index           uint64   `json:"-"`
}

// NodeEvaluateResponse answers PUT /v1/node/<id>/evaluate.
type NodeEvaluateResponse struct {
	EvalIDs         []string `json:"EvalIDs"`
	EvalCreateIndex uint64   `json:"EvalCreateIndex"`
	NodeModifyIndex uint64   `json:"NodeModifyIndex"`
	// EvalID is the first eval, which nomad/api's ForceEvaluate reads.
	EvalID string `json:"EvalID"`
	Index  uint64 `json:"-"`
}

// AllocStopResponse answers POST /v1/allocation/<id>/stop.
type AllocStopResponse struct {
	EvalID string `json:"EvalID"`
	Index  uint64 `json:"Index"`
}

// AllocRestartRequest is the body of PUT /v1/client/allocation/<id>/restart.
type AllocRestartRequest struct {
	TaskName string `json:"TaskName"`
	AllTasks bool   `json:"AllTasks"`
}

// AllocSignalRequest is the body of PUT /v1/client/allocation/<id>/signal.
type AllocSignalRequest struct {
	Task   string `json:"Task"`
	Signal string `json:"Signal"`
}

// AddNodeEvent returns events with ev appended, keeping the newest
// MaxNodeEvents.
func AddNodeEvent(events []*NodeEvent, ev *NodeEvent) []*NodeEvent {
	if ev == nil {
		return events
	}
	out := make([]*NodeEvent, 0, min(len(events)+1, MaxNodeEvents))
	if drop := len(events) + 1 - MaxNodeEvents; drop > 0 {
		events = events[drop:]
	}
	out = append(out, events...)
	return append(out, ev)
}

// UnmarshalJSON reads Timestamp as RFC 3339 (Nomad's wire format) or, as
// states written before it was a time hold it, as Unix seconds.
func (e *NodeEvent) UnmarshalJSON(b []byte) error {
	type plain NodeEvent
	var v struct {
		plain
		Timestamp json.RawMessage `json:"Timestamp"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = NodeEvent(v.plain)
	ts := bytes.TrimSpace(v.Timestamp)
	switch {
	case len(ts) == 0 || string(ts) == "null":
	case ts[0] == '"':
		return json.Unmarshal(ts, &e.Timestamp)
	default:
		var secs int64
		if err := json.Unmarshal(ts, &secs); err != nil {
			return fmt.Errorf("node event timestamp: %w", err)
		}
		e.Timestamp = time.Unix(secs, 0).UTC()
	}
	return nil
}
