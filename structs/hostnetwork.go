package structs

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultHostNetwork is the host network a port without host_network uses:
// the node's own address.
const DefaultHostNetwork = "default"

// ClientHostNetworkConfig is a client's host_network block (Nomad's): a
// named network of the node, found by interface and/or CIDR, whose address
// ports with that host_network are bound on.
type ClientHostNetworkConfig struct {
	Name          string `json:"Name"`
	CIDR          string `json:"CIDR"`
	Interface     string `json:"Interface"`
	ReservedPorts string `json:"ReservedPorts"`
}

// NodeNetworkResource is one of a node's network interfaces with the
// addresses the client found on it for its host networks (Nomad's).
type NodeNetworkResource struct {
	Mode      string               `json:"Mode"`
	Device    string               `json:"Device"`
	Addresses []NodeNetworkAddress `json:"Addresses"`
}

// NodeNetworkAddress is an address of a host network (Alias) on a node.
type NodeNetworkAddress struct {
	Family        string `json:"Family"`
	Alias         string `json:"Alias"`
	Address       string `json:"Address"`
	ReservedPorts string `json:"ReservedPorts"`
	Gateway       string `json:"Gateway"`
}

// HostNetworkAddress returns the node's address for a port's host_network
// ("" is the default network, the node's own address); ok is false when
// the node has no such network.
func (n *Node) HostNetworkAddress(alias string) (addr string, ok bool) {
	if alias == "" {
		alias = DefaultHostNetwork
	}
	if r := n.NodeResources; r != nil {
		for _, nn := range r.NodeNetworks {
			if nn == nil {
				continue
			}
			for _, a := range nn.Addresses {
				if a.Alias == alias {
					return a.Address, true
				}
			}
		}
	}
	if alias == DefaultHostNetwork {
		return n.Attributes["unique.network.ip-address"], true
	}
	return "", false
}

// HostNetworkReservedPorts are the ports the node's host networks
// reserve (their reserved_ports, checked when the client started): no
// allocation's port may take them, static (the scheduler) or dynamic (the
// client). Ports are tracked per node, not per address, so they are
// reserved on every address: stricter than needed, never a collision.
func (n *Node) HostNetworkReservedPorts() []int {
	if n.NodeResources == nil {
		return nil
	}
	var out []int
	for _, nn := range n.NodeResources.NodeNetworks {
		if nn == nil {
			continue
		}
		for _, a := range nn.Addresses {
			if a.ReservedPorts == "" {
				continue
			}
			if ps, err := ParsePortList(a.ReservedPorts); err == nil {
				out = append(out, ps...)
			}
		}
	}
	return out
}

// ParsePortList parses a port list as Nomad writes it ("22,80,8000-8010").
func ParsePortList(spec string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 1 || a > 65535 {
			return nil, fmt.Errorf("invalid port %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a || b > 65535 {
				return nil, fmt.Errorf("invalid port range %q", part)
			}
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	return out, nil
}
