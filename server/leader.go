package server

import (
	"context"
	"time"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// monitorLeadership starts the leader's duties when this server wins an
// election and stops them when it loses leadership.
func (s *Server) monitorLeadership() {
	defer s.wg.Done()
	ch := s.raft.LeaderCh()
	for {
		select {
		case <-s.ctx.Done():
			s.revokeLeadership()
			return
		case isLeader := <-ch:
			if isLeader {
				s.establishLeadership()
			} else {
				s.revokeLeadership()
			}
		}
	}
}

func (s *Server) establishLeadership() {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	if s.leaderCancel != nil {
		return
	}
	// A barrier makes the FSM apply every entry of earlier terms, so the
	// broker is restored from complete state. Without it this server would
	// accept writes as leader while scheduling nothing, so it retries, and
	// hands leadership on if the barrier keeps failing.
	var err error
	for attempt := 0; attempt < 5 && s.IsLeader(); attempt++ {
		if err = s.raft.Barrier(time.Minute).Error(); err == nil {
			break
		}
		s.logger.Warn("raft barrier failed on gaining leadership", "attempt", attempt+1, "error", err)
		time.Sleep(time.Second)
	}
	if err != nil || !s.IsLeader() {
		if s.IsLeader() {
			s.logger.Error("giving up leadership: raft barrier keeps failing", "error", err)
			_ = s.raft.LeadershipTransfer()
		}
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.leaderCancel = cancel
	s.logger.Info("gained cluster leadership", "raft_addr", s.raftAddr)
	s.readGate.set(true)
	s.broker.SetEnabled(true)
	s.blocked.SetEnabled(true)
	// Each term gets its own plan applier: a plan queued by a worker of an
	// earlier term can never reach this term's applier.
	planner := newPlanApplier(s)
	planner.start(ctx)
	s.restoreEvals()
	for i := 0; i < s.cfg.NumWorkers; i++ {
		w := &worker{srv: s, planner: planner, id: i}
		go w.run(ctx)
	}
	s.heartbeats.start(ctx)
	go s.reconcileLoop(ctx)
	go s.autopilotLoop(ctx)
	go s.gcLoop(ctx)
	go s.keyringLoop(ctx)
	s.locks.enable()
	go s.aclTokenGCLoop(ctx)
	go s.deploymentWatcher(ctx)
	go s.nodeDrainer(ctx)
	go s.periodicDispatcher(ctx)
}

func (s *Server) revokeLeadership() {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	if s.leaderCancel == nil {
		return
	}
	s.logger.Info("lost cluster leadership")
	s.readGate.set(false)
	s.leaderCancel()
	s.leaderCancel = nil
	s.locks.disable()
	s.heartbeats.stop()
	s.broker.SetEnabled(false)
	s.blocked.SetEnabled(false)
}

// onCommit runs on Raft's apply goroutine after every entry that wrote
// evaluations or freed capacity. On the leader it hands pending evals to the
// broker and blocked ones to the blocked tracker, then retries blocked evals
// if capacity appeared. It is the one path by which committed evals reach
// the broker, so no write path can forget to enqueue what it commits. On
// followers the broker and tracker are disabled and it does nothing.
func (s *Server) onCommit(_ uint64, eff state.Effects) {
	for _, e := range eff.Evals {
		switch e.Status {
		case structs.EvalStatusPending:
			s.broker.Enqueue(e)
		case structs.EvalStatusBlocked:
			s.blocked.Block(e)
		}
	}
	if eff.CapacityFreed {
		s.blocked.Unblock()
	}
}

// restoreEvals re-enqueues every unfinished eval from state: the broker's
// queues live only in the leader's memory.
func (s *Server) restoreEvals() {
	evals, err := s.State().EvalsByIDPrefix(nil, "*", "")
	if err != nil {
		s.logger.Error("listing evals to restore", "error", err)
		return
	}
	for _, e := range evals {
		switch e.Status {
		case structs.EvalStatusPending:
			s.broker.Enqueue(e)
		case structs.EvalStatusBlocked:
			s.blocked.Block(e)
		}
	}
	// State changed while no leader watched: let blocked evals try again.
	s.blocked.Unblock()
}

// reconcileLoop keeps Raft membership in line with gossip, catching events
// that happened while there was no leader. Node liveness is not gossip's:
// the heartbeat timers decide it.
func (s *Server) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		s.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) reconcile() {
	if s.gossip == nil || !s.IsLeader() {
		return
	}
	for _, m := range s.gossip.Members() {
		if m.Status == gossip.StatusAlive && m.Tags[structs.TagRole] == "server" && m.Tags[structs.TagRegion] == s.cfg.Region {
			s.addRaftPeer(m)
		}
	}
}
