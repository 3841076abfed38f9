package client

import (
	"net"
	"slices"

	"github.com/orch-project/orch/structs"
)

// hostNetworks fingerprints the client's host_network blocks: for each,
// the first address of a matching interface (the named one, or any) that
// lies in its CIDR (any, without one). The node's own address is the
// "default" network. A host network with no address on this node is left
// out, so the scheduler places nothing that asks for it here.
func hostNetworks(cfgs map[string]*structs.ClientHostNetworkConfig, defaultIP string) []*structs.NodeNetworkResource {
	ifaces, _ := net.Interfaces()
	byDev := map[string]*structs.NodeNetworkResource{}
	var order []string
	add := func(dev string, a structs.NodeNetworkAddress) {
		nn := byDev[dev]
		if nn == nil {
			nn = &structs.NodeNetworkResource{Mode: "host", Device: dev}
			byDev[dev] = nn
			order = append(order, dev)
		}
		nn.Addresses = append(nn.Addresses, a)
	}
	names := make([]string, 0, len(cfgs))
	for n := range cfgs {
		names = append(names, n)
	}
	slices.Sort(names)
	defaultDone := false
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if !defaultDone && ipn.IP.String() == defaultIP {
				defaultDone = true
				add(ifc.Name, nodeAddr(structs.DefaultHostNetwork, ipn.IP, ""))
			}
		}
	}
	if !defaultDone && defaultIP != "" {
		add("", nodeAddr(structs.DefaultHostNetwork, net.ParseIP(defaultIP), ""))
	}
	for _, name := range names {
		if dev, ip := findHostNetwork(cfgs[name], ifaces); ip != nil {
			add(dev, nodeAddr(name, ip, cfgs[name].ReservedPorts))
		}
	}
	out := make([]*structs.NodeNetworkResource, 0, len(order))
	for _, d := range order {
		out = append(out, byDev[d])
	}
	return out
}

func findHostNetwork(cfg *structs.ClientHostNetworkConfig, ifaces []net.Interface) (string, net.IP) {
	var cidr *net.IPNet
	if cfg.CIDR != "" {
		if _, n, err := net.ParseCIDR(cfg.CIDR); err == nil {
			cidr = n
		}
	}
	for _, ifc := range ifaces {
		if cfg.Interface != "" && ifc.Name != cfg.Interface {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || (cidr != nil && !cidr.Contains(ipn.IP)) {
				continue
			}
			return ifc.Name, ipn.IP
		}
	}
	return "", nil
}

func nodeAddr(alias string, ip net.IP, reserved string) structs.NodeNetworkAddress {
	fam := "ipv4"
	if ip.To4() == nil {
		fam = "ipv6"
	}
	return structs.NodeNetworkAddress{Family: fam, Alias: alias, Address: ip.String(), ReservedPorts: reserved}
}

func copyHostNetworks(m map[string]*structs.ClientHostNetworkConfig) map[string]*structs.ClientHostNetworkConfig {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*structs.ClientHostNetworkConfig, len(m))
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}
