package server

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/structs"
)

// memberRaftID returns the Raft ID and address a server member advertises;
// agents from before server IDs advertise no ID and use their address.
func memberRaftID(m gossip.Member) (raft.ServerID, raft.ServerAddress, bool) {
	addr := m.Tags[structs.TagRaftAddr]
	if addr == "" {
		return "", "", false
	}
	id := m.Tags[structs.TagRaftID]
	if id == "" {
		id = addr
	}
	return raft.ServerID(id), raft.ServerAddress(addr), true
}

// raftConfiguration returns the latest Raft configuration.
func (s *Server) raftConfiguration() (raft.Configuration, uint64, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Configuration{}, 0, err
	}
	return f.Configuration(), f.Index(), nil
}

// addRaftPeer adds a server that joined the pool to the Raft configuration
// as a non-voter; autopilot makes it a voter once it has been healthy for
// server_stabilization_time. An entry with the member's address under
// another ID is a previous identity of that address (its data dir was
// wiped, or it was migrated to a UUID) and is removed first.
func (s *Server) addRaftPeer(m gossip.Member) {
	id, addr, ok := memberRaftID(m)
	if !ok || id == s.localID || !s.IsLeader() {
		return
	}
	conf, _, err := s.raftConfiguration()
	if err != nil {
		return
	}
	for _, srv := range conf.Servers {
		if srv.ID == id {
			return
		}
	}
	for _, srv := range conf.Servers {
		if srv.Address == addr && srv.ID != id && srv.ID != s.localID {
			s.logger.Info("removing a previous raft identity of a rejoining server", "addr", addr, "old_id", srv.ID, "new_id", id)
			if err := s.raft.RemoveServer(srv.ID, 0, 10*time.Second).Error(); err != nil {
				s.logger.Warn("removing a previous raft identity failed", "addr", addr, "old_id", srv.ID, "error", err)
				return
			}
		}
	}
	// Even a non-voter receives the whole state: prove the server identity
	// first (issue 8, attack 5).
	if !s.provenServer(m) {
		return
	}
	s.logger.Info("adding raft peer as a non-voter until it is stable", "id", id, "addr", addr, "name", m.Name)
	if err := s.raft.AddNonvoter(id, addr, 0, 10*time.Second).Error(); err != nil {
		s.logger.Warn("adding raft peer failed", "id", id, "addr", addr, "error", err)
	}
}

// removeRaftPeer drops a server that left the pool gracefully.
func (s *Server) removeRaftPeer(m gossip.Member) {
	id, addr, ok := memberRaftID(m)
	if !ok || id == s.localID || !s.IsLeader() {
		return
	}
	conf, _, err := s.raftConfiguration()
	if err != nil {
		return
	}
	for _, srv := range conf.Servers {
		if srv.ID == id || srv.Address == addr {
			s.logger.Info("removing raft peer that left", "id", srv.ID, "addr", srv.Address, "name", m.Name)
			if err := s.raft.RemoveServer(srv.ID, 0, 10*time.Second).Error(); err != nil {
				s.logger.Warn("removing raft peer failed", "id", srv.ID, "error", err)
			}
		}
	}
}
