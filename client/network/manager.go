package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/netns"
	"github.com/orch-project/orch/structs"
)

// Modes of a group network that get their own namespace.
const (
	ModeBridge    = "bridge"
	ModeNone      = "none"
	ModeCNIPrefix = "cni/"
)

// cacheDirName is libcni's result cache inside StateDir.
const cacheDirName = "cni-cache"

// GroupNetwork returns the group's network when it asks for a namespace of
// its own (bridge, none or cni/<name>), nil in host networking.
func GroupNetwork(a *structs.Allocation) *structs.NetworkResource {
	if a == nil || a.Job == nil {
		return nil
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil || len(tg.Networks) == 0 {
		return nil
	}
	nw := tg.Networks[0]
	if nw.Mode == ModeBridge || nw.Mode == ModeNone || strings.HasPrefix(nw.Mode, ModeCNIPrefix) {
		return nw
	}
	return nil
}

// Manager builds and tears down allocations' namespaces.
type Manager struct {
	cfg Config
	// drivers are the client's drivers, for those that must hold the
	// namespace themselves (drivers.NetworkCreator: docker).
	drivers map[string]drivers.Driver
	cni     *libcni.CNIConfig
	logger  *slog.Logger
	// mu serializes this client's CNI operations: the bridge plugin
	// creates the bridge on first use and iptables edits contend anyway.
	mu sync.Mutex
	// forwarding is set once the bridge's forward rule is in place.
	forwarding bool
}

// New checks cfg and prepares its state directory.
func New(cfg Config, logger *slog.Logger) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network: a state dir is required")
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, cacheDirName), 0o700); err != nil {
		return nil, fmt.Errorf("network state dir: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{
		cfg:    cfg,
		cni:    libcni.NewCNIConfigWithCacheDir(cfg.pluginDirs(), filepath.Join(cfg.StateDir, cacheDirName), nil),
		logger: logger,
	}, nil
}

// SetDrivers gives the manager the client's drivers (before any Create).
func (m *Manager) SetDrivers(ds map[string]drivers.Driver) { m.drivers = ds }

// sandboxDriver is the driver that must hold the group's namespace: the
// first task's driver that is a NetworkCreator ("" and nil: none, the
// client makes the namespace).
func (m *Manager) sandboxDriver(a *structs.Allocation) (string, drivers.NetworkCreator) {
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil {
		return "", nil
	}
	for _, t := range tg.Tasks {
		if nc, ok := m.drivers[t.Driver].(drivers.NetworkCreator); ok {
			return t.Driver, nc
		}
	}
	return "", nil
}

// sandboxFile records, in the allocation's network dir, which driver
// holds its namespace, so teardown after an agent restart knows.
const sandboxFile = "sandbox-driver"

// Attachment is what Create built for an allocation.
type Attachment struct {
	// NSPath is the namespace's file, which tasks join.
	NSPath string
	// Address is the allocation's IP inside the namespace ("" when the
	// CNI network gave none).
	Address string
	// ResolvConf is the resolv.conf path given to tasks, "" when the
	// tasks keep the host's.
	ResolvConf string
	DNS        []string
	// Labels are the sandbox driver's facts for the isolation spec.
	Labels map[string]string
}

func (m *Manager) allocDir(allocID string) string { return filepath.Join(m.cfg.StateDir, allocID) }

// NSPath is the file the allocation's namespace is bound at.
func (m *Manager) NSPath(allocID string) string { return filepath.Join(m.allocDir(allocID), "netns") }

// ResolvConfPath is where the allocation's resolv.conf is written.
func (m *Manager) ResolvConfPath(allocID string) string {
	return filepath.Join(m.allocDir(allocID), "resolv.conf")
}

// Create makes the allocation's namespace and attaches it to its network,
// publishing the allocation's ports. On error nothing is left behind.
func (m *Manager) Create(ctx context.Context, a *structs.Allocation, nw *structs.NetworkResource) (*Attachment, error) {
	if strings.ContainsAny(a.ID, "/\x00") || a.ID == "" || a.ID == cacheDirName || a.ID == "." || a.ID == ".." {
		return nil, fmt.Errorf("allocation ID %q cannot name a namespace", a.ID)
	}
	list, err := m.confList(nw.Mode)
	if err != nil {
		return nil, err
	}
	args, err := cniArgs(nw)
	if err != nil {
		return nil, err
	}
	if err := refuseSharedPorts(a); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if nw.Mode == ModeBridge {
		if err := m.ensureForwarding(ctx); err != nil {
			return nil, fmt.Errorf("bridge forwarding rule: %w", err)
		}
	}
	// A namespace left by an attempt that did not finish goes first.
	m.destroyLocked(ctx, a.ID)
	dir := m.allocDir(a.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("network dir: %w", err)
	}
	ns := m.NSPath(a.ID)
	labels, err := m.makeNamespace(ctx, a, ns, nw.Hostname)
	if err != nil {
		m.removeNS(ctx, a.ID)
		return nil, err
	}
	rt := &libcni.RuntimeConf{ContainerID: a.ID, NetNS: ns, IfName: ifName, Args: args,
		CapabilityArgs: map[string]any{"portMappings": portMappings(a)}}
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		m.delEach(ctx, list, rt)
		m.removeNS(ctx, a.ID)
		return nil, fmt.Errorf("attaching the allocation to CNI network %q: %w", list.Name, err)
	}
	att := &Attachment{NSPath: ns, Labels: labels}
	r, err := types100.NewResultFromResult(res)
	if err == nil {
		att.Address = pickAddress(r)
	}
	if err := m.writeDNS(a.ID, nw.DNS, r, att); err != nil {
		m.destroyLocked(ctx, a.ID)
		return nil, err
	}
	return att, nil
}

// makeNamespace makes the namespace at ns: the client's own, or, for a
// group with tasks of a driver that must hold it (docker), the driver's
// sandbox namespace bound there.
func (m *Manager) makeNamespace(ctx context.Context, a *structs.Allocation, ns, hostname string) (map[string]string, error) {
	name, nc := m.sandboxDriver(a)
	if nc == nil {
		if hostname != "" {
			return nil, errors.New("network hostname needs a docker task in the group (only docker sets a namespace's hostname, as in Nomad)")
		}
		return nil, netns.Create(ns)
	}
	if err := os.WriteFile(filepath.Join(m.allocDir(a.ID), sandboxFile), []byte(name), 0o600); err != nil {
		return nil, err
	}
	src, labels, err := nc.CreateNetwork(ctx, a.ID, hostname)
	if err != nil {
		return nil, fmt.Errorf("%s sandbox: %w", name, err)
	}
	return labels, netns.Bind(src, ns)
}

// confList is the CNI configuration of a network mode.
func (m *Manager) confList(mode string) (*libcni.NetworkConfigList, error) {
	if mode == ModeBridge {
		for _, p := range bridgePlugins {
			if !m.cfg.findPlugin(p) {
				return nil, fmt.Errorf("bridge networking needs the CNI plugin %q, not found in cni_path %s (install the CNI reference plugins, e.g. Debian's containernetworking-plugins)",
					p, strings.Join(m.cfg.pluginDirs(), ":"))
			}
		}
		return libcni.NetworkConfFromBytes(m.cfg.bridgeConfList())
	}
	if mode == ModeNone {
		// A namespace with only its loopback interface, up.
		if !m.cfg.findPlugin("loopback") {
			return nil, fmt.Errorf("network mode none needs the CNI plugin \"loopback\", not found in cni_path %s", strings.Join(m.cfg.pluginDirs(), ":"))
		}
		return libcni.NetworkConfFromBytes([]byte(`{"cniVersion": "0.4.0", "name": "orch-none", "plugins": [{"type": "loopback"}]}`))
	}
	name := strings.TrimPrefix(mode, ModeCNIPrefix)
	list, err := libcni.LoadNetworkConf(m.cfg.CNIConfigDir, name)
	if err != nil {
		return nil, fmt.Errorf("CNI network %q in cni_config_dir %s: %w", name, m.cfg.CNIConfigDir, err)
	}
	return list, nil
}

// pickAddress is the first IPv4 address of the result (else the first).
func pickAddress(r *types100.Result) string {
	var first string
	for _, ip := range r.IPs {
		if ip.Address.IP == nil {
			continue
		}
		if ip.Address.IP.To4() != nil {
			return ip.Address.IP.String()
		}
		if first == "" {
			first = ip.Address.IP.String()
		}
	}
	return first
}

// cniArgs turns network { cni { args } } into CNI_ARGS pairs, sorted.
// CNI_ARGS is "K=V;K=V": a key or value with ';' or '=' (or a key with
// nothing) cannot be passed.
func cniArgs(nw *structs.NetworkResource) ([][2]string, error) {
	if nw.CNI == nil || len(nw.CNI.Args) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(nw.CNI.Args))
	for k := range nw.CNI.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		v := nw.CNI.Args[k]
		if k == "" || strings.ContainsAny(k, ";=") || strings.ContainsAny(v, ";") {
			return nil, fmt.Errorf("cni args: %q=%q cannot be passed in CNI_ARGS (no ';' anywhere, no '=' in keys)", k, v)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// refuseSharedPorts refuses a port with ignore_collision (the job
// validation does too; this catches jobs stored before it): portmap
// publishes with a DNAT rule, which would take the host port over from
// the allocation or host service that holds it.
func refuseSharedPorts(a *structs.Allocation) error {
	if a.AllocatedResources == nil {
		return nil
	}
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.IgnoreCollision {
			return fmt.Errorf("port %q has ignore_collision, which a group network namespace cannot honour: its DNAT rule would take host port %d from whoever holds it", p.Label, p.Value)
		}
	}
	return nil
}

// portMapping is one entry of portmap's portMappings capability.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// portMappings publishes every group port, tcp and udp as Nomad does:
// the host port (value) to the port inside the namespace (to).
func portMappings(a *structs.Allocation) []portMapping {
	var out []portMapping
	if a.AllocatedResources == nil {
		return out
	}
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.Value <= 0 {
			continue
		}
		to := p.To
		if to <= 0 {
			to = p.Value
		}
		ip := p.HostIP
		if ip == "0.0.0.0" || ip == "::" {
			ip = ""
		}
		for _, proto := range []string{"tcp", "udp"} {
			out = append(out, portMapping{HostPort: p.Value, ContainerPort: to, Protocol: proto, HostIP: ip})
		}
	}
	return out
}

// Destroy detaches the allocation from its networks (CNI DEL with the
// cached results) and removes its namespace. Missing pieces are not
// errors: it is safe to call for an allocation that has none.
func (m *Manager) Destroy(ctx context.Context, allocID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.destroyLocked(ctx, allocID)
}

func (m *Manager) destroyLocked(ctx context.Context, allocID string) {
	atts, err := m.cni.GetCachedAttachments(allocID)
	if err != nil {
		m.logger.Warn("reading CNI cache", "alloc", allocID, "error", err)
	}
	for _, att := range atts {
		list, err := libcni.NetworkConfFromBytes(att.Config)
		if err != nil {
			m.logger.Warn("cached CNI config unreadable", "alloc", allocID, "network", att.Network, "error", err)
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: att.ContainerID, NetNS: att.NetNS, IfName: att.IfName,
			Args: att.CniArgs, CapabilityArgs: att.CapabilityArgs}
		if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
			m.logger.Warn("CNI DEL failed; deleting plugin by plugin", "alloc", allocID, "network", att.Network, "error", err)
			m.delEach(ctx, list, rt)
		}
	}
	m.removeNS(ctx, allocID)
}

// delEach runs DEL for every plugin of list in reverse order, each on its
// own, so one failing plugin does not leave the others' state behind.
func (m *Manager) delEach(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) {
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		p := list.Plugins[i]
		one := &libcni.NetworkConfigList{Name: list.Name, CNIVersion: list.CNIVersion, Plugins: []*libcni.PluginConfig{p}}
		if err := m.cni.DelNetworkList(ctx, one, rt); err != nil {
			m.logger.Warn("CNI DEL", "alloc", rt.ContainerID, "plugin", p.Network.Type, "error", err)
		}
	}
}

func (m *Manager) removeNS(ctx context.Context, allocID string) {
	if err := netns.Remove(m.NSPath(allocID)); err != nil {
		m.logger.Warn("removing network namespace", "alloc", allocID, "error", err)
	}
	if b, err := os.ReadFile(filepath.Join(m.allocDir(allocID), sandboxFile)); err == nil {
		if nc, ok := m.drivers[string(b)].(drivers.NetworkCreator); ok {
			if err := nc.DestroyNetwork(ctx, allocID); err != nil {
				m.logger.Warn("removing network sandbox", "alloc", allocID, "error", err)
			}
		}
	}
	if err := os.RemoveAll(m.allocDir(allocID)); err != nil {
		m.logger.Warn("removing network dir", "alloc", allocID, "error", err)
	}
}

// Cleanup tears down the namespaces and CNI attachments of allocations not
// in live: those the client forgot while it was down, or whose teardown a
// crash interrupted.
func (m *Manager) Cleanup(ctx context.Context, live map[string]bool) {
	gone := map[string]bool{}
	ents, err := os.ReadDir(m.cfg.StateDir)
	if err != nil {
		m.logger.Warn("reading network state dir", "error", err)
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != cacheDirName && !live[e.Name()] {
			gone[e.Name()] = true
		}
	}
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		m.logger.Warn("reading CNI cache", "error", err)
	}
	for _, att := range atts {
		if !live[att.ContainerID] {
			gone[att.ContainerID] = true
		}
	}
	for id := range gone {
		m.logger.Info("removing the network namespace of an allocation this client no longer runs", "alloc", id)
		m.Destroy(ctx, id)
	}
}

// IPNet reports the bridge subnet (for tests and docs).
func (m *Manager) IPNet() *net.IPNet {
	_, n, _ := net.ParseCIDR(m.cfg.BridgeSubnet)
	return n
}

// ensureForwarding accepts forwarded connections to the bridge subnet that
// portmap DNATed, in the firewall plugin's admin chain: the plugin accepts
// only traffic from an allocation and replies to it, so without this rule
// a connection from outside the node to a mapped port (DNAT to the
// allocation's address) would meet a FORWARD policy of DROP (Docker sets
// one). Nomad's rule accepts any forwarded traffic to the subnet, which
// lets a host that routes the subnet through the node reach every
// allocation's unpublished ports; only DNATed connections are accepted
// here, and that broader rule is removed where an earlier agent added it.
// The rule is the bridge's, not an allocation's: it stays.
func (m *Manager) ensureForwarding(ctx context.Context) error {
	if m.forwarding {
		return nil
	}
	ipt := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if ipt("-t", "filter", "-L", adminChain, "-n") != nil {
		if err := ipt("-t", "filter", "-N", adminChain); err != nil {
			return err
		}
	}
	broad := []string{adminChain, "-o", m.cfg.BridgeName, "-d", m.cfg.BridgeSubnet, "-j", "ACCEPT"}
	for ipt(append([]string{"-t", "filter", "-D"}, broad...)...) == nil {
		// every copy an earlier agent added
	}
	rule := forwardRule(m.cfg.BridgeName, m.cfg.BridgeSubnet)
	if ipt(append([]string{"-t", "filter", "-C"}, rule...)...) != nil {
		if err := ipt(append([]string{"-t", "filter", "-A"}, rule...)...); err != nil {
			return err
		}
	}
	m.forwarding = true
	return nil
}

// forwardRule is the admin chain's rule for the bridge: connections that
// portmap DNATed to an allocation.
func forwardRule(bridge, subnet string) []string {
	return []string{adminChain, "-o", bridge, "-d", subnet, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"}
}
