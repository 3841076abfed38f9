// Package client is orch's node agent: it fingerprints the node, registers
// it with the servers, watches the allocations placed on it, runs them
// through task drivers and reports their status back.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/client/artifacts"
	"github.com/orch-project/orch/client/fingerprint"
	"github.com/orch-project/orch/client/network"
	"github.com/orch-project/orch/client/services"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/client/template"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/catalog"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/structs"
)

// Config configures a Client.
type Config struct {
	DataDir    string
	NodeName   string
	Datacenter string
	Region     string
	NodeClass  string
	NodePool   string
	Meta       map[string]string
	// Servers are the servers' RPC addresses ("host" or "host:port",
	// default port 4647), where the control channel runs.
	Servers []string
	// HTTPAddr is this agent's advertised HTTP address; its host is the
	// node's unique.network.ip-address.
	HTTPAddr string
	// Options are client options ("driver.raw_exec.enable", ...).
	Options map[string]string
	// Drivers default to catalog.New with Options.
	Drivers          map[string]drivers.Driver
	Logger           *slog.Logger
	ReservedCPU      int
	ReservedMemoryMB int
	MinDynamicPort   int
	MaxDynamicPort   int
	// HostVolumes are the operator's host_volume blocks, by name, with
	// their paths resolved; fingerprinted into the node.
	HostVolumes map[string]*structs.ClientHostVolumeConfig
	// HostNetworks are the operator's host_network blocks, by name.
	HostNetworks map[string]*structs.ClientHostNetworkConfig
	// Artifacts is the client's artifact block (nil: Nomad's defaults).
	Artifacts *artifacts.Config
	// Network is the client's CNI settings for bridge and cni/* group
	// networks; its StateDir is set to <DataDir>/network.
	Network network.Config
	// RegisterInterval is how often driver health is re-checked (default
	// 30s); the node re-registers when it changed.
	RegisterInterval time.Duration
	// Dialer reaches the servers' RPC ports; TLS plugs in there.
	Dialer *rpcmux.Dialer
	// PeerTLS, when set, is used to reach other agents' HTTPS APIs (a
	// previous allocation's data on another node).
	PeerTLS *tls.Config
	// LocalLeader, set when this agent runs a server too, reports whether
	// that server leads with its state ready, with a channel closed at the
	// next change: a registration that found no leader retries as soon as
	// this one is elected instead of at its next backoff step.
	LocalLeader func() (bool, <-chan struct{})
}

// Client is the node agent.
type Client struct {
	cfg       Config
	logger    *slog.Logger
	db        *state.DB
	allocRoot string
	rpc       *control.Client
	servers   *serverSet
	updater   *updater
	drivers   map[string]drivers.Driver
	nodeID    string
	secret    string
	ports     *portAllocator
	// live tracks contact with the servers: heartbeats, and whether
	// allocations must stop because the node is cut off.
	live *liveness
	// gpus fingerprints NVIDIA GPUs (devices.go).
	gpus *fingerprint.Nvidia
	// network builds allocations' bridge and CNI namespaces.
	network *network.Manager

	mu      sync.RWMutex
	node    *structs.Node
	runners map[string]*allocrunner.AllocRunner
	// seen remembers the server's version of each allocation so that only
	// real changes reach the runners.
	seen map[string]allocVersion

	reregister chan struct{}

	// services registers service instances and runs checks; templates
	// renders template blocks (see native.go).
	services  *services.Manager
	templates *template.Manager
	// migrateSrc fetches previous allocations' data (migrate.go).
	migrateSrc *migrateSource
}

type allocVersion struct {
	allocModify uint64
	jobVersion  uint64
	desired     string
}

// New opens the client's state and fingerprints the node.
func New(cfg Config) (*Client, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("client: data dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Datacenter == "" {
		cfg.Datacenter = "dc1"
	}
	if cfg.Region == "" {
		cfg.Region = structs.DefaultRegion
	}
	if cfg.NodePool == "" {
		cfg.NodePool = structs.DefaultNodePool
	}
	if cfg.MinDynamicPort == 0 {
		cfg.MinDynamicPort = optionInt(cfg.Options, "min_dynamic_port", 20000)
	}
	if cfg.MaxDynamicPort == 0 {
		cfg.MaxDynamicPort = optionInt(cfg.Options, "max_dynamic_port", 32000)
	}
	if cfg.MinDynamicPort < 1 || cfg.MaxDynamicPort > 65535 || cfg.MinDynamicPort > cfg.MaxDynamicPort {
		return nil, fmt.Errorf("client: invalid dynamic port range [%d, %d]", cfg.MinDynamicPort, cfg.MaxDynamicPort)
	}
	if cfg.RegisterInterval <= 0 {
		cfg.RegisterInterval = 30 * time.Second
	}
	c := &Client{
		cfg: cfg, logger: cfg.Logger.With("component", "client"),
		allocRoot: filepath.Join(cfg.DataDir, "alloc"),
		runners:   map[string]*allocrunner.AllocRunner{}, seen: map[string]allocVersion{},
		reregister: make(chan struct{}, 1),
		live:       newLiveness(),
	}
	c.rpc = control.NewClient(control.ClientConfig{
		Credentials: func() control.Credentials { return control.Credentials{NodeID: c.nodeID, Secret: c.secret} },
		Dialer:      cfg.Dialer, Logger: cfg.Logger,
	})
	c.servers = newServerSet(cfg.Servers, c.rpc.SetServers)
	c.migrateSrc = newMigrateSource(c, cfg.PeerTLS)
	c.updater = newUpdater(c.rpc, c.logger)
	c.initNative()
	if err := os.MkdirAll(c.allocRoot, 0o711); err != nil {
		return nil, fmt.Errorf("client: creating alloc dir: %w", err)
	}
	db, err := state.Open(filepath.Join(cfg.DataDir, "client", "state.db"))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.db = db
	id, secret, err := db.NodeIdentity()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("client: reading node identity: %w", err)
	}
	if id == "" || secret == "" {
		// The secret is made and stored before the first registration,
		// so a crash can never leave a registered node whose secret the
		// client no longer has.
		if id == "" {
			id = structs.GenerateUUID()
		}
		secret = structs.GenerateUUID()
		if err := db.PutNodeIdentity(id, secret); err != nil {
			db.Close()
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	c.nodeID, c.secret = id, secret
	c.drivers = cfg.Drivers
	if c.drivers == nil {
		c.drivers = catalog.New(catalog.Config{Options: cfg.Options, Logger: cfg.Logger, DataDir: cfg.DataDir, NodeID: id})
	}
	gpuCfg, err := fingerprint.NvidiaConfigFromOptions(cfg.Options)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("client: plugin nomad-device-nvidia: %w", err)
	}
	c.gpus = fingerprint.NewNvidia(gpuCfg)
	ncfg := cfg.Network
	ncfg.StateDir = filepath.Join(cfg.DataDir, "network")
	if c.network, err = network.New(ncfg, c.logger); err != nil {
		db.Close()
		return nil, fmt.Errorf("client: %w", err)
	}
	c.network.SetDrivers(c.drivers)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.node = c.buildNode(ctx)
	assigned, err := db.Ports()
	if err != nil {
		c.logger.Warn("loading port assignments", "error", err)
	}
	ip := ""
	if nets := c.node.NodeResources.Networks; len(nets) > 0 {
		ip = nets[0].IP
	}
	c.ports = newPortAllocator(cfg.MinDynamicPort, cfg.MaxDynamicPort, ip, db, assigned)
	node := c.node
	c.ports.hostAddr = node.HostNetworkAddress
	c.ports.reserve(node.HostNetworkReservedPorts())
	return c, nil
}

// NodeID returns the node's stable ID.
func (c *Client) NodeID() string { return c.nodeID }

// Node returns a copy of the node as last fingerprinted.
func (c *Client) Node() *structs.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := *c.node
	return &n
}

// Drivers returns the client's drivers by name.
func (c *Client) Drivers() map[string]drivers.Driver { return c.drivers }

// RPC is the control channel to the servers, authenticated as this node:
// client-side features call the servers through it (see "Adding a call"
// in docs/architecture.md).
func (c *Client) RPC() *control.Client { return c.rpc }

// SetServers sets the servers' RPC addresses gossip reports.
func (c *Client) SetServers(addrs []string) { c.servers.setGossiped(addrs) }

// Servers returns the servers' RPC addresses the client knows.
func (c *Client) Servers() []string { return c.servers.all() }

// ServerInfos returns the servers as their last heartbeat reply described
// them (RPC and gossip addresses), for the agent's rejoin loop.
func (c *Client) ServerInfos() []control.ServerInfo { return c.live.serverInfos() }

// AllocDir returns the directory of an allocation this client runs or ran.
func (c *Client) AllocDir(allocID string) (string, bool) {
	c.mu.RLock()
	r, ok := c.runners[allocID]
	c.mu.RUnlock()
	if ok {
		return r.Dir(), true
	}
	if allocID == "" || filepath.Base(allocID) != allocID {
		return "", false
	}
	dir := filepath.Join(c.allocRoot, allocID)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, true
	}
	return "", false
}

// Allocation returns the client's view of a running allocation.
func (c *Client) Allocation(allocID string) (*structs.Allocation, bool) {
	c.mu.RLock()
	r, ok := c.runners[allocID]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return r.Alloc(), true
}

// buildNode fingerprints the host and the drivers.
func (c *Client) buildNode(ctx context.Context) *structs.Node {
	host := ""
	if c.cfg.HTTPAddr != "" {
		if h, _, err := net.SplitHostPort(c.cfg.HTTPAddr); err == nil {
			host = h
		} else {
			host = c.cfg.HTTPAddr
		}
	}
	fp := fingerprint.Host(c.cfg.DataDir, host)
	attrs := fp.Attributes
	infos := c.fingerprintDrivers(ctx)
	for name, info := range infos {
		for k, v := range info.Attributes {
			attrs[k] = v
		}
		if info.Detected {
			attrs["driver."+name] = "1"
		}
	}
	name := c.cfg.NodeName
	if name == "" {
		name = attrs["unique.hostname"]
	}
	httpAddr := c.cfg.HTTPAddr
	if httpAddr == "" {
		httpAddr = net.JoinHostPort(fp.IP, "4646")
	}
	bits := 32
	if ip := net.ParseIP(fp.IP); ip != nil && ip.To4() == nil {
		bits = 128
	}
	return &structs.Node{
		ID: c.nodeID, Name: name, Datacenter: c.cfg.Datacenter, HTTPAddr: httpAddr, TLSEnabled: c.cfg.PeerTLS != nil,
		Attributes: attrs, Meta: copyMap(c.cfg.Meta), NodeClass: c.cfg.NodeClass, NodePool: c.cfg.NodePool,
		NodeResources: &structs.NodeResources{
			Cpu: structs.NodeCpuResources{
				CpuShares: fp.TotalMHz, TotalCpuCores: uint16(fp.CPUCores), ReservableCpuCores: fp.Cores,
			},
			Memory: structs.NodeMemoryResources{MemoryMB: fp.MemoryMB},
			Disk:   structs.NodeDiskResources{DiskMB: fp.DiskMB},
			// The host network first (its IP is the node's); then the
			// bridge and CNI networks groups can ask for.
			Networks: append([]*structs.NetworkResource{{
				Mode: "host", IP: fp.IP, CIDR: fp.IP + "/" + fmt.Sprint(bits), MBits: 1000,
			}}, c.network.Fingerprint()...),
			NodeNetworks:   hostNetworks(c.cfg.HostNetworks, fp.IP),
			Devices:        c.gpus.Devices(ctx),
			MinDynamicPort: c.cfg.MinDynamicPort, MaxDynamicPort: c.cfg.MaxDynamicPort,
		},
		ReservedResources: &structs.NodeReservedResources{
			Cpu:    structs.NodeReservedCpuResources{CpuShares: uint64(max(c.cfg.ReservedCPU, 0))},
			Memory: structs.NodeReservedMemoryResources{MemoryMB: uint64(max(c.cfg.ReservedMemoryMB, 0))},
		},
		SchedulingEligibility: structs.NodeSchedulingEligible,
		Status:                structs.NodeStatusReady,
		StatusUpdatedAt:       time.Now().Unix(),
		Drivers:               infos,
		HostVolumes:           copyHostVolumes(c.cfg.HostVolumes),
		HostNetworks:          copyHostNetworks(c.cfg.HostNetworks),
	}
}

func (c *Client) fingerprintDrivers(ctx context.Context) map[string]*structs.DriverInfo {
	out := make(map[string]*structs.DriverInfo, len(c.drivers))
	for name, d := range c.drivers {
		info := d.Fingerprint(ctx)
		if info == nil {
			info = &structs.DriverInfo{HealthDescription: "no fingerprint"}
		}
		out[name] = info
	}
	return out
}

// optionInt reads an integer client option, def when absent or malformed.
func optionInt(opts map[string]string, key string, def int) int {
	v, ok := opts[key]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return def
	}
	return n
}

func copyHostVolumes(m map[string]*structs.ClientHostVolumeConfig) map[string]*structs.ClientHostVolumeConfig {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*structs.ClientHostVolumeConfig, len(m))
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *Client) nodeInfo() taskenv.NodeInfo {
	return taskenv.NodeInfo{Node: c.Node(), Region: c.cfg.Region}
}
