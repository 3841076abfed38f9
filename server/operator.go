package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// RaftConfiguration returns the Raft configuration as this server knows
// it (GET /v1/operator/raft/configuration).
func (s *Server) RaftConfiguration() (*structs.RaftConfigurationResponse, error) {
	conf, index, err := s.raftConfiguration()
	if err != nil {
		return nil, fmt.Errorf("reading the raft configuration: %w", err)
	}
	members := s.serverMembers()
	_, leaderID := s.raft.LeaderWithID()
	out := &structs.RaftConfigurationResponse{Index: index}
	for _, srv := range conf.Servers {
		node := "(unknown)"
		if m, ok := members[srv.ID]; ok {
			node = m.Name
		}
		out.Servers = append(out.Servers, &structs.RaftServer{
			ID: string(srv.ID), Node: node, Address: string(srv.Address), Leader: srv.ID == leaderID,
			Voter: srv.Suffrage == raft.Voter, RaftProtocol: "3",
		})
	}
	return out, nil
}

// RemoveRaftPeer removes a server from the Raft configuration by ID or by
// address (DELETE /v1/operator/raft/peer): for a server that is gone for
// good and that autopilot has not removed.
func (s *Server) RemoveRaftPeer(ctx context.Context, id, address string) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	if (id == "") == (address == "") {
		return fmt.Errorf("%w: give exactly one of id and address", ErrBadInput)
	}
	conf, _, err := s.raftConfiguration()
	if err != nil {
		return err
	}
	for _, srv := range conf.Servers {
		if (id != "" && string(srv.ID) == id) || (address != "" && string(srv.Address) == address) {
			if srv.ID == s.localID {
				return fmt.Errorf("%w: %s is the leader; stop it (it hands leadership over and leaves) or remove it from another server once it is not", ErrBadInput, srv.ID)
			}
			timeout := 10 * time.Second
			if dl, ok := ctx.Deadline(); ok {
				timeout = time.Until(dl)
			}
			if err := s.raft.RemoveServer(srv.ID, 0, timeout).Error(); err != nil {
				return fmt.Errorf("removing raft peer %s: %w", srv.ID, err)
			}
			s.logger.Info("raft peer removed by an operator", "id", srv.ID, "addr", srv.Address)
			return nil
		}
	}
	if id != "" {
		return fmt.Errorf("%w: id %q was not found in the Raft configuration", ErrBadInput, id)
	}
	return fmt.Errorf("%w: address %q was not found in the Raft configuration", ErrBadInput, address)
}

// StateHash digests this server's replicated state (see
// raftfsm.StateHash); servers at the same index must agree.
func (s *Server) StateHash() (structs.StateHash, error) {
	return raftfsm.StateHash(s.State().Snapshot())
}
