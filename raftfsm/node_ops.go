package raftfsm

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Job lifecycle entries: node operations, periodic launches and dispatches
// (types 35-39).
const (
	NodeDrainUpdateType       MessageType = 35
	NodeEligibilityUpdateType MessageType = 36
	NodePurgeType             MessageType = 37
)

func init() {
	register(NodeDrainUpdateType, "NodeDrainUpdate", applyNodeDrainUpdate)
	register(NodeEligibilityUpdateType, "NodeEligibilityUpdate", applyNodeEligibilityUpdate)
	register(NodePurgeType, "NodePurge", applyNodePurge)
}

// NodeDrainUpdate starts, changes or ends a node's drain. A drain makes
// the node ineligible; ending it (nil DrainStrategy) makes it eligible
// again only with MarkEligible. Complete marks the end the node drainer
// decided: it applies only while the node's drain is still Expect (an
// operator's newer drain is never ended by a decision about an older one).
type NodeDrainUpdate struct {
	NodeID        string                 `json:"NodeID"`
	DrainStrategy *structs.DrainStrategy `json:"DrainStrategy"`
	MarkEligible  bool                   `json:"MarkEligible"`
	Complete      bool                   `json:"Complete,omitempty"`
	Expect        *structs.DrainStrategy `json:"Expect,omitempty"`
	Meta          map[string]string      `json:"Meta,omitempty"`
	AccessorID    string                 `json:"AccessorID,omitempty"`
	Event         *structs.NodeEvent     `json:"Event,omitempty"`
	Evals         []*structs.Evaluation  `json:"Evals,omitempty"`
	Time          int64                  `json:"Time"`
}

// NodeEligibilityUpdate sets a node's scheduling eligibility; a draining
// node cannot be made eligible.
type NodeEligibilityUpdate struct {
	NodeID      string                `json:"NodeID"`
	Eligibility string                `json:"Eligibility"`
	Event       *structs.NodeEvent    `json:"Event,omitempty"`
	Evals       []*structs.Evaluation `json:"Evals,omitempty"`
	Time        int64                 `json:"Time"`
}

// NodePurge removes a node from the state with the evaluations that
// replace its allocations (the scheduler finds them on no node: lost).
type NodePurge struct {
	NodeID string                `json:"NodeID"`
	Evals  []*structs.Evaluation `json:"Evals,omitempty"`
	Time   int64                 `json:"Time"`
}

// ErrEligibleWhileDraining rejects making a draining node eligible.
var ErrEligibleWhileDraining = errors.New("can not set node's scheduling eligibility to eligible while node is draining")

func operatedNode(txn *state.WriteTxn, id string) (*structs.Node, error) {
	if id == "" {
		return nil, errors.New("missing node ID")
	}
	n, err := txn.Reader().NodeByID(nil, id)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("node %s: %w", id, state.ErrNotFound)
	}
	return n, nil
}

func applyNodeDrainUpdate(txn *state.WriteTxn, b *NodeDrainUpdate) error {
	existing, err := operatedNode(txn, b.NodeID)
	if err != nil {
		return err
	}
	if b.Complete && !existing.DrainStrategy.Equal(b.Expect) {
		return &ConflictError{fmt.Sprintf("node %s: its drain changed since the drainer looked", b.NodeID)}
	}
	n := *existing
	now := time.Unix(0, b.Time).UTC()
	n.DrainStrategy, n.Drain = b.DrainStrategy, b.DrainStrategy != nil
	switch {
	case b.DrainStrategy != nil:
		n.SchedulingEligibility = structs.NodeSchedulingIneligible
		last := &structs.DrainMetadata{StartedAt: b.DrainStrategy.StartedAt, AccessorID: b.AccessorID, Meta: maps.Clone(b.Meta)}
		if existing.DrainStrategy != nil && existing.LastDrain != nil {
			c := *existing.LastDrain
			last = &c
			if b.Meta != nil {
				last.Meta = maps.Clone(b.Meta)
			}
		}
		last.Status, last.UpdatedAt = structs.DrainStatusDraining, now
		n.LastDrain = last
	default:
		if b.MarkEligible {
			n.SchedulingEligibility = structs.NodeSchedulingEligible
		}
		if existing.DrainStrategy != nil && existing.LastDrain != nil {
			c := *existing.LastDrain
			c.Status, c.UpdatedAt = structs.DrainStatusCanceled, now
			if b.Complete {
				c.Status = structs.DrainStatusComplete
			}
			n.LastDrain = &c
		}
	}
	n.Events = nodeEvent(txn, existing.Events, b.Event)
	if err := txn.UpsertNode(&n); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}

func applyNodeEligibilityUpdate(txn *state.WriteTxn, b *NodeEligibilityUpdate) error {
	switch b.Eligibility {
	case structs.NodeSchedulingEligible, structs.NodeSchedulingIneligible:
	default:
		return fmt.Errorf("invalid scheduling eligibility %q", b.Eligibility)
	}
	existing, err := operatedNode(txn, b.NodeID)
	if err != nil {
		return err
	}
	if b.Eligibility == structs.NodeSchedulingEligible && existing.DrainStrategy != nil {
		return ErrEligibleWhileDraining
	}
	n := *existing
	n.SchedulingEligibility = b.Eligibility
	n.Events = nodeEvent(txn, existing.Events, b.Event)
	if err := txn.UpsertNode(&n); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}

func applyNodePurge(txn *state.WriteTxn, b *NodePurge) error {
	if _, err := operatedNode(txn, b.NodeID); err != nil {
		return err
	}
	if err := txn.DeleteNode(b.NodeID); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}

// nodeEvent returns events with ev added, stamped with the entry's index.
func nodeEvent(txn *state.WriteTxn, events []*structs.NodeEvent, ev *structs.NodeEvent) []*structs.NodeEvent {
	if ev == nil {
		return events
	}
	c := *ev
	c.CreateIndex = txn.Index()
	return structs.AddNodeEvent(events, &c)
}
