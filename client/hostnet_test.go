package client

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// Host networks are found on the node's real interfaces by name and CIDR;
// one with no matching address is not advertised.
func TestHostNetworksFingerprint(t *testing.T) {
	cfgs := map[string]*structs.ClientHostNetworkConfig{
		"loop":    {Name: "loop", Interface: "lo", CIDR: "127.0.0.0/8", ReservedPorts: "22"},
		"bycidr":  {Name: "bycidr", CIDR: "127.0.0.1/32"},
		"nowhere": {Name: "nowhere", CIDR: "198.51.100.0/24"},
		"noiface": {Name: "noiface", Interface: "no-such-if0"},
	}
	nets := hostNetworks(cfgs, "127.0.0.1")
	node := &structs.Node{NodeResources: &structs.NodeResources{NodeNetworks: nets}}
	for alias, want := range map[string]string{"default": "127.0.0.1", "loop": "127.0.0.1", "bycidr": "127.0.0.1"} {
		if got, ok := node.HostNetworkAddress(alias); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", alias, got, ok, want)
		}
	}
	for _, alias := range []string{"nowhere", "noiface"} {
		if got, ok := node.HostNetworkAddress(alias); ok {
			t.Errorf("%s advertised at %q", alias, got)
		}
	}
	if len(nets) != 1 || nets[0].Device != "lo" || nets[0].Addresses[1].Alias != "bycidr" || nets[0].Addresses[2].ReservedPorts != "22" {
		t.Fatalf("node networks %+v", nets)
	}

	// The client's port allocator binds a port on its host network's address.
	pa := newPortAllocator(31000, 31100, "10.1.1.1", nil, nil)
	pa.hostAddr = node.HostNetworkAddress
	var probed []string
	pa.bindable = func(ip string, _ int) bool { probed = append(probed, ip); return true }
	ps, err := pa.Assign(portsAlloc(nil, "admin"))
	if err != nil || ps[0].HostIP != "10.1.1.1" {
		t.Fatalf("default port %+v %v", ps, err)
	}
	a := portsAlloc(nil)
	a.Job.TaskGroups[0].Networks[0].DynamicPorts = []structs.Port{{Label: "admin", HostNetwork: "loop"}}
	if ps, err := pa.Assign(a); err != nil || ps[0].HostIP != "127.0.0.1" {
		t.Fatalf("host network port %+v %v", ps, err)
	}
	if len(probed) != 2 || probed[0] != "10.1.1.1" || probed[1] != "127.0.0.1" {
		t.Fatalf("ports probed on %v: each on its own network's address", probed)
	}
	b := portsAlloc(nil)
	b.Job.TaskGroups[0].Networks[0].DynamicPorts = []structs.Port{{Label: "admin", HostNetwork: "nowhere"}}
	if _, err := pa.Assign(b); err == nil {
		t.Fatalf("port on a host network the node lacks was assigned")
	}
}

// A host network's reserved_ports are kept off dynamic ports too, as in
// Nomad: the operator reserved them for something else on the node. The
// scheduler keeps static ports off them; dynamic ones are picked here.
func TestHostNetworkReservedPortsNotDynamic(t *testing.T) {
	cfgs := map[string]*structs.ClientHostNetworkConfig{
		"loop": {Name: "loop", Interface: "lo", CIDR: "127.0.0.0/8", ReservedPorts: "31000-31001,31003"},
	}
	node := &structs.Node{NodeResources: &structs.NodeResources{NodeNetworks: hostNetworks(cfgs, "127.0.0.1")}}
	pa := newPortAllocator(31000, 31004, "127.0.0.1", nil, nil)
	pa.hostAddr = node.HostNetworkAddress
	pa.reserve(node.HostNetworkReservedPorts())
	pa.bindable = func(string, int) bool { return true }
	var got []int
	for range 2 {
		a := portsAlloc(nil)
		a.Job.TaskGroups[0].Networks[0].DynamicPorts = []structs.Port{{Label: "admin", HostNetwork: "loop"}}
		ps, err := pa.Assign(a)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ps[0].Value)
	}
	if got[0] != 31002 || got[1] != 31004 {
		t.Fatalf("dynamic ports %v, want [31002 31004]: reserved_ports 31000-31001,31003 handed out", got)
	}
	if _, err := pa.Assign(portsAlloc(nil, "x")); err == nil {
		t.Fatal("a dynamic port was assigned from a range whose free ports are all reserved")
	}
}
