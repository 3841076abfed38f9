package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/control"
)

// A client stops its allocations when it could not show, for a TTL, that
// no server could have marked its node down (client/liveness.go). A
// heartbeat the leader acknowledged is one proof. The other is what a
// majority of the voters say when the leader is paused or cut off: "no
// leader has reached me for c" (Node.Contact). Every leader needs a
// majority, which shares a voter with those, so no leader reached a quorum
// during the overlap of their silences. The leader side of the bargain:
// it verifies its leadership (a round of Raft heartbeats to a majority)
// every leaderVerifyInterval, and when two successful verifications are
// further apart than LeaderGapMax — it was paused, starved or cut off —
// it treats the end of the gap like an election and gives every node at
// least a TTL plus grace from then. It also verifies before judging any
// missed heartbeat. So a leader can mark a node down only if it could
// have heard its heartbeats all along.
//
// The bound assumes a Raft response reaches the leader's replication
// goroutine within RaftResponseDelayMax of the follower recording the
// contact: a success carried by an older response could otherwise hide
// part of a silence. Clients therefore ask for a common silence of at
// least control.ContactSilenceMin = LeaderGapMax + RaftResponseDelayMax.
const (
	leaderVerifyInterval = 50 * time.Millisecond
	// LeaderGapMax is the longest time between the starts of two
	// successful leadership verifications that does not count as a gap.
	LeaderGapMax = 250 * time.Millisecond
	// RaftResponseDelayMax is the assumed bound described above.
	RaftResponseDelayMax = control.ContactSilenceMin - LeaderGapMax
)

// verifyLoop verifies leadership continuously while this server leads.
func (h *heartbeats) verifyLoop(ctx context.Context) {
	t := time.NewTicker(leaderVerifyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := h.sure(); err != nil && ctx.Err() == nil {
			h.s.logger.Debug("verifying leadership", "error", err)
		}
	}
}

// sure verifies leadership with a majority and reports whether the
// verification ended a gap (the first of a term does), in which case every
// node's deadline was pushed to at least a TTL plus grace from now.
func (h *heartbeats) sure() (gap bool, err error) {
	h.verifyMu.Lock()
	defer h.verifyMu.Unlock()
	start := time.Now()
	if err := h.s.raft.VerifyLeader().Error(); err != nil {
		return false, fmt.Errorf("verifying leadership: %w", err)
	}
	end := time.Now()
	prev := h.lastVerified
	gap = prev.IsZero() || end.Sub(prev) > LeaderGapMax
	h.lastVerified = start
	if gap {
		if n := h.extendAll(end); n > 0 && !prev.IsZero() {
			h.s.logger.Warn("leadership went unverified for a while; node heartbeat deadlines extended",
				"nodes", n, "gap", end.Sub(prev).Round(time.Millisecond))
		}
	}
	return gap, nil
}

// extendAll gives every node whose deadline is nearer at least the
// longest TTL plus grace from now, the most a client may have assumed
// from a silence ending now. It returns how many timers it moved.
func (h *heartbeats) extendAll(now time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.enabled {
		return 0
	}
	due := now.Add(h.maxTTL(len(h.timers)) + h.cfg.Grace)
	n := 0
	for id, t := range h.timers {
		if !t.due.Before(due) {
			continue
		}
		// A new timer object: an expiry in flight sees it and stands
		// down.
		h.arm(id, time.Until(due), t.last, t.ttl)
		n++
	}
	return n
}

// observeLeadership tracks, synchronously with Raft's state changes, when
// this server stopped leading: a server that led during a silence it
// reports would vouch for its own term.
func (h *heartbeats) observeLeadership(r *raft.Raft) {
	r.RegisterObserver(raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		st, ok := o.Data.(raft.RaftState)
		if !ok {
			return false
		}
		if st == raft.Leader {
			h.leading.Store(true)
			return false
		}
		if h.leading.Load() {
			h.leaderUntil.Store(max(int64(time.Since(h.created)), 1))
			h.leading.Store(false)
		}
		return false
	}))
}

// noLeaderFor is how long no leader has reached this server (its
// contribution to a client's proof that nobody can mark it down), zero
// while it leads. Contact is an accepted AppendEntries or InstallSnapshot
// (contactTransport: not a vote, which an election hands out without any
// leader), or this server's own leadership; a restarted server knows only
// its own lifetime.
func (h *heartbeats) noLeaderFor() time.Duration {
	if h.s.raft.State() == raft.Leader || h.leading.Load() {
		return 0
	}
	last := h.created
	if c := h.s.contact.lastLeaderContact(); c.After(last) {
		last = c
	}
	if ns := h.leaderUntil.Load(); ns != 0 {
		if t := h.created.Add(time.Duration(ns)); t.After(last) {
			last = t
		}
	}
	return max(time.Since(last), 0)
}

// ctlContact answers a client that could not heartbeat through the usual
// path: the leader takes it as a heartbeat; any other server says how long
// no leader has reached it, without forwarding — also to a node its replica
// does not know yet (a restarted server behind on its log): that says
// nothing about the node, only about this server.
func (s *Server) ctlContact(ctx context.Context, c *control.Call) (any, error) {
	resp := &control.ContactResponse{ServerID: string(s.localID)}
	if s.IsLeader() && !c.Unverified {
		hb, err := s.ctlHeartbeat(ctx, c)
		if err != nil {
			return nil, err
		}
		resp.Heartbeat = hb.(*control.HeartbeatResponse)
		return resp, nil
	}
	resp.NoLeaderFor = s.heartbeats.noLeaderFor()
	return resp, nil
}
