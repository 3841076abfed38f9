// Package agent assembles an orch agent from its parts: the gossip pool,
// a server, a client and the HTTP API, per the agent configuration.
package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/orch-project/orch/client/artifacts"
	"github.com/orch-project/orch/client/network"
	"github.com/orch-project/orch/structs"
	"github.com/orch-project/orch/tlsutil"
)

// Default ports, as Nomad's.
const (
	DefaultHTTPPort = 4646
	DefaultRPCPort  = 4647
	DefaultSerfPort = 4648
)

// Config is an agent's configuration, from flags and HCL files.
type Config struct {
	Dev             bool
	Server          bool
	Client          bool
	BootstrapExpect int
	DataDir         string
	BindAddr        string
	Region          string
	Datacenter      string
	NodeName        string
	HTTPPort        int
	RPCPort         int
	SerfPort        int
	// Join lists gossip addresses ("host" or "host:4648") the agent joins,
	// and rejoins when it loses them (server { server_join { retry_join } }).
	Join []string
	// Servers lists the servers' RPC addresses ("host" or "host:4647") a
	// client calls over the control channel (client { servers } and client
	// { server_join { retry_join } }); it learns the others from them.
	Servers []string
	// RetryInterval is how often the rejoin loop checks membership and
	// retries joins (server_join's retry_interval, default 30s); RetryMax
	// bounds consecutive failed attempts (0, the default: never give up).
	RetryInterval time.Duration
	RetryMax      int
	// Heartbeat tuning of servers (server { min_heartbeat_ttl,
	// max_heartbeats_per_second, heartbeat_grace, failover_heartbeat_ttl }).
	MinHeartbeatTTL        time.Duration
	MaxHeartbeatsPerSecond float64
	HeartbeatGrace         time.Duration
	FailoverHeartbeatTTL   time.Duration
	// Raft timings (server { raft_multiplier raft_heartbeat_timeout }); see
	// server.Config.
	RaftMultiplier       int
	RaftHeartbeatTimeout time.Duration

	NodeClass string
	NodePool  string
	Meta      map[string]string
	Options   map[string]string
	// Plugins holds each driver's `plugin "<name>" { config { ... } }`.
	Plugins  map[string]map[string]any
	LogLevel string
	// NumSchedulers is the number of scheduler workers on a server: 0 (not
	// set) means one per CPU; num_schedulers = 0 in the file means none,
	// as in Nomad (stored as -1, the server's "no workers").
	NumSchedulers int
	// JobMaxCount bounds every group's count (server { job_max_count });
	// 0 means the server's default.
	JobMaxCount int
	// ACL is the acl block (config_acl.go).
	ACL ACLConfig
	// TLS is the tls block (config_tls.go); Region is filled in at start.
	TLS tlsutil.Config
	// Autopilot is the autopilot block (config_autopilot.go); nil means
	// Nomad's defaults.
	Autopilot *structs.AutopilotConfig
	// Encrypt is the gossip encryption key (server { encrypt }, -encrypt).
	// In orch every agent gossips, so client-only agents need it too.
	Encrypt string
	// OIDCIssuer is server { oidc_issuer }: the iss of workload identities
	// and the issuer of /.well-known/openid-configuration.
	OIDCIssuer string
	// AdvertiseHTTP is the address other agents and clients reach this
	// agent's HTTP API at (advertise { http }); empty: the bind address.
	AdvertiseHTTP string
	// HTTPAllowedHosts and HTTPAllowedOrigins are http_api { allowed_hosts
	// allowed_origins } (httpapi.Guard); HTTPMaxConnsPerClient is limits {
	// http_max_conns_per_client } (0: unlimited).
	HTTPAllowedHosts      []string
	HTTPAllowedOrigins    []string
	HTTPMaxConnsPerClient int
	// HostVolumes are the client's host_volume blocks, by name, with
	// their paths resolved (config_taskworld.go).
	HostVolumes map[string]*structs.ClientHostVolumeConfig
	// HostNetworks are the client's host_network blocks, by name.
	HostNetworks map[string]*structs.ClientHostNetworkConfig
	// Artifacts is the client's artifact block (nil: defaults).
	Artifacts *artifacts.Config
	// Network is the client's CNI settings (cni_path, cni_config_dir,
	// bridge_network_name, bridge_network_subnet).
	Network network.Config
	// Warnings name the Nomad settings of the loaded files that orch
	// accepts without acting on them (config_nomad.go), with positions.
	Warnings        []string
	advertiseChecks []advertiseCheck
}

// DefaultConfig returns the settings used when nothing says otherwise.
func DefaultConfig() *Config {
	return &Config{
		BindAddr:   "0.0.0.0",
		Region:     "global",
		Datacenter: "dc1",
		HTTPPort:   DefaultHTTPPort,
		RPCPort:    DefaultRPCPort,
		SerfPort:   DefaultSerfPort,
		Meta:       map[string]string{},
		Options:    map[string]string{},
		Plugins:    map[string]map[string]any{},

		HTTPMaxConnsPerClient: DefaultHTTPMaxConnsPerClient,
		LogLevel:              "INFO",
	}
}

// RawExecEnabled reports whether the raw_exec driver is on: always in dev
// mode, otherwise only when the configuration enables it, since it runs
// tasks with the agent's privileges.
func (c *Config) RawExecEnabled() bool {
	if c.Dev {
		return true
	}
	if v, ok := c.Plugins["raw_exec"]["enabled"].(bool); ok && v {
		return true
	}
	switch c.Options["driver.raw_exec.enable"] {
	case "1", "true":
		return true
	}
	return false
}

// fileConfig mirrors the subset of Nomad's agent configuration orch reads.
type fileConfig struct {
	DataDir    *string         `hcl:"data_dir"`
	BindAddr   *string         `hcl:"bind_addr"`
	Region     *string         `hcl:"region"`
	Datacenter *string         `hcl:"datacenter"`
	Name       *string         `hcl:"name"`
	LogLevel   *string         `hcl:"log_level"`
	Ports      *portsBlock     `hcl:"ports,block"`
	Server     *serverBlock    `hcl:"server,block"`
	Client     *clientBlock    `hcl:"client,block"`
	Plugins    []*pluginBlock  `hcl:"plugin,block"`
	ACL        *aclBlock       `hcl:"acl,block"`
	TLS        *tlsBlock       `hcl:"tls,block"`
	HTTPAPI    *httpAPIBlock   `hcl:"http_api,block"`
	Limits     *limitsBlock    `hcl:"limits,block"`
	Autopilot  *autopilotBlock `hcl:"autopilot,block"`

	// Nomad settings orch accepts without acting on them, or refuses with
	// their position when they ask for more (config_nomad.go).
	DisableUpdateCheck *bool           `hcl:"disable_update_check"`
	LeaveOnInterrupt   *bool           `hcl:"leave_on_interrupt"`
	LeaveOnTerminate   *bool           `hcl:"leave_on_terminate"`
	Vault              *vaultBlock     `hcl:"vault,block"`
	Consul             *consulBlock    `hcl:"consul,block"`
	Telemetry          *anyBlock       `hcl:"telemetry,block"`
	Advertise          *advertiseBlock `hcl:"advertise,block"`
}

type portsBlock struct {
	HTTP *int `hcl:"http"`
	RPC  *int `hcl:"rpc"`
	Serf *int `hcl:"serf"`
}

type serverBlock struct {
	Enabled                *bool      `hcl:"enabled"`
	BootstrapExpect        *int       `hcl:"bootstrap_expect"`
	NumSchedulers          *int       `hcl:"num_schedulers"`
	JobMaxCount            *int       `hcl:"job_max_count"`
	ServerJoin             *joinBlock `hcl:"server_join,block"`
	MinHeartbeatTTL        *string    `hcl:"min_heartbeat_ttl"`
	MaxHeartbeatsPerSecond *float64   `hcl:"max_heartbeats_per_second"`
	HeartbeatGrace         *string    `hcl:"heartbeat_grace"`
	FailoverHeartbeatTTL   *string    `hcl:"failover_heartbeat_ttl"`
	Encrypt                *string    `hcl:"encrypt"`
	OIDCIssuer             *string    `hcl:"oidc_issuer"`
	RaftProtocol           *int       `hcl:"raft_protocol"`
	RaftMultiplier         *int       `hcl:"raft_multiplier"`
	// RaftHeartbeatTimeout is orch's own: Nomad's timings stop at
	// raft_multiplier = 1 (1 s), too slow for sub-second failover on a LAN.
	RaftHeartbeatTimeout *string `hcl:"raft_heartbeat_timeout"`
}

type joinBlock struct {
	RetryJoin     []string `hcl:"retry_join,optional"`
	RetryInterval *string  `hcl:"retry_interval"`
	RetryMax      *int     `hcl:"retry_max"`
}

type clientBlock struct {
	Enabled    *bool             `hcl:"enabled"`
	Servers    []string          `hcl:"servers,optional"`
	ServerJoin *joinBlock        `hcl:"server_join,block"`
	NodeClass  *string           `hcl:"node_class"`
	NodePool   *string           `hcl:"node_pool"`
	Meta       map[string]string `hcl:"meta,optional"`
	Options    map[string]string `hcl:"options,optional"`

	// The task's world (config_taskworld.go).
	HostVolumes  []*hostVolumeBlock  `hcl:"host_volume,block"`
	HostNetworks []*hostNetworkBlock `hcl:"host_network,block"`
	Artifact     *artifactBlock      `hcl:"artifact,block"`

	// Bridge and CNI networking (client/network).
	CNIPath             *string `hcl:"cni_path"`
	CNIConfigDir        *string `hcl:"cni_config_dir"`
	BridgeNetworkName   *string `hcl:"bridge_network_name"`
	BridgeNetworkSubnet *string `hcl:"bridge_network_subnet"`
}

type pluginBlock struct {
	Name   string        `hcl:"name,label"`
	Config *pluginConfig `hcl:"config,block"`
}

type pluginConfig struct {
	Body hcl.Body `hcl:",remain"`
}

// LoadFile merges an agent configuration into c: a file, HCL or JSON
// whatever its name (as in Nomad, the content decides), or a directory,
// whose *.hcl and *.json files are merged in lexical order. Later settings
// override earlier ones; lists (servers, retry_join) and maps (meta,
// options) accumulate. Settings orch does not have are errors with their
// position (the decoder rejects unknown arguments and blocks at every
// level), except the Nomad settings in config_nomad.go that ask for
// nothing orch lacks: those are accepted and named in c.Warnings.
func (c *Config) LoadFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading agent config: %w", err)
	}
	if !st.IsDir() {
		return c.loadOne(path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("reading agent config dir: %w", err)
	}
	for _, e := range ents { // ReadDir sorts by name
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".hcl") || strings.HasSuffix(n, ".json")) {
			continue
		}
		if err := c.loadOne(filepath.Join(path, n)); err != nil {
			return err
		}
	}
	return nil
}

// isJSONConfig tells JSON from HCL by content: a JSON document is an
// object, and HCL's top level cannot start with "{".
func isJSONConfig(src []byte) bool {
	trimmed := bytes.TrimLeft(src, " \t\r\n\ufeff")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

func (c *Config) loadOne(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading agent config: %w", err)
	}
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if isJSONConfig(src) {
		f, diags = p.ParseJSON(src, path)
	} else {
		f, diags = p.ParseHCL(src, path)
	}
	if diags.HasErrors() {
		return fmt.Errorf("parsing agent config: %s", diags.Error())
	}
	var fc fileConfig
	if diags := gohcl.DecodeBody(f.Body, nil, &fc); diags.HasErrors() {
		return fmt.Errorf("decoding agent config: %s", diags.Error())
	}
	if err := c.applyNomadOnly(f.Body, &fc); err != nil {
		return err
	}
	setStr(&c.DataDir, fc.DataDir)
	if fc.BindAddr != nil {
		addr, err := resolveAddr(*fc.BindAddr)
		if err != nil {
			return fmt.Errorf("%s: bind_addr: %w", path, err)
		}
		c.BindAddr = addr
	}
	setStr(&c.Region, fc.Region)
	setStr(&c.Datacenter, fc.Datacenter)
	setStr(&c.NodeName, fc.Name)
	setStr(&c.LogLevel, fc.LogLevel)
	if p := fc.Ports; p != nil {
		setInt(&c.HTTPPort, p.HTTP)
		setInt(&c.RPCPort, p.RPC)
		setInt(&c.SerfPort, p.Serf)
	}
	if s := fc.Server; s != nil {
		if s.Enabled != nil {
			c.Server = *s.Enabled
		}
		setInt(&c.BootstrapExpect, s.BootstrapExpect)
		setInt(&c.NumSchedulers, s.NumSchedulers)
		if s.NumSchedulers != nil && *s.NumSchedulers == 0 {
			c.NumSchedulers = -1
		} else if s.NumSchedulers != nil && *s.NumSchedulers < 0 {
			return fmt.Errorf("%s: server.num_schedulers must not be negative", path)
		}
		setInt(&c.JobMaxCount, s.JobMaxCount)
		if c.JobMaxCount < 0 {
			return fmt.Errorf("%s: server job_max_count must not be negative", path)
		}
		if s.ServerJoin != nil {
			c.Join = append(c.Join, s.ServerJoin.RetryJoin...)
			if err := c.loadJoin(s.ServerJoin); err != nil {
				return fmt.Errorf("server.server_join: %w", err)
			}
		}
		if err := c.loadHeartbeat(s); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		setStr(&c.Encrypt, s.Encrypt)
		setStr(&c.OIDCIssuer, s.OIDCIssuer)
	}
	if cl := fc.Client; cl != nil {
		if cl.Enabled != nil {
			c.Client = *cl.Enabled
		}
		c.Servers = append(c.Servers, cl.Servers...)
		if cl.ServerJoin != nil {
			c.Servers = append(c.Servers, cl.ServerJoin.RetryJoin...)
			if err := c.loadJoin(cl.ServerJoin); err != nil {
				return fmt.Errorf("client.server_join: %w", err)
			}
		}
		setStr(&c.NodeClass, cl.NodeClass)
		setStr(&c.NodePool, cl.NodePool)
		for k, v := range cl.Meta {
			c.Meta[k] = v
		}
		for k, v := range cl.Options {
			c.Options[k] = v
		}
		if err := c.applyClientTaskWorld(cl); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	c.applyTLSBlock(fc.TLS)
	if err := c.applyHTTPBlocks(fc.HTTPAPI, fc.Limits); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := c.applyAutopilotBlock(fc.Autopilot); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := c.applyACLBlock(fc.ACL); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, pb := range fc.Plugins {
		var body hcl.Body
		if pb.Config != nil {
			body = pb.Config.Body
		}
		if err := c.loadPlugin(pb.Name, body); err != nil {
			return err
		}
	}
	return nil
}

// loadJoin reads a server_join block's retry settings.
func (c *Config) loadJoin(j *joinBlock) error {
	if j.RetryInterval != nil {
		d, err := parsePositiveDuration("retry_interval", *j.RetryInterval)
		if err != nil {
			return err
		}
		c.RetryInterval = d
	}
	if j.RetryMax != nil {
		if *j.RetryMax < 0 {
			return fmt.Errorf("retry_max must not be negative")
		}
		c.RetryMax = *j.RetryMax
	}
	return nil
}

// loadHeartbeat reads the server block's heartbeat tuning.
func (c *Config) loadHeartbeat(s *serverBlock) error {
	for _, d := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{
		{"min_heartbeat_ttl", s.MinHeartbeatTTL, &c.MinHeartbeatTTL},
		{"heartbeat_grace", s.HeartbeatGrace, &c.HeartbeatGrace},
		{"failover_heartbeat_ttl", s.FailoverHeartbeatTTL, &c.FailoverHeartbeatTTL},
	} {
		if d.v == nil {
			continue
		}
		v, err := parsePositiveDuration(d.name, *d.v)
		if err != nil {
			return err
		}
		*d.dst = v
	}
	if r := s.MaxHeartbeatsPerSecond; r != nil {
		if *r <= 0 {
			return fmt.Errorf("max_heartbeats_per_second must be positive")
		}
		c.MaxHeartbeatsPerSecond = *r
	}
	return c.loadRaftTimings(s)
}

// loadRaftTimings reads raft_multiplier (Nomad's: 0 or unset means 1, at
// most 10) and raft_heartbeat_timeout (orch's: at least 50ms; it replaces
// the multiplied 1 s).
func (c *Config) loadRaftTimings(s *serverBlock) error {
	if m := s.RaftMultiplier; m != nil {
		if *m < 0 || *m > 10 {
			return fmt.Errorf("raft_multiplier must be between 0 and 10, not %d", *m)
		}
		c.RaftMultiplier = *m
	}
	if v := s.RaftHeartbeatTimeout; v != nil {
		d, err := parsePositiveDuration("raft_heartbeat_timeout", *v)
		if err != nil {
			return err
		}
		if d < 50*time.Millisecond {
			return fmt.Errorf("raft_heartbeat_timeout must be at least 50ms, not %s", d)
		}
		c.RaftHeartbeatTimeout = d
	}
	return nil
}

func parsePositiveDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: invalid duration %q", name, v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s must be positive", name)
	}
	return d, nil
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}
