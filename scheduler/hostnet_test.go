package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func withHostNetwork(n *structs.Node, alias, addr, reserved string) *structs.Node {
	n.NodeResources.NodeNetworks = append(n.NodeResources.NodeNetworks, &structs.NodeNetworkResource{
		Mode: "host", Device: "eth1",
		Addresses: []structs.NodeNetworkAddress{{Family: "ipv4", Alias: alias, Address: addr, ReservedPorts: reserved}},
	})
	return n
}

// A port with host_network is placed only on nodes that have that
// network, and bound on its address there; the network's reserved_ports
// are reserved.
func TestHostNetworkPlacementAndAddress(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), withHostNetwork(mkNode(2, "dc1", 4000, 8000), "public", "192.0.2.2", "9000"))
	job := mkJob("web", structs.JobTypeService, 1)
	job.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "host",
		ReservedPorts: []structs.Port{{Label: "http", Value: 8080, HostNetwork: "public"}, {Label: "plain", Value: 8081}},
		DynamicPorts:  []structs.Port{{Label: "admin", HostNetwork: "public"}},
	}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(2) {
		t.Fatalf("placed %+v, want one on node 2", p)
	}
	ports := p[0].AllocatedResources.Shared.Ports
	if len(ports) != 2 || ports[0].HostIP != "192.0.2.2" || ports[1].HostIP != "10.0.0.3" {
		t.Fatalf("ports %+v: http on the public network's address, plain on the node's", ports)
	}

	// Only node 1 left (node 2's public network reserves the port): nothing fits.
	h2 := newHarness(t)
	h2.upsertNodes(mkNode(1, "dc1", 4000, 8000), withHostNetwork(mkNode(2, "dc1", 4000, 8000), "public", "192.0.2.2", "8080"))
	res = h2.run(h2.upsertJob(job), structs.EvalTriggerJobRegister)
	if len(placed(res.Plan)) != 0 {
		t.Fatalf("placed despite the missing network and the reserved port")
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.ConstraintFiltered[`missing host network "public" for port "http"`] != 1 || m.NodesExhausted != 1 {
		t.Fatalf("metrics %+v", m)
	}
}
