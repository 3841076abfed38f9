package raftfsm

import (
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// GCDelete is one batch of the leader's garbage collection. The leader
// chose the objects from a snapshot; anything that changed since is left
// alone, so a collection racing a write never destroys live state:
//   - a job is deleted only if its ModifyIndex is still the one the leader
//     saw (a re-registration, a new eval or a status change moves it);
//   - an eval only if it is terminal, an alloc only if its client is done;
//   - a node only if it is still down with the ModifyIndex the leader saw.
//
// Jobs are deleted first: the leader puts a job in the same or an earlier
// entry than its evals and allocs, so a collection cut short leaves at worst
// leftovers of a purged job, which the next run collects.
type GCDelete struct {
	Jobs     []GCJob  `json:"Jobs"`
	EvalIDs  []string `json:"EvalIDs"`
	AllocIDs []string `json:"AllocIDs"`
	Nodes    []GCNode `json:"Nodes"`
	// DeploymentIDs are finished deployments to collect.
	DeploymentIDs []string `json:"DeploymentIDs,omitempty"`
}

// GCJob names a job to collect and the ModifyIndex it was collected at.
type GCJob struct {
	Namespace   string `json:"Namespace"`
	ID          string `json:"ID"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

// GCNode names a down node to collect and the ModifyIndex it was collected at.
type GCNode struct {
	ID          string `json:"ID"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

// Len is the number of objects the entry names.
func (g *GCDelete) Len() int {
	return len(g.Jobs) + len(g.EvalIDs) + len(g.AllocIDs) + len(g.Nodes) + len(g.DeploymentIDs)
}

func applyGCDelete(txn *state.WriteTxn, b *GCDelete) error {
	r := txn.Reader()
	for _, j := range b.Jobs {
		cur, err := r.JobByID(nil, j.Namespace, j.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.ModifyIndex != j.ModifyIndex {
			continue
		}
		if err := txn.DeleteJob(j.Namespace, j.ID); err != nil {
			return err
		}
	}
	evals := make([]string, 0, len(b.EvalIDs))
	for _, id := range b.EvalIDs {
		e, err := r.EvalByID(nil, id)
		if err != nil {
			return err
		}
		if e != nil && e.Terminal() {
			evals = append(evals, id)
		}
	}
	if err := txn.DeleteEvals(evals); err != nil {
		return err
	}
	allocs := make([]string, 0, len(b.AllocIDs))
	for _, id := range b.AllocIDs {
		a, err := r.AllocByID(nil, id)
		if err != nil {
			return err
		}
		if a != nil && a.ClientTerminalStatus() {
			allocs = append(allocs, id)
		}
	}
	if err := txn.DeleteAllocs(allocs); err != nil {
		return err
	}
	for _, n := range b.Nodes {
		cur, err := r.NodeByID(nil, n.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.ModifyIndex != n.ModifyIndex || cur.Status != structs.NodeStatusDown {
			continue
		}
		if err := txn.DeleteNode(n.ID); err != nil {
			return err
		}
	}
	return gcDeployments(txn, b.DeploymentIDs)
}
