package scheduler

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// hostNetworkCheck admits nodes that have every host network the group's
// ports name (client `host_network` blocks fingerprinted into
// NodeResources.NodeNetworks); "default" is every node's own address.
type hostNetworkCheck struct{ ports []structs.Port }

func newHostNetworkCheck(tg *structs.TaskGroup) *hostNetworkCheck {
	var ports []structs.Port
	add := func(nets []*structs.NetworkResource) {
		for _, n := range nets {
			if n == nil {
				continue
			}
			for _, ps := range [][]structs.Port{n.ReservedPorts, n.DynamicPorts} {
				for _, p := range ps {
					if p.HostNetwork != "" && p.HostNetwork != structs.DefaultHostNetwork {
						ports = append(ports, p)
					}
				}
			}
		}
	}
	add(tg.Networks)
	for _, t := range tg.Tasks {
		if t.Resources != nil {
			add(t.Resources.Networks)
		}
	}
	if len(ports) == 0 {
		return nil
	}
	return &hostNetworkCheck{ports: ports}
}

func (*hostNetworkCheck) Name() string { return "HostNetworks" }

func (c *hostNetworkCheck) Feasible(n *structs.Node) (bool, string) {
	for _, p := range c.ports {
		if _, ok := n.HostNetworkAddress(p.HostNetwork); !ok {
			return false, fmt.Sprintf("missing host network %q for port %q", p.HostNetwork, p.Label)
		}
	}
	return true, ""
}
