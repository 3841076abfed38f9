package server

import (
	"context"
	"net"
	"time"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/structs"
	"github.com/orch-project/orch/tlsutil"
)

// Server identity (issue 8, attack 5). With TLS on the RPC port, only an
// agent holding a server certificate of this region may take part in Raft:
// the Raft listener drops every connection whose peer certificate does not
// name server.<region>.nomad (a client certificate is not enough), and a
// server seen in the gossip pool becomes a voter, or part of the bootstrap
// configuration, only after it proved it holds one. Without TLS there is no
// identity to check; docs/security.md says so.

// serverOnlyListener hands Raft only connections from servers.
type serverOnlyListener struct {
	net.Listener
	name string
	s    *Server
}

func (l *serverOnlyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if st, ok := rpcmux.PeerTLS(c); ok && tlsutil.PeerHasName(st, l.name) {
			return c, nil
		}
		l.s.logger.Warn("refusing a Raft connection from a peer without a server certificate",
			"remote", c.RemoteAddr().String(), "want", l.name)
		c.Close()
	}
}

// guardRaftListener restricts the Raft layer to servers when the RPC port
// requires TLS.
func (s *Server) guardRaftListener() {
	if !s.cfg.RPCRequireTLS {
		return
	}
	s.raftLayer.Listener = &serverOnlyListener{Listener: s.raftLayer.Listener, name: tlsutil.ServerName(s.cfg.Region), s: s}
}

// provenServer reports whether the gossip member m may join Raft: always
// without a verifier (no TLS), otherwise once its RPC port proved it holds
// a server certificate of this region.
func (s *Server) provenServer(m gossip.Member) bool {
	if s.cfg.VerifyServer == nil {
		return true
	}
	addr := m.Tags[structs.TagRaftAddr]
	if addr == s.raftAddr {
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.cfg.VerifyServer(ctx, addr); err != nil {
		s.logger.Warn("not adding a gossip member to Raft: it did not prove a server identity",
			"member", m.Name, "addr", addr, "error", err)
		return false
	}
	return true
}
