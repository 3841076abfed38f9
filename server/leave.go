package server

import (
	"time"

	"github.com/hashicorp/raft"
)

// Leave takes this server out of the cluster before it stops (SIGTERM): a
// leader first hands leadership to another voter, so the cluster does not
// wait out an election timeout; then leaveGossip announces the departure,
// on which the leader removes this server from the Raft configuration, and
// Leave waits (up to timeout) until it has. A server from before server
// IDs writes its node-id once removed, so it rejoins under a UUID.
func (s *Server) Leave(timeout time.Duration, leaveGossip func()) {
	deadline := time.Now().Add(timeout)
	conf, _, err := s.raftConfiguration()
	if err != nil {
		s.logger.Warn("leaving: reading the raft configuration", "error", err)
		leaveGossip()
		return
	}
	others := 0
	for _, srv := range conf.Servers {
		if srv.ID != s.localID && srv.Suffrage == raft.Voter {
			others++
		}
	}
	if others == 0 {
		// The last voter has nobody to hand over to or be removed by.
		leaveGossip()
		return
	}
	if s.IsLeader() {
		if err := s.raft.LeadershipTransfer().Error(); err != nil {
			s.logger.Warn("leaving: leadership transfer failed; the others elect a leader once this server stops", "error", err)
		} else {
			s.logger.Info("leaving: leadership handed over")
		}
	}
	leaveGossip()
	left := time.Now()
	for time.Now().Before(deadline) {
		// A removed server may never receive the entry removing it, but
		// the leader stops replicating to it: silence from the leader
		// for over a heartbeat timeout after leaving means the same.
		silent := time.Since(left) > 2*time.Second && s.LastContact() > 1500*time.Millisecond
		if !s.inConfiguration() || silent {
			s.logger.Info("leaving: removed from the raft configuration")
			if string(s.localID) == s.raftAddr {
				if _, err := createServerID(s.cfg.DataDir); err != nil {
					s.logger.Warn("leaving: writing the server ID for the next start", "error", err)
				}
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.logger.Warn("leaving: not removed from the raft configuration in time; autopilot removes it once it is seen gone", "timeout", timeout)
}

func (s *Server) inConfiguration() bool {
	conf, _, err := s.raftConfiguration()
	if err != nil {
		return true
	}
	for _, srv := range conf.Servers {
		if srv.ID == s.localID {
			return true
		}
	}
	return false
}
