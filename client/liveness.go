package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// startupContactGrace is how long a starting client may take to reach the
// servers before the allocations it restored count as cut off.
const startupContactGrace = 10 * time.Second

// liveness is the client's view of its contact with the servers. The
// leader marks the node missing TTL plus its grace after the last heartbeat
// it received; the client, which stamps each heartbeat with the time it
// sent it, therefore always sees its own deadline (lastContact + TTL)
// pass before the leader's, and stops allocations that must not outlive a
// disconnection before any replacement can be placed.
type liveness struct {
	mu sync.Mutex
	// lastContact is when the last heartbeat that the leader acknowledged
	// was sent, or when a majority of the servers last answered while
	// there was no leader (then nobody can mark the node down either).
	lastContact time.Time
	ttl         time.Duration
	numVoters   int
	servers     []control.ServerInfo
	// stopped are allocations stopped here for lack of contact.
	stopped map[string]bool
}

func newLiveness() *liveness {
	return &liveness{lastContact: time.Now(), ttl: startupContactGrace, stopped: map[string]bool{}}
}

// heartbeatOK records a heartbeat sent at sent and acknowledged.
func (l *liveness) heartbeatOK(sent time.Time, r *control.HeartbeatResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sent.After(l.lastContact) {
		l.lastContact = sent
	}
	if r.HeartbeatTTL > 0 {
		l.ttl = r.HeartbeatTTL
	}
	if r.NumVoters > 0 {
		l.numVoters = r.NumVoters
	}
	if len(r.Servers) > 0 {
		l.servers = r.Servers
	}
}

// quorumAnswered records that a majority of the voters answered at sent,
// without a leader.
func (l *liveness) quorumAnswered(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sent.After(l.lastContact) {
		l.lastContact = sent
	}
}

func (l *liveness) state() (since, ttl time.Duration, voters int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.lastContact), l.ttl, l.numVoters
}

func (l *liveness) serverInfos() []control.ServerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]control.ServerInfo(nil), l.servers...)
}

func (l *liveness) heartbeatTTL() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ttl
}

// stopAfter is how long an allocation of a group with policy p may run
// without contact with the servers; false when it may run on.
//   - no disconnect settings: the TTL, since its node is marked down (and
//     the allocation replaced) TTL plus the heartbeat grace after the last
//     heartbeat;
//   - stop_on_client_after: that long (the servers wait as long before
//     replacing it);
//   - lost_after: TTL plus lost_after, when the servers declare it lost;
//   - prevent_reschedule_on_lost: never replaced, so it runs on.
func stopAfter(p structs.DisconnectPolicy, ttl time.Duration) (time.Duration, bool) {
	switch {
	case p.StopOnClientAfter > 0:
		return p.StopOnClientAfter, true
	case p.NeverLost:
		return 0, false
	case p.LostAfter > 0:
		return ttl + p.LostAfter, true
	}
	return ttl, true
}

// heartbeatsPerTTL is how many heartbeats the client sends per TTL (the
// servers size TTLs for it): its limit for stopping allocations (a TTL
// without contact) is then several heartbeats away, so one slow round trip
// never stops anything.
const heartbeatsPerTTL = 3

// heartbeatLoop heartbeats through any server (followers forward to the
// leader), re-registers when the leader no longer knows the node, and
// retries quickly when a heartbeat fails.
func (c *Client) heartbeatLoop(ctx context.Context) {
	next := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		sent := time.Now()
		ttl := c.live.heartbeatTTL()
		hctx, cancel := context.WithTimeout(ctx, max(ttl/2, 500*time.Millisecond))
		var resp control.HeartbeatResponse
		_, err := c.rpc.Call(hctx, control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: c.nodeID}, &resp)
		cancel()
		switch {
		case err == nil:
			c.heartbeatOK(sent, &resp)
			next = max(resp.HeartbeatTTL/heartbeatsPerTTL-time.Since(sent), 50*time.Millisecond)
			continue
		case ctx.Err() != nil:
			return
		case control.IsCode(err, 404):
			c.logger.Warn("servers do not know this node; registering again", "node_id", c.nodeID)
			if !c.registerUntilDone(ctx) {
				return
			}
			next = 0
			continue
		}
		c.logger.Warn("heartbeat failed", "error", err)
		c.checkQuorum(ctx, sent)
		next = min(max(ttl/heartbeatsPerTTL-time.Since(sent), 50*time.Millisecond), time.Second)
	}
}

// leave tells the leader, at a graceful shutdown, that the agent will be
// back: tasks keep running, so its node should not be declared missing
// for a routine restart.
func (c *Client) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.rpc.Call(ctx, control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: c.nodeID, Leaving: true}, nil); err != nil {
		c.logger.Warn("announcing a graceful shutdown to the servers", "error", err)
	}
}

func (c *Client) heartbeatOK(sent time.Time, r *control.HeartbeatResponse) {
	c.live.heartbeatOK(sent, r)
	addrs := make([]string, 0, len(r.Servers))
	for _, s := range r.Servers {
		addrs = append(addrs, s.RPCAddr)
	}
	if len(addrs) > 0 {
		c.servers.setLearned(addrs)
	}
}

// checkQuorum asks every known server at once whether it is there: when a
// majority of the voters answer (even "no leader"), no leader can exist
// that could mark this node down, so the node is not cut off; a leader
// election must not stop its allocations.
func (c *Client) checkQuorum(ctx context.Context, sent time.Time) {
	_, ttl, voters := c.live.state()
	if voters == 0 {
		return
	}
	servers := c.servers.all()
	ctx, cancel := context.WithTimeout(ctx, max(ttl/2, 500*time.Millisecond))
	defer cancel()
	var mu sync.Mutex
	answered := 0
	var wg sync.WaitGroup
	for _, addr := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp control.HeartbeatResponse
			err := c.rpc.CallServer(ctx, addr, control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: c.nodeID}, &resp)
			var ce *control.Error
			if err == nil || (errors.As(err, &ce) && ce.Code != 504) {
				mu.Lock()
				answered++
				mu.Unlock()
			}
			if err == nil {
				c.heartbeatOK(sent, &resp)
			}
		}()
	}
	wg.Wait()
	if answered*2 > voters {
		c.live.quorumAnswered(sent)
	}
}

// disconnectLoop stops the allocations that must not outlive a loss of
// contact with the servers (see stopAfter), checking four times a second.
func (c *Client) disconnectLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.stopDisconnected()
	}
}

func (c *Client) stopDisconnected() {
	since, ttl, _ := c.live.state()
	if since < ttl {
		c.live.mu.Lock()
		clear(c.live.stopped)
		c.live.mu.Unlock()
	}
	c.mu.RLock()
	type victim struct {
		id    string
		after time.Duration
		kill  func()
	}
	var victims []victim
	for id, r := range c.runners {
		a := r.Alloc()
		if a.ClientTerminalStatus() {
			continue
		}
		after, ok := stopAfter(structs.AllocDisconnectPolicy(a), ttl)
		if ok && since > after {
			victims = append(victims, victim{id, after, r.Kill})
		}
	}
	c.mu.RUnlock()
	for _, v := range victims {
		c.live.mu.Lock()
		done := c.live.stopped[v.id]
		c.live.stopped[v.id] = true
		c.live.mu.Unlock()
		if done {
			continue
		}
		c.logger.Warn("stopping allocation: no contact with the servers", "alloc", v.id,
			"since", since.Round(time.Millisecond), "limit", v.after)
		v.kill()
	}
}
