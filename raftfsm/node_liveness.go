package raftfsm

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// NodeClientRegister registers a node or refreshes the fields its client
// owns (structs.Node.WithClientFields); every server-owned field of a known
// node is kept as it is when the entry applies, so a registration racing an
// operator's drain never undoes it. A known node's stored secret must
// match: checked here too, so two registrations racing through the leader
// cannot both win.
//
// When the node is new, comes back ready, or changed what the scheduler
// reads, the FSM evaluates, in the same transaction, the jobs with work on
// it and every system job (which may now place there).
type NodeClientRegister struct {
	Node *structs.Node `json:"Node"`
	// Status, when set, becomes the node's status: a new node, or one
	// coming back from down or disconnected.
	Status string `json:"Status"`
	Time   int64  `json:"Time"`
}

// NodeStatusChange moves a node between ready, disconnected and down, as
// the leader's heartbeat timers decide. Going disconnected or down, each
// allocation the client has not finished is marked per its group's
// disconnect policy: unknown if the group tolerates a disconnection, lost
// otherwise (and every allocation not kept unknown forever is lost when the
// node goes down). The leader commits "disconnected" again whenever an
// unknown allocation's lost_after runs out: that one is marked lost. Coming back ready changes no allocation: the client
// reports what still runs. Either way the FSM evaluates the node's jobs
// (and, back ready, the system jobs) in the same transaction, so an
// allocation placed between the leader's decision and the commit is not
// missed.
type NodeStatusChange struct {
	NodeID      string `json:"NodeID"`
	Status      string `json:"Status"`
	Description string `json:"Description"`
	Time        int64  `json:"Time"`
}

// errSecretMismatch rejects a registration of a known node without its secret.
var errSecretMismatch = errors.New("node secret does not match the registered node's")

func applyNodeClientRegister(txn *state.WriteTxn, b *NodeClientRegister) error {
	if b.Node == nil || b.Node.ID == "" || b.Node.SecretID == "" {
		return errors.New("missing node, node ID or node secret")
	}
	existing, err := txn.Reader().NodeByID(nil, b.Node.ID)
	if err != nil {
		return err
	}
	var n *structs.Node
	if existing != nil {
		if existing.SecretID != "" && subtle.ConstantTimeCompare([]byte(existing.SecretID), []byte(b.Node.SecretID)) != 1 {
			return errSecretMismatch
		}
		n = existing.WithClientFields(b.Node)
		n.SecretID = b.Node.SecretID
	} else {
		c := *b.Node
		c.Drain = false
		c.SchedulingEligibility = structs.NodeSchedulingEligible
		c.Status = structs.NodeStatusReady
		c.StatusDescription = ""
		c.Events = []*structs.NodeEvent{{Message: "Node registered", Subsystem: "Cluster", Timestamp: time.Unix(0, b.Time).UTC()}}
		c.StatusUpdatedAt = b.Time / 1e9
		n = &c
	}
	if b.Status != "" && b.Status != n.Status {
		n.Status = b.Status
		n.StatusDescription = ""
		n.StatusUpdatedAt = b.Time / 1e9
	}
	if err := txn.UpsertNode(n); err != nil {
		return err
	}
	if existing == nil || existing.Status != n.Status || state.NodeCapacityChanged(existing, n) {
		return nodeEvals(txn, n.ID, true, "node-register", b.Time)
	}
	return nil
}

func applyNodeStatusChange(txn *state.WriteTxn, b *NodeStatusChange) error {
	switch b.Status {
	case structs.NodeStatusReady, structs.NodeStatusDisconnected, structs.NodeStatusDown:
	default:
		return fmt.Errorf("invalid node status %q", b.Status)
	}
	if b.NodeID == "" {
		return errors.New("missing node ID")
	}
	existing, err := txn.Reader().NodeByID(nil, b.NodeID)
	if err != nil {
		return err
	}
	if existing == nil {
		return fmt.Errorf("node %s: %w", b.NodeID, state.ErrNotFound)
	}
	n := *existing
	n.Status, n.StatusDescription, n.StatusUpdatedAt = b.Status, b.Description, b.Time/1e9
	if err := txn.UpsertNode(&n); err != nil {
		return err
	}
	if b.Status != structs.NodeStatusReady {
		if err := markNodeAllocs(txn, b.NodeID, b.Status, b.Time); err != nil {
			return err
		}
	}
	return nodeEvals(txn, b.NodeID, b.Status == structs.NodeStatusReady, "node-"+b.Status, b.Time)
}

// Descriptions of allocations whose node stopped heartbeating.
const (
	descAllocUnknown = "alloc is unknown since its node is disconnected"
	descAllocLost    = "alloc is lost since its node is down"
)

// markNodeAllocs marks the allocations of a node that went disconnected or
// down, per their groups' disconnect policies.
func markNodeAllocs(txn *state.WriteTxn, nodeID, status string, now int64) error {
	allocs, err := txn.Reader().AllocsByNode(nil, nodeID)
	if err != nil {
		return err
	}
	var unknown, lost []string
	for _, a := range allocs {
		if a.ClientTerminalStatus() {
			continue
		}
		p := structs.AllocDisconnectPolicy(a)
		// An allocation already unknown keeps that status until its own
		// lost_after, counted from when it went unknown, runs out.
		inWindow := p.LostAfter > 0 && (a.ClientStatus != structs.AllocClientStatusUnknown ||
			now < a.UnknownSince().UnixNano()+int64(p.LostAfter))
		keep := p.NeverLost || (status == structs.NodeStatusDisconnected && inWindow)
		switch {
		case keep && a.ClientStatus != structs.AllocClientStatusUnknown:
			unknown = append(unknown, a.ID)
		case !keep:
			lost = append(lost, a.ID)
		}
	}
	if err := txn.SetServerClientStatus(unknown, structs.AllocClientStatusUnknown, descAllocUnknown, now); err != nil {
		return err
	}
	return txn.SetServerClientStatus(lost, structs.AllocClientStatusLost, descAllocLost, now)
}

// nodeEvals creates one evaluation per job with an allocation on the node
// that the scheduler wants running, plus, withSystem, one per live system
// or sysbatch job. IDs derive from the entry's index, so every replica
// creates the same evals.
func nodeEvals(txn *state.WriteTxn, nodeID string, withSystem bool, kind string, now int64) error {
	evals, err := NodeEvals(txn.Reader(), nodeID, withSystem, func(ns, job string) string {
		return DerivedID(txn.Index(), kind, nodeID, ns, job)
	}, now)
	if err != nil {
		return err
	}
	return txn.UpsertEvals(evals)
}

// NodeEvals builds, from r, one evaluation per job with an allocation on
// the node that the scheduler wants running, plus, withSystem, one per live
// system or sysbatch job; newID names each. The FSM derives IDs from the
// entry's index; a leader building evals for an entry draws random ones.
func NodeEvals(r *state.Snapshot, nodeID string, withSystem bool, newID func(ns, job string) string, now int64) ([]*structs.Evaluation, error) {
	seen := map[structs.NamespacedID]bool{}
	var evals []*structs.Evaluation
	add := func(j *structs.Job) {
		key := structs.NamespacedID{Namespace: j.Namespace, ID: j.ID}
		if seen[key] {
			return
		}
		seen[key] = true
		evals = append(evals, &structs.Evaluation{
			ID:        newID(j.Namespace, j.ID),
			Namespace: j.Namespace, Priority: j.Priority, Type: j.Type,
			TriggeredBy: structs.EvalTriggerNodeUpdate, JobID: j.ID, NodeID: nodeID,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		})
	}
	allocs, err := r.AllocsByNode(nil, nodeID)
	if err != nil {
		return nil, err
	}
	for _, a := range allocs {
		if a.DesiredStatus != structs.AllocDesiredStatusRun || a.Job == nil {
			continue
		}
		// The current job, when it still exists, has the priority and
		// type the scheduler should use.
		j := a.Job
		if cur, err := r.JobByID(nil, a.Namespace, a.JobID); err == nil && cur != nil {
			j = cur
		}
		add(j)
	}
	if withSystem {
		jobs, err := r.JobsByIDPrefix(nil, "*", "")
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if (j.Type == structs.JobTypeSystem || j.Type == structs.JobTypeSysBatch) && !j.Stop {
				add(j)
			}
		}
	}
	return evals, nil
}
