package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/rpcmux"
)

// setupRPC listens on the RPC port and splits it between Raft and the
// control channel by protocol byte. TLS (issue 8) plugs in through
// Config.RPCTLS, RPCRequireTLS and RPCDialTLS: rpcmux terminates it for
// both protocols, and the control server sees the peer's certificate.
func (s *Server) setupRPC() error {
	s.raftAddr = net.JoinHostPort(s.cfg.BindAddr, strconv.Itoa(s.cfg.RaftPort))
	advertise, err := net.ResolveTCPAddr("tcp", s.raftAddr)
	if err != nil {
		return fmt.Errorf("resolving RPC address %s: %w", s.raftAddr, err)
	}
	ln, err := net.Listen("tcp", s.raftAddr)
	if err != nil {
		return fmt.Errorf("listening for RPC on %s: %w", s.raftAddr, err)
	}
	s.mux = rpcmux.New(ln, rpcmux.Config{Logger: s.cfg.Logger, TLS: s.cfg.RPCTLS, RequireTLS: s.cfg.RPCRequireTLS})
	s.dialer = &rpcmux.Dialer{TLS: s.cfg.RPCDialTLS}
	s.raftLayer = rpcmux.NewRaftLayer(s.mux, advertise, s.dialer)
	s.guardRaftListener()
	s.control = control.NewServer(control.ServerConfig{Backend: (*controlBackend)(s), Logger: s.cfg.Logger, Dialer: s.dialer,
		VerifyPeer: s.cfg.RPCPeerCheck})
	s.registerControlRoutes()
	ctlLn := s.mux.Listener(rpcmux.ProtoControl)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.mux.Serve(); err != nil {
			s.logger.Error("RPC listener stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.control.Serve(ctlLn); err != nil {
			s.logger.Error("control channel stopped", "error", err)
		}
	}()
	return nil
}

// registerControlRoutes mounts every control-channel method. A feature
// adding client calls adds one line here and a file with its handlers.
func (s *Server) registerControlRoutes() {
	s.nodeRoutes()
	s.identityRoutes()
	s.migrateRoutes()
	s.nativeRoutes()
}

// Control is the control-channel server, for registering routes.
func (s *Server) Control() *control.Server { return s.control }

// controlBackend is the Server as the control channel sees it.
type controlBackend Server

func (b *controlBackend) IsLeader() bool { return (*Server)(b).IsLeader() }

// LeaderRPCAddr is the leader's Raft address: Raft and the control channel
// share the RPC port.
func (b *controlBackend) LeaderRPCAddr() string { return (*Server)(b).Leader() }

// LastContact is how long ago this server heard from the leader (zero on
// the leader) and whether it knows one.
func (b *controlBackend) LastContact() (time.Duration, bool) {
	s := (*Server)(b)
	if s.IsLeader() {
		return 0, true
	}
	d := s.LastContact()
	return max(d, 0), d >= 0 && s.KnownLeader()
}

// AuthenticateNode checks a node's secret against this server's replica.
// A node registered moments ago may not have reached a follower's replica
// yet: wait (bounded by the call) for it to appear before answering that
// it is unknown.
func (b *controlBackend) AuthenticateNode(ctx context.Context, nodeID, secret string) error {
	s := (*Server)(b)
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		st := s.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		n, err := st.NodeByID(ws, nodeID)
		if err != nil {
			return fmt.Errorf("reading node %s: %w", nodeID, err)
		}
		if n != nil {
			if n.SecretID == "" || subtle.ConstantTimeCompare([]byte(n.SecretID), []byte(secret)) != 1 {
				return control.ErrBadSecret
			}
			return nil
		}
		if ws.WatchCtx(wait) != nil {
			return control.ErrUnknownNode
		}
	}
}

// raftTransport builds Raft's network transport over the RPC mux.
func (s *Server) raftTransport() *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.raftLayer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger("raft", s.cfg.Logger),
	})
}
