package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/client"
	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/structs"
)

// Agent is a running orch agent.
type Agent struct {
	cfg    *Config
	logger *slog.Logger

	pool     *gossip.Pool
	poolLeft bool
	server   *server.Server
	client   *client.Client
	http     *http.Server
	ln       net.Listener

	httpAddr string
	started  time.Time

	cancel       context.CancelFunc
	clientCancel context.CancelFunc
	clientDone   chan error
	wg           sync.WaitGroup
	tmpDataDir   string
}

// New builds and starts an agent; it returns once every part listens.
func New(cfg *Config, logger *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, logger: logger, started: time.Now()}
	if err := a.normalize(); err != nil {
		return nil, err
	}
	if err := a.start(); err != nil {
		a.Shutdown()
		return nil, err
	}
	return a, nil
}

func (a *Agent) normalize() error {
	c := a.cfg
	if c.Dev {
		c.Server, c.Client = true, true
		if c.BootstrapExpect == 0 {
			c.BootstrapExpect = 1
		}
		if c.BindAddr == "" || c.BindAddr == "0.0.0.0" {
			c.BindAddr = "127.0.0.1"
		}
		if c.DataDir == "" {
			dir, err := os.MkdirTemp("", "orch-dev-")
			if err != nil {
				return fmt.Errorf("creating dev data dir: %w", err)
			}
			c.DataDir = dir
			a.tmpDataDir = dir
		}
	}
	if !c.Server && !c.Client {
		return errors.New("agent must run as -server, -client or -dev")
	}
	if c.DataDir == "" {
		return errors.New("-data-dir is required outside -dev mode")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("resolving data dir: %w", err)
	}
	c.DataDir = abs
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("reading hostname for the node name: %w", err)
		}
		c.NodeName = h
	}
	if c.BindAddr == "" || c.BindAddr == "0.0.0.0" {
		// An agent must advertise an address others can reach; with a
		// wildcard bind, advertise the first non-loopback address.
		ip, err := firstPrivateIP()
		if err != nil {
			return err
		}
		c.BindAddr = ip
	}
	return nil
}

func (a *Agent) start() error {
	c := a.cfg
	listen := net.JoinHostPort(c.BindAddr, strconv.Itoa(c.HTTPPort))
	// Others are told the advertised address (advertise { http }), which
	// may differ from where it listens (behind NAT, a proxy, a bind on
	// every interface).
	a.httpAddr = listen
	if c.AdvertiseHTTP != "" {
		a.httpAddr = c.AdvertiseHTTP
		if _, _, err := net.SplitHostPort(c.AdvertiseHTTP); err != nil {
			a.httpAddr = net.JoinHostPort(c.AdvertiseHTTP, strconv.Itoa(c.HTTPPort))
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening for HTTP on %s: %w", listen, err)
	}
	a.ln = ln
	peerTLS, err := a.setupTLS()
	if err != nil {
		return err
	}
	ln = newConnLimitListener(ln, c.HTTPMaxConnsPerClient, peerTLS != nil)
	if peerTLS != nil {
		srvTLS, err := c.TLS.HTTPServer()
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, srvTLS)
	}

	tags := map[string]string{
		structs.TagRegion:     c.Region,
		structs.TagDatacenter: c.Datacenter,
		structs.TagHTTPAddr:   a.httpAddr,
		structs.TagVersion:    structs.Version,
		structs.TagRole:       "client",
	}
	if c.Server {
		tags[structs.TagRole] = "server"
		tags[structs.TagRaftAddr] = net.JoinHostPort(c.BindAddr, strconv.Itoa(c.RPCPort))
		tags[structs.TagBootstrap] = strconv.Itoa(c.BootstrapExpect)
		id, err := server.RaftID(c.DataDir, tags[structs.TagRaftAddr])
		if err != nil {
			return err
		}
		tags[structs.TagRaftID] = id
		// Nomad's names for the RPC address: its CLI finds the leader
		// among `server members` by them.
		tags[structs.TagRPCAddr] = c.BindAddr
		tags[structs.TagPort] = strconv.Itoa(c.RPCPort)
	}
	pool, err := gossip.New(gossip.Config{
		Name: c.NodeName, BindAddr: c.BindAddr, Port: c.SerfPort, Tags: tags,
		Fast: c.Dev, Logger: a.logger, EncryptKey: c.Encrypt, KeyringFile: a.keyringFile(),
	})
	if err != nil {
		return err
	}
	a.pool = pool

	if c.Server {
		sc := server.Config{
			DataDir: c.DataDir, NodeName: c.NodeName, Region: c.Region, Datacenter: c.Datacenter,
			BindAddr: c.BindAddr, RaftPort: c.RPCPort, HTTPAddr: a.httpAddr,
			BootstrapExpect: c.BootstrapExpect, Dev: c.Dev, NumWorkers: c.NumSchedulers, MaxGroupCount: c.JobMaxCount,
			Gossip: pool, Logger: a.logger, OIDCIssuer: c.OIDCIssuer,
			Autopilot: c.Autopilot, PeerTLS: peerTLS,
			RaftMultiplier: c.RaftMultiplier, RaftHeartbeatTimeout: c.RaftHeartbeatTimeout,
			Heartbeat: server.HeartbeatConfig{MinTTL: c.MinHeartbeatTTL, MaxPerSecond: c.MaxHeartbeatsPerSecond,
				Grace: c.HeartbeatGrace, FailoverTTL: c.FailoverHeartbeatTTL},
		}
		if err := a.rpcTLS(&sc); err != nil {
			return err
		}
		srv, err := server.New(sc)
		if err != nil {
			return fmt.Errorf("starting server: %w", err)
		}
		a.server = srv
		if id := srv.RaftID(); id != tags[structs.TagRaftID] {
			// A lone server migrated to a UUID at startup.
			tags[structs.TagRaftID] = id
			if err := pool.SetTags(tags); err != nil {
				return fmt.Errorf("advertising server ID: %w", err)
			}
		}
	}

	if c.Client {
		cl, err := a.newClient(peerTLS)
		if err != nil {
			return err
		}
		a.client = cl
		tags[structs.TagNodeID] = cl.NodeID()
		if err := pool.SetTags(tags); err != nil {
			return fmt.Errorf("advertising node ID: %w", err)
		}
	}

	hcfg := httpapi.Config{Logger: a.logger, AgentSelf: a.self, ServerAddrs: a.serverHTTPAddrs,
		ACLEnabled: c.ACL.Enabled, PeerTLS: peerTLS, Keyring: a.pool, KeyringPeers: a.peerHTTPAddrs}
	var _ httpapi.RolloutBackend = a.server  // servers serve deployments, plans and job history
	var _ httpapi.NodeOpsBackend = a.server  // servers serve node drains and allocation stops
	var _ httpapi.AllocOpsBackend = a.client // clients restart, signal and exec into their allocations
	if a.server != nil {
		hcfg.Server = a.server
		hcfg.Services, hcfg.Variables = a.server, a.server
		hcfg.Resolver = a.server.ACLResolver()
	} else {
		src := &remoteACLSource{servers: a.serverHTTPAddrs, tls: peerTLS,
			hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: peerTLS}}}
		hcfg.Resolver = acl.NewResolver(src, c.ACL.TokenTTL, c.ACL.PolicyTTL)
	}
	if a.client != nil {
		hcfg.Client = a.client
	}
	hcfg.Guard = httpapi.Guard{Hosts: guardHosts(c), Origins: c.HTTPAllowedOrigins}
	a.http = &http.Server{Handler: httpapi.New(hcfg), ReadHeaderTimeout: httpReadHeaderTimeout, IdleTimeout: httpIdleTimeout,
		ErrorLog: slog.NewLogLogger(a.logger.With("component", "http").Handler(), slog.LevelWarn)}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("HTTP server stopped", "error", err)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go a.rejoinLoop(ctx)
	if a.client != nil {
		cctx, ccancel := context.WithCancel(ctx)
		a.clientCancel = ccancel
		a.clientDone = make(chan error, 1)
		go func() { a.clientDone <- a.client.Run(cctx) }()
		a.wg.Add(1)
		go a.feedServers(cctx)
	}
	a.warnInsecure()
	a.logger.Info("agent started", "http", a.httpAddr, "server", c.Server, "client", c.Client,
		"data_dir", c.DataDir, "node", c.NodeName)
	return nil
}

// serverHTTPAddrs lists the HTTP addresses of known servers: this agent's
// own, then servers seen in the gossip pool.
func (a *Agent) serverHTTPAddrs() []string {
	var out []string
	if a.server != nil {
		out = append(out, a.httpAddr)
	}
	var gossiped []string
	for _, m := range a.pool.Members() {
		if m.Status == gossip.StatusAlive && m.Tags[structs.TagRole] == "server" && m.Tags[structs.TagRegion] == a.cfg.Region {
			if h := m.Tags[structs.TagHTTPAddr]; h != "" && h != a.httpAddr {
				gossiped = append(gossiped, h)
			}
		}
	}
	sort.Strings(gossiped)
	return append(out, gossiped...)
}

// feedServers keeps the client's list of servers' RPC addresses current as
// gossip changes.
func (a *Agent) feedServers(ctx context.Context) {
	defer a.wg.Done()
	events := a.pool.Subscribe()
	a.client.SetServers(a.serverRPCAddrs())
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			a.client.SetServers(a.serverRPCAddrs())
		}
	}
}

// serverRPCAddrs lists the RPC addresses of the region's servers alive in
// the gossip pool, this agent's own first.
func (a *Agent) serverRPCAddrs() []string {
	var out []string
	if a.server != nil {
		out = append(out, a.server.RaftAddr())
	}
	var gossiped []string
	for _, m := range a.pool.Members() {
		if m.Status == gossip.StatusAlive && m.Tags[structs.TagRole] == "server" && m.Tags[structs.TagRegion] == a.cfg.Region {
			if r := m.Tags[structs.TagRaftAddr]; r != "" && !slices.Contains(out, r) {
				gossiped = append(gossiped, r)
			}
		}
	}
	sort.Strings(gossiped)
	return append(out, gossiped...)
}

// HTTPAddr returns the address the HTTP API listens on.
func (a *Agent) HTTPAddr() string { return a.httpAddr }

// Server returns the agent's server, nil on client-only agents.
func (a *Agent) Server() *server.Server { return a.server }

func (a *Agent) self() map[string]any {
	c := a.cfg
	member := map[string]any{}
	if a.pool != nil {
		member = map[string]any{"Name": c.NodeName}
		if m := server.MemberToAgentMember(a.pool.LocalMember()); m != nil {
			member = map[string]any{
				"Name": m.Name, "Addr": m.Addr, "Port": m.Port, "Tags": m.Tags, "Status": m.Status,
			}
		}
	}
	stats := map[string]map[string]string{
		"agent": {"uptime": time.Since(a.started).Round(time.Second).String()},
	}
	if a.server != nil {
		stats["raft"] = a.server.Stats()
	}
	if a.client != nil {
		stats["client"] = map[string]string{"node_id": a.client.NodeID()}
	}
	return map[string]any{
		"config": map[string]any{
			"Region": c.Region, "Datacenter": c.Datacenter, "NodeName": c.NodeName, "DataDir": c.DataDir,
			"BindAddr": c.BindAddr, "Version": map[string]any{"Version": structs.Version},
			"Server": map[string]any{"Enabled": c.Server, "BootstrapExpect": c.BootstrapExpect},
			"Client": map[string]any{"Enabled": c.Client},
			"Ports":  map[string]any{"HTTP": c.HTTPPort, "RPC": c.RPCPort, "Serf": c.SerfPort},
			"ACL":    map[string]any{"Enabled": c.ACL.Enabled},
		},
		"member": member,
		"stats":  stats,
	}
}

// Shutdown stops the agent. Tasks keep running, since a restarted client
// re-attaches to them, except in -dev mode without -data-dir, whose
// throwaway state could never be re-attached.
func (a *Agent) Shutdown() {
	if a.server != nil && a.pool != nil {
		// A server leaves the cluster first (a leader hands leadership
		// over), so the others need not wait out its failure.
		a.server.Leave(5*time.Second, a.leavePool)
	}
	if a.tmpDataDir != "" && a.client != nil {
		// -dev without -data-dir: the state is thrown away below, so no
		// later agent could re-attach to tasks left running.
		a.client.StopAll(15 * time.Second)
	}
	if a.clientCancel != nil {
		a.clientCancel()
		select {
		case <-a.clientDone:
		case <-time.After(10 * time.Second):
			a.logger.Warn("client did not stop within 10s")
		}
	}
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.http.Shutdown(ctx)
		cancel()
	} else if a.ln != nil {
		a.ln.Close()
	}
	if a.server != nil {
		if err := a.server.Shutdown(); err != nil {
			a.logger.Warn("server shutdown", "error", err)
		}
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.leavePool()
	a.wg.Wait()
	if a.tmpDataDir != "" {
		if err := os.RemoveAll(a.tmpDataDir); err != nil {
			a.logger.Warn("removing dev data dir", "dir", a.tmpDataDir, "error", err)
		}
	}
}

// leavePool announces this agent's departure from the gossip pool, once.
func (a *Agent) leavePool() {
	if a.pool != nil && !a.poolLeft {
		a.poolLeft = true
		_ = a.pool.Leave(time.Second)
	}
}

func firstPrivateIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("listing interface addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "127.0.0.1", nil
}
