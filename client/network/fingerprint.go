package network

import (
	"sort"

	"github.com/containernetworking/cni/libcni"

	"github.com/orch-project/orch/structs"
)

// bridgePlugins are the plugins mode bridge runs.
var bridgePlugins = []string{"bridge", "host-local", "portmap", "firewall", "loopback"}

// Fingerprint lists the group network modes this client can give, as
// node networks (the scheduler places bridge and cni/<name> groups only
// on nodes that have them): "bridge" when every plugin it needs is in
// cni_path, and "cni/<name>" for every configuration in cni_config_dir.
func (m *Manager) Fingerprint() []*structs.NetworkResource {
	if m == nil {
		return nil
	}
	var out []*structs.NetworkResource
	ok := true
	for _, p := range bridgePlugins {
		ok = ok && m.cfg.findPlugin(p)
	}
	if ok {
		out = append(out, &structs.NetworkResource{Mode: ModeBridge, Device: m.cfg.BridgeName, CIDR: m.cfg.BridgeSubnet})
	}
	var names []string
	seen := map[string]bool{}
	for _, name := range confNames(m.cfg.CNIConfigDir) {
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, &structs.NetworkResource{Mode: ModeCNIPrefix + n})
	}
	return out
}

// confNames are the names of the networks in dir that the attach path
// (libcni.LoadNetworkConf) can load: .conflist files, and single plugin
// configurations in .conf and .json files, as in Nomad. Unreadable files
// are left out.
func confNames(dir string) []string {
	var out []string
	lists, _ := libcni.ConfFiles(dir, []string{".conflist"})
	for _, f := range lists {
		if list, err := libcni.ConfListFromFile(f); err == nil {
			out = append(out, list.Name)
		}
	}
	singles, _ := libcni.ConfFiles(dir, []string{".conf", ".json"})
	for _, f := range singles {
		if c, err := libcni.ConfFromFile(f); err == nil && c.Network != nil {
			out = append(out, c.Network.Name)
		}
	}
	return out
}
