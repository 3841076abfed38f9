package server

import (
	"sort"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/structs"
)

// watchMembers reacts to gossip: bootstraps Raft once enough servers are
// seen, grows the Raft configuration, and marks nodes of dead clients down.
func (s *Server) watchMembers(events <-chan gossip.Event) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			s.handleMemberEvent(e)
		}
	}
}

func (s *Server) handleMemberEvent(e gossip.Event) {
	m := e.Member
	isServer := m.Tags[structs.TagRole] == "server" && m.Tags[structs.TagRegion] == s.cfg.Region
	switch e.Type {
	case gossip.EventJoin, gossip.EventUpdate:
		if isServer {
			s.maybeBootstrap()
			if s.IsLeader() {
				s.addRaftPeer(m)
			}
		}
	case gossip.EventLeave:
		if isServer {
			s.removeRaftPeer(m)
		}
	case gossip.EventFailed:
		// Liveness comes from heartbeats. A gossip failure is a hint that
		// can only cut short the grace of a node that already missed its
		// heartbeat, and only while this server sees most of the pool
		// alive: a verdict formed while it was itself cut off is ignored.
		if id := m.Tags[structs.TagNodeID]; id != "" && s.IsLeader() && s.gossipQuorate() {
			if s.heartbeats.hint(id) {
				s.logger.Info("gossip reports an overdue node failed; checking it now", "node_id", id, "member", m.Name)
			}
		}
	}
}

// gossipQuorate reports whether this server sees more than half of the
// gossip pool alive.
func (s *Server) gossipQuorate() bool {
	alive, total := 0, 0
	for _, m := range s.gossip.Members() {
		if m.Status == gossip.StatusLeft {
			continue
		}
		total++
		if m.Status == gossip.StatusAlive {
			alive++
		}
	}
	return alive*2 > total
}

// maybeBootstrap bootstraps a new cluster once BootstrapExpect servers are
// alive in the pool. Every server computes the same configuration from the
// same members, which Raft accepts.
func (s *Server) maybeBootstrap() {
	if s.cfg.BootstrapExpect <= 1 || s.gossip == nil {
		return
	}
	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()
	if s.bootstrapped {
		return
	}
	var servers []raft.Server
	for _, m := range s.gossip.Members() {
		if m.Status != gossip.StatusAlive || m.Tags[structs.TagRole] != "server" || m.Tags[structs.TagRegion] != s.cfg.Region {
			continue
		}
		if exp, _ := strconv.Atoi(m.Tags[structs.TagBootstrap]); exp != 0 && exp != s.cfg.BootstrapExpect {
			s.logger.Error("server expects a different cluster size", "member", m.Name, "expect", exp)
			return
		}
		id, addr, ok := memberRaftID(m)
		if !ok || !s.provenServer(m) {
			continue
		}
		servers = append(servers, raft.Server{ID: id, Address: addr})
	}
	if len(servers) < s.cfg.BootstrapExpect {
		return
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	s.bootstrapped = true
	// A server restarting with existing Raft state must not bootstrap again:
	// BootstrapCluster refuses, which is what we want.
	err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		s.logger.Error("bootstrapping raft cluster", "error", err)
		return
	}
	s.logger.Info("bootstrapped raft cluster", "servers", len(servers))
}

// LeaderHTTPAddr returns the leader's advertised HTTP address, "" when no
// leader is known.
func (s *Server) LeaderHTTPAddr() string {
	if s.IsLeader() {
		return s.cfg.HTTPAddr
	}
	leader := s.Leader()
	if leader == "" || s.gossip == nil {
		return ""
	}
	for _, m := range s.gossip.Members() {
		if m.Tags[structs.TagRaftAddr] == leader {
			return m.Tags[structs.TagHTTPAddr]
		}
	}
	return ""
}

// Members lists the gossip pool, servers and clients, as GET
// /v1/agent/members reports it (`orch server members` shows the servers).
func (s *Server) Members() []*structs.AgentMember {
	if s.gossip == nil {
		return nil
	}
	var out []*structs.AgentMember
	for _, m := range s.gossip.Members() {
		out = append(out, MemberToAgentMember(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MemberToAgentMember converts a gossip member to its wire form.
func MemberToAgentMember(m gossip.Member) *structs.AgentMember {
	return &structs.AgentMember{
		Name: m.Name, Addr: m.Addr, Port: m.Port, Tags: m.Tags, Status: m.Status,
		ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
	}
}
