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
	files, _ := libcni.ConfFiles(m.cfg.CNIConfigDir, []string{".conflist"})
	var names []string
	seen := map[string]bool{}
	for _, f := range files {
		list, err := libcni.ConfListFromFile(f)
		if err != nil || list.Name == "" || seen[list.Name] {
			continue
		}
		seen[list.Name] = true
		names = append(names, list.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, &structs.NetworkResource{Mode: ModeCNIPrefix + n})
	}
	return out
}
