// Package network gives an allocation its own network namespace when its
// group asks for `network { mode = "bridge" }` or `mode = "cni/<name>"`:
// the namespace is made by the client (internal/netns), wired with CNI
// (libcni driving the standard plugins: bridge, host-local, portmap,
// firewall, loopback) and shared by every task of the group, which the
// drivers join by path (drivers.NetworkIsolationSpec). Group ports are
// published on the host through portmap (host port -> `to` inside the
// namespace) and `dns {}` becomes the allocation's resolv.conf.
//
// Teardown is CNI DEL with the result libcni cached at ADD (so the veth,
// the IP lease and every iptables rule the plugins added go), then the
// namespace is unbound. It runs when the allocation's tasks are dead for
// good, and at client start for namespaces of allocations the client no
// longer has (Cleanup).
package network

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Nomad's defaults, with orch's bridge name.
const (
	DefaultCNIPath      = "/opt/cni/bin"
	DefaultCNIConfigDir = "/opt/cni/config"
	DefaultBridgeName   = "orch0"
	DefaultBridgeSubnet = "172.26.64.0/20"
	// debianCNIPath is where Debian's containernetworking-plugins
	// installs the plugins; the default cni_path also searches it.
	debianCNIPath = "/usr/lib/cni"
	// bridgeNetworkName is the CNI network name of the bridge
	// configuration (host-local keeps its leases under it).
	bridgeNetworkName = "orch"
	// ifName is the allocation's interface inside its namespace.
	ifName = "eth0"
	// adminChain is the firewall plugin's chain for operator rules.
	adminChain = "ORCH-ADMIN"
)

// Config is the client's CNI settings (client { cni_path cni_config_dir
// bridge_network_name bridge_network_subnet }).
type Config struct {
	// CNIPath is a colon-separated list of directories holding the
	// plugins; empty means DefaultCNIPath and Debian's /usr/lib/cni.
	CNIPath string
	// CNIConfigDir holds operator configurations for mode = "cni/<name>".
	CNIConfigDir string
	BridgeName   string
	BridgeSubnet string
	// StateDir holds one directory per allocation (its namespace file
	// and resolv.conf) and libcni's result cache; it must be private to
	// the client (<data_dir>/network).
	StateDir string
}

// withDefaults fills unset settings with Nomad's defaults.
func (c Config) withDefaults() Config {
	if c.CNIConfigDir == "" {
		c.CNIConfigDir = DefaultCNIConfigDir
	}
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName
	}
	if c.BridgeSubnet == "" {
		c.BridgeSubnet = DefaultBridgeSubnet
	}
	return c
}

// Validate checks the settings an operator wrote.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.ParseCIDR(c.BridgeSubnet); err != nil {
		return fmt.Errorf("bridge_network_subnet %q: %w", c.BridgeSubnet, err)
	}
	// An interface name is at most 15 bytes (IFNAMSIZ - 1), no '/' or
	// whitespace.
	if n := c.BridgeName; len(n) > 15 || strings.ContainsAny(n, "/ \t\n:") {
		return fmt.Errorf("bridge_network_name %q is not a valid interface name", n)
	}
	for _, d := range c.pluginDirs() {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("cni_path: %q is not an absolute path", d)
		}
	}
	if !filepath.IsAbs(c.CNIConfigDir) {
		return fmt.Errorf("cni_config_dir: %q is not an absolute path", c.CNIConfigDir)
	}
	return nil
}

// pluginDirs are the directories searched for plugins, in order.
func (c Config) pluginDirs() []string {
	if c.CNIPath == "" {
		return []string{DefaultCNIPath, debianCNIPath}
	}
	var out []string
	for _, d := range strings.Split(c.CNIPath, ":") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// findPlugin reports whether a plugin binary exists in the plugin dirs.
func (c Config) findPlugin(name string) bool {
	for _, d := range c.pluginDirs() {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// bridgeConfList is the CNI configuration of mode = "bridge", as Nomad's:
// loopback up, a veth on the bridge with an address from host-local (the
// bridge is the gateway, traffic leaving the subnet is masqueraded), the
// firewall plugin's forward rules, and portmap for the group's ports
// (snat so hairpin and localhost connections work).
func (c Config) bridgeConfList() []byte {
	return fmt.Appendf(nil, `{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [
    {"type": "loopback"},
    {
      "type": "bridge",
      "bridge": %q,
      "ipMasq": true,
      "isGateway": true,
      "forceAddress": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "firewall", "backend": "iptables", "iptablesAdminChainName": %q},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}`, bridgeNetworkName, c.BridgeName, c.BridgeSubnet, adminChain)
}
