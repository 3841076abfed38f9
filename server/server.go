// Package server is the control plane of one orch server: Raft-replicated
// state, the eval broker, scheduler workers and the plan applier. Only the
// leader schedules; followers serve reads from their replica of the state
// and the HTTP layer forwards their writes to the leader.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/keyring"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// statusError is an error that tells the HTTP layer which status fits it.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string   { return e.msg }
func (e *statusError) StatusCode() int { return e.code }

// Errors of the write API; wrapped with detail, they keep their status.
var (
	ErrNotLeader error = &statusError{503, "not the cluster leader"}
	ErrNotFound  error = &statusError{404, "not found"}
	ErrConflict  error = &statusError{409, "conflict"}
	ErrBadInput  error = &statusError{400, "invalid request"}
	// ErrDeadlinePassed: the caller's deadline passed before the write
	// reached Raft; it was dropped, not committed.
	ErrDeadlinePassed error = &statusError{504, "request deadline passed before the write was committed; it was not applied"}
	// ErrCommitUnknown: the caller's deadline passed while the write was
	// committing; it may or may not have been applied.
	ErrCommitUnknown error = &statusError{504, "request deadline passed while the write was committing; it may still be applied"}
)

// Config configures a server.
type Config struct {
	DataDir    string
	NodeName   string
	Region     string
	Datacenter string
	// BindAddr is the address Raft listens on and advertises.
	BindAddr string
	RaftPort int
	// HTTPAddr is this agent's advertised HTTP address (host:port), gossiped
	// so followers can forward writes to the leader.
	HTTPAddr string
	// BootstrapExpect is how many servers to wait for before bootstrapping
	// a new cluster; 1 bootstraps alone.
	BootstrapExpect int
	// OIDCIssuer is the issuer (iss) of workload identities and of the
	// OIDC discovery document (server { oidc_issuer }); empty leaves iss
	// out, as Nomad does.
	OIDCIssuer string
	// Dev shortens Raft timings: a single local server elects itself at once.
	Dev bool
	// RaftMultiplier scales Raft's timings as Nomad's raft_multiplier does
	// (0 means 1): heartbeat and election timeouts of 1 s times it, a
	// leader lease of half that. RaftHeartbeatTimeout, when set, replaces
	// the multiplied 1 s (orch's raft_heartbeat_timeout, for sub-second
	// failover on a LAN).
	RaftMultiplier       int
	RaftHeartbeatTimeout time.Duration
	// NumWorkers is the number of scheduler workers; 0 means one per CPU,
	// negative means none (this server never schedules).
	NumWorkers int
	// MaxGroupCount bounds every group's count on every write path (job
	// register, scale); 0 means DefaultMaxGroupCount.
	MaxGroupCount int
	// EvalNackTimeout is how long a worker may hold an eval without
	// progress before the broker hands it to another; 0 means 1m.
	EvalNackTimeout time.Duration
	Gossip          *gossip.Pool
	Logger          *slog.Logger

	// GCInterval is how often the leader garbage-collects; the thresholds
	// are how long a terminal eval (with its allocations), a stopped or
	// dead batch job, and a down node are kept. Zero means Nomad's
	// defaults: 5m, 1h, 4h and 24h.
	GCInterval      time.Duration
	EvalGCThreshold time.Duration
	JobGCThreshold  time.Duration
	NodeGCThreshold time.Duration

	// Autopilot seeds the cluster's autopilot configuration (the agent's
	// autopilot block); nil means Nomad's defaults.
	Autopilot *structs.AutopilotConfig
	// PeerTLS, when set, is used to reach other servers' HTTPS API.
	PeerTLS *tls.Config
	// DataDirMinFree is the free space (bytes) below which the server
	// refuses writes that add work (507); 0 means 64 MiB.
	DataDirMinFree uint64

	// legacyAddressID makes the server use its address as its Raft ID,
	// as data dirs from before server IDs did (tests of the migration).
	legacyAddressID bool

	// Heartbeats (the agent's server block). Zero means the defaults; see
	// HeartbeatConfig.
	Heartbeat HeartbeatConfig

	// TLS on the RPC port (Raft and the control channel). RPCTLS
	// terminates TLS on connections that announce it (a *tls.Conn after
	// its handshake; require client certificates there); RPCRequireTLS
	// refuses plaintext connections; RPCDialTLS wraps this server's
	// outgoing Raft and forwarding connections.
	RPCTLS        func(net.Conn) (net.Conn, error)
	RPCRequireTLS bool
	RPCDialTLS    func(ctx context.Context, c net.Conn, addr string) (net.Conn, error)
	// VerifyServer, set with TLS on the RPC port, proves that the agent
	// at an RPC address holds a server certificate of this region; a
	// gossip member becomes a Raft voter only after it passed.
	VerifyServer func(ctx context.Context, rpcAddr string) error
	// RPCPeerCheck, when set, vets each control call's TLS identity by
	// role (tlsutil.Config.RPCPeerCheck).
	RPCPeerCheck func(st *tls.ConnectionState, serverOnly bool) error

	// keyringHold, set by tests, holds the leader's keyring loop until it
	// is closed: the window of a new cluster before its first root key.
	keyringHold chan struct{}
}

// Server is one orch server.
type Server struct {
	cfg    Config
	logger *slog.Logger

	fsm       *raftfsm.FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	// contact wraps transport for Raft, recording when a leader last
	// reached this server (contact_transport.go).
	contact  *contactTransport
	logStore *raftboltdb.BoltStore
	raftAddr string
	localID  raft.ServerID

	// The RPC port: rpcmux splits it between Raft and the control channel.
	mux        *rpcmux.Mux
	dialer     *rpcmux.Dialer
	raftLayer  *rpcmux.RaftLayer
	control    *control.Server
	heartbeats *heartbeats

	broker  *EvalBroker
	blocked *BlockedEvals

	gossip       *gossip.Pool
	bootstrapMu  sync.Mutex
	bootstrapped bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	aclOnce            sync.Once
	aclResolver        *acl.Resolver
	verifiedIdentities identityCache

	leaderMu     sync.Mutex
	leaderCancel context.CancelFunc

	// keyring opens root keys from state; keyringWake prompts the leader's
	// keyring loop; locks holds the leader's variable lock TTL timers.
	keyring     *keyring.Keyring
	keyringWake chan struct{}
	locks       *lockTimers
	autopilot   *autopilot
	disk        *diskGuard

	// readGate opens once this term's leader has applied earlier terms.
	readGate *leaderGate
	// restoreTarget is the last index in this server's log when it
	// started; restored is set once it has been applied.
	restoreTarget uint64
	restored      atomic.Bool
}

// New starts a server: opens Raft's stores under DataDir, replays the log
// into the state store and begins taking part in elections.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RaftPort == 0 {
		cfg.RaftPort = 4647
	}
	if cfg.Region == "" {
		cfg.Region = structs.DefaultRegion
	}
	if cfg.NumWorkers == 0 {
		cfg.NumWorkers = runtime.NumCPU()
	}
	if cfg.EvalNackTimeout <= 0 {
		cfg.EvalNackTimeout = time.Minute
	}
	gcDefaults(&cfg)
	store, err := state.NewStore()
	if err != nil {
		return nil, fmt.Errorf("creating state store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		logger:   cfg.Logger.With("component", "server"),
		gossip:   cfg.Gossip,
		ctx:      ctx,
		cancel:   cancel,
		readGate: newLeaderGate(),
	}
	s.autopilot = newAutopilot(s)
	s.disk = newDiskGuard(cfg.DataDir, cfg.DataDirMinFree, s.logger)
	s.fsm = raftfsm.NewWithOptions(store, raftfsm.Options{Logger: cfg.Logger, OnCommit: s.onCommit})
	s.keyring = keyring.New()
	s.keyringWake = make(chan struct{}, 1)
	s.locks = &lockTimers{srv: s}
	s.heartbeats = newHeartbeats(s, cfg.Heartbeat)
	s.broker = NewEvalBroker(cfg.EvalNackTimeout, 3)
	s.blocked = NewBlockedEvals(s.broker)
	s.broker.onFail = s.failEval
	s.broker.onCancel = s.cancelEvals
	s.blocked.onCancel = s.cancelEvals
	if err := s.setupRPC(); err != nil {
		cancel()
		return nil, err
	}
	if err := s.setupRaft(); err != nil {
		cancel()
		s.closeRPC()
		return nil, err
	}
	s.wg.Add(1)
	go s.monitorLeadership()
	if s.gossip != nil {
		events := s.gossip.Subscribe()
		s.wg.Add(1)
		go s.watchMembers(events)
		s.maybeBootstrap()
	}
	return s, nil
}

func (s *Server) setupRaft() error {
	dir := raftDir(s.cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating raft dir: %w", err)
	}
	rlog := newHCLogger("raft", s.cfg.Logger)
	trans := s.raftTransport()
	s.transport = trans
	s.contact = newContactTransport(trans)
	st, err := s.openRaftStores(dir, rlog)
	if err != nil {
		s.contact.Close()
		return err
	}
	r, err := s.startRaft(st, rlog)
	if err != nil {
		s.logStore.Close()
		s.contact.Close()
		return err
	}
	s.raft = r
	s.heartbeats.observeLeadership(r)
	if s.restoreTarget, err = lastAppliableIndex(st.logs, st.snaps); err != nil {
		return err
	}
	if s.cfg.Dev || s.cfg.BootstrapExpect == 1 {
		has, err := raft.HasExistingState(st.logs, st.stable, st.snaps)
		if err != nil {
			return fmt.Errorf("reading raft state: %w", err)
		}
		if !has {
			cfg := raft.Configuration{Servers: []raft.Server{{ID: s.localID, Address: trans.LocalAddr()}}}
			if err := r.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return fmt.Errorf("bootstrapping single-server cluster: %w", err)
			}
		}
		s.bootstrapped = true
	}
	return nil
}

// openRaftStores opens the Raft log, stable store and snapshots under dir.
// Both are checked first (storage.go): damage is a startup error naming
// the file, not a panic while Raft replays.
func (s *Server) openRaftStores(dir string, rlog hclog.Logger) (raftStores, error) {
	dbPath := filepath.Join(dir, "raft.db")
	if _, err := inspectRaftDB(dbPath); err != nil {
		return raftStores{}, corruptStoreError("log store", dbPath, err)
	}
	if err := ensureLogReserve(dbPath); err != nil {
		return raftStores{}, err
	}
	logStore, err := raftboltdb.New(raftboltdb.Options{Path: dbPath})
	if err != nil {
		return raftStores{}, corruptStoreError("log store", dbPath, err)
	}
	s.logStore = logStore
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, rlog)
	if err != nil {
		logStore.Close()
		return raftStores{}, fmt.Errorf("opening raft snapshot store: %w", err)
	}
	if err := checkNewestSnapshot(snaps, dir); err != nil {
		logStore.Close()
		return raftStores{}, err
	}
	return raftStores{logs: logStore, stable: logStore, snaps: snaps}, nil
}

// startRaft applies a peers.json recovery if one is waiting, settles this
// server's Raft ID and starts Raft.
func (s *Server) startRaft(st raftStores, rlog hclog.Logger) (*raft.Raft, error) {
	if err := s.recoverFromPeersJSON(st); err != nil {
		return nil, err
	}
	id, err := s.chooseRaftID(st)
	if err != nil {
		return nil, err
	}
	s.localID = id
	rc := raft.DefaultConfig()
	rc.LocalID = id
	rc.Logger = rlog
	rc.CommitTimeout = 5 * time.Millisecond
	if s.cfg.Dev || s.cfg.BootstrapExpect == 1 {
		// A lone server has nobody to wait for; a short timeout makes it
		// leader within a few hundred milliseconds of starting.
		rc.HeartbeatTimeout = 100 * time.Millisecond
		rc.ElectionTimeout = 100 * time.Millisecond
		rc.LeaderLeaseTimeout = 100 * time.Millisecond
	} else {
		base := raftTimeout(s.cfg.RaftMultiplier, s.cfg.RaftHeartbeatTimeout)
		rc.HeartbeatTimeout = base
		rc.ElectionTimeout = base
		rc.LeaderLeaseTimeout = base / 2
	}
	r, err := raft.NewRaft(rc, s.fsm, st.logs, st.stable, st.snaps, s.contact)
	if err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	return r, nil
}

// raftTimeout is Raft's heartbeat and election timeout for the given
// raft_multiplier and raft_heartbeat_timeout.
func raftTimeout(multiplier int, heartbeat time.Duration) time.Duration {
	if heartbeat > 0 {
		return heartbeat
	}
	return time.Duration(max(multiplier, 1)) * time.Second
}

// State returns the replicated state store. The FSM may swap stores on a
// snapshot restore, so callers fetch it each time rather than keep it.
func (s *Server) State() *state.Store { return s.fsm.State() }

// IsLeader reports whether this server is the Raft leader.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's Raft address, "" when unknown.
func (s *Server) Leader() string {
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// raftID is this server's ID in the Raft configuration.
func (s *Server) raftID() raft.ServerID { return s.localID }

// RaftID is this server's ID in the Raft configuration, which the agent
// advertises in gossip.
func (s *Server) RaftID() string { return string(s.localID) }

// RaftAddr returns this server's Raft address.
func (s *Server) RaftAddr() string { return s.raftAddr }

// Peers returns the Raft addresses of the voting servers.
func (s *Server) Peers() []string {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil
	}
	var out []string
	for _, srv := range f.Configuration().Servers {
		out = append(out, string(srv.Address))
	}
	return out
}

// Region, Datacenter and NodeName describe this server.
func (s *Server) Region() string     { return s.cfg.Region }
func (s *Server) Datacenter() string { return s.cfg.Datacenter }
func (s *Server) NodeName() string   { return s.cfg.NodeName }

// Stats reports broker and Raft figures for agent/self.
func (s *Server) Stats() map[string]string {
	ready, unacked, pending := s.broker.Stats()
	st := s.raft.Stats()
	st["broker_ready"] = strconv.Itoa(ready)
	st["broker_unacked"] = strconv.Itoa(unacked)
	st["broker_pending"] = strconv.Itoa(pending)
	st["blocked_evals"] = strconv.Itoa(s.blocked.Len())
	return st
}

// Shutdown stops the server. Raft's log is durable after every commit, so
// nothing acknowledged is lost however the process ends.
func (s *Server) Shutdown() error {
	s.cancel()
	s.broker.SetEnabled(false)
	s.blocked.SetEnabled(false)
	err := s.shutdownRaft(raftShutdownTimeout)
	s.contact.Close()
	s.closeRPC()
	s.wg.Wait()
	if cerr := s.logStore.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeRPC stops the control channel and the RPC listener.
func (s *Server) closeRPC() {
	if err := s.control.Shutdown(); err != nil {
		s.logger.Warn("stopping control channel", "error", err)
	}
	if err := s.mux.Close(); err != nil {
		s.logger.Warn("closing RPC listener", "error", err)
	}
}

// raftShutdownTimeout bounds the wait for Raft's goroutines on shutdown.
const raftShutdownTimeout = 10 * time.Second

// shutdownRaft stops Raft, waiting at most timeout. hashicorp/raft v1.7.3
// can leave a replication goroutine blocked for good when a pipelined
// follower's responses stop being read just after leadership moved (seen
// right after a leadership transfer); the log is durable after every
// commit, so the server stops without it rather than hang on SIGTERM.
func (s *Server) shutdownRaft(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- s.raft.Shutdown().Error() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		s.logger.Error("raft did not stop in time; stopping without it", "timeout", timeout)
		return nil
	}
}

// raftApply commits one typed log entry and returns its index.
func (s *Server) raftApply(t raftfsm.MessageType, body any) (uint64, error) {
	return s.raftApplyCtx(context.Background(), t, body)
}

// raftApplyCtx commits one typed log entry within ctx's deadline. An entry
// whose deadline has passed before it is handed to Raft is dropped
// (ErrDeadlinePassed: certainly not committed); once handed over, ending
// ctx stops the wait, not the commit.
func (s *Server) raftApplyCtx(ctx context.Context, t raftfsm.MessageType, body any) (uint64, error) {
	f, err := s.raftDispatch(ctx, t, body)
	if err != nil {
		return 0, err
	}
	return s.raftWait(ctx, f)
}

// defaultApplyTimeout bounds how long an entry may wait to enter Raft's
// apply queue when the caller set no deadline.
const defaultApplyTimeout = 30 * time.Second

// raftDispatch encodes an entry and hands it to Raft without waiting for
// the commit.
func (s *Server) raftDispatch(ctx context.Context, t raftfsm.MessageType, body any) (raft.ApplyFuture, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDeadlinePassed, err)
	}
	if err := s.disk.allows(t &^ raftfsm.IgnoreUnknownTypeFlag); err != nil {
		return nil, err
	}
	timeout := defaultApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, ErrDeadlinePassed
		}
	}
	buf, err := raftfsm.Encode(t, body)
	if err != nil {
		return nil, fmt.Errorf("encoding raft entry: %w", err)
	}
	return s.raft.Apply(buf, timeout), nil
}

// raftWait waits for a dispatched entry's commit and returns its index, or
// the error its FSM handler rejected it with.
func (s *Server) raftWait(ctx context.Context, f raft.ApplyFuture) (uint64, error) {
	var err error
	if ctx.Done() == nil {
		err = f.Error()
	} else {
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %v", ErrCommitUnknown, ctx.Err())
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return 0, ErrNotLeader
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return 0, fmt.Errorf("%w: raft's apply queue stayed full", ErrDeadlinePassed)
		}
		return 0, fmt.Errorf("committing raft entry: %w", err)
	}
	if res, ok := f.Response().(*raftfsm.ApplyResult); ok && res != nil && res.Err != nil {
		// A precondition checked at apply time (EnforceIndex, a finished
		// deployment) failed: the caller's request, not the server.
		var ce *raftfsm.ConflictError
		if errors.As(res.Err, &ce) {
			return f.Index(), &statusError{409, ce.Msg}
		}
		return f.Index(), fmt.Errorf("applying raft entry: %w", res.Err)
	}
	return f.Index(), nil
}

// AppliedIndex is the last Raft index this server's FSM has applied (Raft's
// own AppliedIndex counts entries handed to the FSM, not yet applied).
func (s *Server) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }

// lastAppliableIndex is the index the FSM has applied once it holds all
// this server had when it started: the last command or configuration entry
// in its log (no-op and barrier entries never reach the FSM), else its
// newest snapshot's index. A fresh server waits for index 1, the cluster's
// first configuration entry.
func lastAppliableIndex(logs raft.LogStore, snaps raft.SnapshotStore) (uint64, error) {
	first, err := logs.FirstIndex()
	if err != nil {
		return 0, fmt.Errorf("reading raft log: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("reading raft log: %w", err)
	}
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			return 0, fmt.Errorf("reading raft log entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, nil
		}
	}
	metas, err := snaps.List()
	if err != nil {
		return 0, fmt.Errorf("listing raft snapshots: %w", err)
	}
	if len(metas) > 0 {
		return max(metas[0].Index, 1), nil
	}
	return 1, nil
}
