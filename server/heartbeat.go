package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// HeartbeatConfig is Nomad's server heartbeat tuning. The leader marks a
// node that has not heartbeated for TTL plus Grace disconnected or down.
// Clients heartbeat HeartbeatsPerTTL times per TTL, so one late or lost
// heartbeat costs nothing, and stop what would be replaced after a TTL
// without contact. The TTL grows with the number of nodes so the leader
// receives at most MaxPerSecond heartbeats a second.
type HeartbeatConfig struct {
	// MinTTL is the shortest TTL (min_heartbeat_ttl). Default 1.5s.
	MinTTL time.Duration
	// MaxPerSecond is the target heartbeat rate at the leader
	// (max_heartbeats_per_second). Default 500.
	MaxPerSecond float64
	// Grace is added to the TTL before a node counts as missing
	// (heartbeat_grace). Default 1s.
	Grace time.Duration
	// FailoverTTL is every node's first deadline after a leader election
	// (failover_heartbeat_ttl), so clients have time to find the new
	// leader. Default 30s; never less than the TTL plus grace.
	FailoverTTL time.Duration
}

// Default heartbeat tuning, for a LAN: clients of a cluster of up to 250
// nodes heartbeat every 0.5 s and a dead one is declared missing 2.0-2.65 s
// after it died (TTL plus grace after its last heartbeat, up to a third of
// a TTL before the death). Nomad's defaults (10s, 50/s, 10s, 5m) suit slower
// networks and can be set in the server block.
const (
	DefaultMinHeartbeatTTL        = 1500 * time.Millisecond
	DefaultMaxHeartbeatsPerSecond = 500
	DefaultHeartbeatGrace         = time.Second
	DefaultFailoverHeartbeatTTL   = 30 * time.Second
)

// HeartbeatsPerTTL is how many heartbeats a client sends per TTL.
const HeartbeatsPerTTL = 3

func (c HeartbeatConfig) withDefaults() HeartbeatConfig {
	if c.MinTTL <= 0 {
		c.MinTTL = DefaultMinHeartbeatTTL
	}
	if c.MaxPerSecond <= 0 {
		c.MaxPerSecond = DefaultMaxHeartbeatsPerSecond
	}
	if c.Grace <= 0 {
		c.Grace = DefaultHeartbeatGrace
	}
	if c.FailoverTTL <= 0 {
		c.FailoverTTL = DefaultFailoverHeartbeatTTL
	}
	return c
}

// heartbeats holds the leader's in-memory liveness timers, one per node
// that is not down. Heartbeats only reset timers; Raft is written when a
// node's status changes (a timer fires, or a heartbeat arrives from a node
// that was disconnected or down). Like every leader loop it starts from
// state when leadership is gained and forgets everything when it is lost.
type heartbeats struct {
	s   *Server
	cfg HeartbeatConfig

	// statusMu serializes node status changes between heartbeats and
	// timer expiry, so a heartbeat is never lost to a concurrent down
	// verdict.
	statusMu sync.Mutex

	mu      sync.Mutex
	enabled bool
	timers  map[string]*nodeTimer
	// expired queues nodes whose timer fired, handled one at a time.
	expired chan string
	cancel  context.CancelFunc

	// created bounds what this process can say about its past: before
	// it started it knows nothing (see noLeaderFor).
	created time.Time
	// verifyMu serializes leadership verifications; lastVerified is
	// when the last successful one started, zero until this term's first.
	verifyMu     sync.Mutex
	lastVerified time.Time
	// leading is set while this server's Raft leads; leaderUntil (ns after
	// created) is when it last stopped (observeLeadership).
	leading     atomic.Bool
	leaderUntil atomic.Int64
}

type nodeTimer struct {
	t *time.Timer
	// last is when the node last heartbeated (or the timer was set at
	// leadership); ttl is the TTL it was given then; due is when the
	// timer fires.
	last time.Time
	ttl  time.Duration
	due  time.Time
}

func newHeartbeats(s *Server, cfg HeartbeatConfig) *heartbeats {
	return &heartbeats{s: s, cfg: cfg.withDefaults(), timers: map[string]*nodeTimer{}, created: time.Now()}
}

// ttl is the TTL to hand out now: large enough that all live nodes, each
// heartbeating HeartbeatsPerTTL times a TTL, stay under MaxPerSecond
// heartbeats a second; jittered up to 10% so nodes that registered together
// spread out.
func (h *heartbeats) ttl(nodes int) time.Duration {
	base := h.baseTTL(nodes)
	return base + rand.N(base/10+1)
}

func (h *heartbeats) baseTTL(nodes int) time.Duration {
	base := time.Duration(float64(nodes*HeartbeatsPerTTL) / h.cfg.MaxPerSecond * float64(time.Second))
	return max(base, h.cfg.MinTTL)
}

// maxTTL is the longest TTL any leader with this tuning hands out to a
// cluster of this size (ttl's jitter included).
func (h *heartbeats) maxTTL(nodes int) time.Duration {
	base := h.baseTTL(nodes)
	return base + base/10 + 1
}

// start arms a timer for every node that is not down, from state, with the
// failover TTL: clients need a moment to reach the new leader.
func (h *heartbeats) start(ctx context.Context) {
	nodes, err := h.s.State().NodesByIDPrefix(nil, "")
	if err != nil {
		h.s.logger.Error("listing nodes for heartbeat timers", "error", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	h.verifyMu.Lock()
	h.lastVerified = time.Time{}
	h.verifyMu.Unlock()
	h.mu.Lock()
	h.enabled = true
	h.cancel = cancel
	h.expired = make(chan string, 1024)
	now := time.Now()
	failover := max(h.cfg.FailoverTTL, h.ttl(len(nodes))+h.cfg.Grace)
	for _, n := range nodes {
		switch n.Status {
		case structs.NodeStatusDown:
			continue
		case structs.NodeStatusDisconnected:
			// Its allocations' lost_after runs from when they went
			// unknown; a heartbeat brings the node back meanwhile.
			next, _ := h.nextLost(n.ID, now)
			h.arm(n.ID, max(time.Until(next), 0), now, 0)
		default:
			h.arm(n.ID, failover, now, 0)
		}
	}
	h.mu.Unlock()
	go h.run(ctx)
	go h.verifyLoop(ctx)
}

// stop disarms every timer: only the leader keeps them.
func (h *heartbeats) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.enabled = false
	if h.cancel != nil {
		h.cancel()
	}
	for id, t := range h.timers {
		t.t.Stop()
		delete(h.timers, id)
	}
}

// arm sets (or resets) a node's timer to fire after d. h.mu is held.
func (h *heartbeats) arm(nodeID string, d time.Duration, last time.Time, ttl time.Duration) {
	if t, ok := h.timers[nodeID]; ok {
		t.t.Stop()
	}
	expired := h.expired
	nt := &nodeTimer{last: last, ttl: ttl, due: time.Now().Add(d)}
	nt.t = time.AfterFunc(d, func() {
		select {
		case expired <- nodeID:
		default:
			// The queue is full of expirations already: the node's
			// timer is re-armed briefly so it is not forgotten.
			h.mu.Lock()
			if h.enabled && h.timers[nodeID] == nt {
				nt.t.Reset(100 * time.Millisecond)
			}
			h.mu.Unlock()
		}
	})
	h.timers[nodeID] = nt
}

// clientRestartGrace is how long the leader waits for a client that
// announced a graceful shutdown (an agent restart or upgrade) before
// declaring its node missing.
const clientRestartGrace = 30 * time.Second

// beat records a heartbeat of a live node and returns its TTL; false when
// this server is not (or no longer) the leader. A leaving node's deadline
// is at least clientRestartGrace away.
func (h *heartbeats) beat(nodeID string, leaving bool) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.enabled {
		return 0, false
	}
	n := len(h.timers)
	if _, ok := h.timers[nodeID]; !ok {
		n++
	}
	ttl := h.ttl(n)
	d := ttl + h.cfg.Grace
	if leaving {
		d = max(d, clientRestartGrace)
	}
	h.arm(nodeID, d, time.Now(), ttl)
	return ttl, true
}

// forget drops a node's timer (it went down).
func (h *heartbeats) forget(nodeID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.timers[nodeID]; ok {
		t.t.Stop()
		delete(h.timers, nodeID)
	}
}

// hint acts on a gossip report that a node failed: never a verdict by
// itself, it only cuts short the grace of a node that has already missed
// its heartbeat (its TTL ran out). A node heartbeating on time is left
// alone, whoever gossip believes.
func (h *heartbeats) hint(nodeID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.timers[nodeID]
	if !h.enabled || !ok || t.ttl == 0 || time.Since(t.last) <= t.ttl {
		return false
	}
	t.t.Reset(0)
	return true
}

// run handles expired timers one at a time until leadership ends.
func (h *heartbeats) run(ctx context.Context) {
	h.mu.Lock()
	expired := h.expired
	h.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-expired:
			if err := h.expire(ctx, id); err != nil {
				h.s.logger.Error("handling missed heartbeat", "node_id", id, "error", err)
				h.mu.Lock()
				if h.enabled {
					if t, ok := h.timers[id]; ok {
						t.t.Reset(time.Second) // retry
					}
				}
				h.mu.Unlock()
			}
		}
	}
}

// expire handles a node whose timer ran out. A ready node that missed its
// heartbeats goes disconnected (if some allocation on it tolerates a
// disconnection) or down. A disconnected node's timer runs to the next
// lost_after deadline of its unknown allocations: it is committed
// disconnected again (the FSM marks the expired ones lost) while some
// deadline lies ahead, and down after the last.
func (h *heartbeats) expire(ctx context.Context, nodeID string) error {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	h.mu.Lock()
	t, ok := h.timers[nodeID]
	live := ok && h.enabled && t.t != nil
	h.mu.Unlock()
	if !live || ctx.Err() != nil {
		return nil
	}
	// Only a leader that was there the whole time judges a missed
	// heartbeat: if it was paused or cut off from its quorum, clients
	// may have seen that and kept their allocations (see sure).
	if gap, err := h.sure(); err != nil || gap {
		return err
	}
	h.mu.Lock()
	cur, ok := h.timers[nodeID]
	h.mu.Unlock()
	if !ok || cur != t {
		return nil // re-armed meanwhile (a heartbeat or a gap)
	}
	node, err := h.s.State().NodeByID(nil, nodeID)
	if err != nil {
		return fmt.Errorf("reading node: %w", err)
	}
	if node == nil || node.Status == structs.NodeStatusDown {
		h.forget(nodeID)
		return nil
	}
	status, desc := structs.NodeStatusDown, "node missed its heartbeats"
	if node.Status != structs.NodeStatusDisconnected {
		if h.tolerated(nodeID) {
			status, desc = structs.NodeStatusDisconnected, "node missed its heartbeats; its allocations may reconnect"
		}
	} else if next, _ := h.nextLost(nodeID, time.Now()); !next.IsZero() {
		status, desc = structs.NodeStatusDisconnected, "node still disconnected; allocations past their lost_after are lost"
	} else {
		desc = "node stayed disconnected past its allocations' lost_after"
	}
	if err := h.s.setNodeStatus(node, status, desc); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.timers[nodeID]; !ok || cur != t {
		return nil // a heartbeat arrived meanwhile
	}
	if status == structs.NodeStatusDisconnected {
		next, _ := h.nextLost(nodeID, time.Now())
		h.arm(nodeID, max(time.Until(next), 0), t.last, 0)
		return nil
	}
	t.t.Stop()
	delete(h.timers, nodeID)
	return nil
}

// tolerated reports whether some live allocation on the node may outlive a
// disconnection as unknown for a while (its group's lost_after).
func (h *heartbeats) tolerated(nodeID string) bool {
	allocs, err := h.s.State().AllocsByNode(nil, nodeID)
	if err != nil {
		return false
	}
	for _, a := range allocs {
		if p := structs.AllocDisconnectPolicy(a); !a.ClientTerminalStatus() && p.LostAfter > 0 && !p.NeverLost {
			return true
		}
	}
	return false
}

// nextLost is the earliest lost_after deadline after now among the node's
// unknown allocations, zero when none lies ahead; expired reports whether
// some deadline has passed already.
func (h *heartbeats) nextLost(nodeID string, now time.Time) (next time.Time, expired bool) {
	allocs, err := h.s.State().AllocsByNode(nil, nodeID)
	if err != nil {
		return time.Time{}, false
	}
	for _, a := range allocs {
		p := structs.AllocDisconnectPolicy(a)
		if a.ClientStatus != structs.AllocClientStatusUnknown || p.LostAfter <= 0 || p.NeverLost {
			continue
		}
		d := a.UnknownSince().Add(p.LostAfter)
		if !d.After(now) {
			expired = true
			continue
		}
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next, expired
}

// setNodeStatus commits a node status change; the FSM marks the node's
// allocations and evaluates its jobs in the same transaction.
func (s *Server) setNodeStatus(node *structs.Node, status, desc string) error {
	if _, err := s.raftApply(raftfsm.NodeStatusChangeType, &raftfsm.NodeStatusChange{
		NodeID: node.ID, Status: status, Description: desc, Time: s.now(),
	}); err != nil {
		return fmt.Errorf("committing node status %s: %w", status, err)
	}
	s.logger.Info("node status changed", "node_id", node.ID, "name", node.Name, "from", node.Status, "to", status, "reason", desc)
	return nil
}
