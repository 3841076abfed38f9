package server

import (
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// gcDeployments picks the finished deployments older than cut (Unix ns)
// that are not their job's newest.
func gcDeployments(snap *state.Snapshot, cut int64) (*raftfsm.GCDelete, error) {
	out := &raftfsm.GCDelete{}
	deps, err := snap.DeploymentsByIDPrefix(nil, "*", "")
	if err != nil {
		return nil, err
	}
	newest := map[structs.NamespacedID]*structs.Deployment{}
	for _, d := range deps {
		k := structs.NamespacedID{Namespace: d.Namespace, ID: d.JobID}
		if n := newest[k]; n == nil || d.CreateIndex > n.CreateIndex {
			newest[k] = d
		}
	}
	for _, d := range deps {
		if d.Active() || d.ModifyTime >= cut || newest[structs.NamespacedID{Namespace: d.Namespace, ID: d.JobID}] == d {
			continue
		}
		out.DeploymentIDs = append(out.DeploymentIDs, d.ID)
	}
	return out, nil
}
