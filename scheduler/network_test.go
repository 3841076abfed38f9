package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// TestNetworkModeFeasibility: a bridge group is placed only on nodes whose
// client fingerprinted bridge networking, a cni/<name> group only where
// that CNI network is configured; the failure names the missing network.
func TestNetworkModeFeasibility(t *testing.T) {
	h := newHarness(t)
	plain := mkNode(1, "dc1", 4000, 8000)
	bridge := mkNode(2, "dc1", 4000, 8000)
	bridge.NodeResources.Networks = append(bridge.NodeResources.Networks,
		&structs.NetworkResource{Mode: "bridge"}, &structs.NetworkResource{Mode: "cni/mynet"})
	h.upsertNodes(plain, bridge)

	for _, mode := range []string{"bridge", "cni/mynet"} {
		job := mkJob("net-"+mode[:3], structs.JobTypeService, 2)
		job.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: mode}}
		res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
		got := placed(res.Plan)
		if len(got) != 2 {
			t.Fatalf("%s: placed %d", mode, len(got))
		}
		for _, a := range got {
			if a.NodeID != bridge.ID {
				t.Fatalf("%s group placed on %s, which has no such network", mode, a.NodeName)
			}
		}
	}

	job := mkJob("net-other", structs.JobTypeService, 1)
	job.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "cni/other"}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	if n := len(placed(res.Plan)); n != 0 {
		t.Fatalf("cni/other placed %d", n)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.ConstraintFiltered[reasonMissingNetwork+"cni/other"] != 2 {
		t.Fatalf("metric %+v, want the missing network named for both nodes", m)
	}
}
