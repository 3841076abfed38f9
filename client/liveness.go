package client

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
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
	// was sent, or when the last probe was sent that showed a majority
	// of the voters without a leader (then nobody can mark the node down
	// either; see Client.probe).
	lastContact time.Time
	ttl         time.Duration
	numVoters   int
	voters      []string
	servers     []control.ServerInfo
	// stopped are allocations stopped here for lack of contact.
	stopped map[string]bool
	// failing is set while heartbeats fail; hbStart (unix ns) while one
	// is in flight (probeLoop probes when either lasts).
	failing atomic.Bool
	hbStart atomic.Int64
	probes  atomic.Int32
	// noProofAt (unix ns) is when "no proof of contact" was last logged:
	// a long partition must not log ten lines a second.
	noProofAt atomic.Int64
}

// logNoProof reports whether to log a failed proof now: once per 5 s.
func (l *liveness) logNoProof() bool {
	last, now := l.noProofAt.Load(), time.Now().UnixNano()
	return now-last >= int64(5*time.Second) && l.noProofAt.CompareAndSwap(last, now)
}

// needsProof reports whether heartbeats are failing or the one in flight
// is slow (a paused or blackholed server holds it until its deadline).
func (l *liveness) needsProof() bool {
	if l.failing.Load() {
		return true
	}
	start := l.hbStart.Load()
	return start != 0 && time.Since(time.Unix(0, start)) > slowHeartbeat
}

// slowHeartbeat is how long a heartbeat may take before the client
// starts probing beside it.
const slowHeartbeat = 150 * time.Millisecond

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
	if len(r.Voters) > 0 {
		l.voters = r.Voters
	}
	if len(r.Servers) > 0 {
		l.servers = r.Servers
	}
}

// quorumAnswered records that a majority of the voters, asked at sent,
// showed that no leader could mark the node down (see Client.probe).
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

func (l *liveness) voterIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.voters...)
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

// probeInterval is how often a client whose heartbeats fail probes the
// servers (see probe): often enough that a silence long enough to count is
// seen before its TTL runs out.
const probeInterval = 100 * time.Millisecond

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
		// Short attempts: a paused or blackholed server (or a follower
		// forwarding to one) must not use up the time the others need.
		hctx, cancel := context.WithTimeout(ctx, max(ttl/3, 500*time.Millisecond))
		var resp control.HeartbeatResponse
		c.live.hbStart.Store(sent.UnixNano())
		_, err := c.rpc.CallAttempts(hctx, max(ttl/6, 150*time.Millisecond), control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: c.nodeID}, &resp)
		cancel()
		c.live.hbStart.Store(0)
		switch {
		case err == nil:
			c.live.failing.Store(false)
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
		c.live.failing.Store(true)
		next = probeInterval
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

// probe asks every known server at once, without forwarding, whether it
// can vouch for this node (Node.Contact): the leader takes the probe as a
// heartbeat; another voter says how long no leader has reached it. When a
// majority of the voters have all gone without a leader's contact for a
// common stretch of at least control.ContactSilenceMin, no leader could
// have reached a quorum then, and the servers' side of the bargain (a
// leader that went unverified that long gives every node a fresh TTL and
// grace, server/leader_contact.go) means nobody can mark this node down
// before a TTL from the probe: a leader pause or an election does not stop
// its allocations. A follower that still hears a leader proves nothing.
func (c *Client) probe(ctx context.Context) {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	type answer struct {
		id string
		// silence is the server's silence less the answer's own
		// latency: the client cannot tell when, between sending and
		// receiving, the server answered.
		silence time.Duration
		acked   bool
	}
	servers := c.servers.all()
	answers := make(chan answer, len(servers))
	for _, addr := range servers {
		go func() {
			var resp control.ContactResponse
			err := c.rpc.CallServer(ctx, addr, control.MethodNodeContact, &control.HeartbeatRequest{NodeID: c.nodeID}, &resp)
			switch {
			case err != nil:
				answers <- answer{}
			case resp.Heartbeat != nil:
				c.heartbeatOK(sent, resp.Heartbeat)
				answers <- answer{acked: true}
			default:
				answers <- answer{id: resp.ServerID, silence: resp.NoLeaderFor - time.Since(sent)}
			}
		}()
	}
	// Decide as answers come: a paused server never answers.
	voters := c.live.voterIDs()
	silences := map[string]time.Duration{}
	for range servers {
		a := <-answers
		if a.acked {
			return
		}
		if a.id != "" {
			silences[a.id] = a.silence
		}
		if quorumSilent(voters, silences) {
			c.live.quorumAnswered(sent)
			return
		}
	}
	if since, ttl, _ := c.live.state(); since > ttl/2 && c.live.logNoProof() {
		c.logger.Warn("no proof of contact with the servers", "since", since.Round(time.Millisecond), "limit", ttl,
			"silences", silences, "round", time.Since(sent).Round(time.Millisecond))
	}
}

// probeTimeout bounds a probe round. It must stay below the servers'
// heartbeat_grace: a leader that judged the node just before the silence a
// probe relies on began does so at least a grace after the client's last
// proof, after the probe's answers.
const probeTimeout = 500 * time.Millisecond

// quorumSilent reports whether enough voters that every majority includes
// one of them reported silences (each less its answer's latency) of at
// least control.ContactSilenceMin:
// with sent the probe's start and r_i each answer's arrival, the silences
// [t_i - c_i, t_i] (t_i in [sent, r_i]) share at least min_i(c_i - (r_i -
// sent)), ending no earlier than sent.
func quorumSilent(voters []string, silences map[string]time.Duration) bool {
	if len(voters) == 0 {
		return false
	}
	var s []time.Duration
	for _, id := range voters {
		if d, ok := silences[id]; ok {
			s = append(s, d)
		}
	}
	// Enough voters that every majority includes one of them: 2 of 3,
	// 1 of 2, 2 of 4, 3 of 5.
	need := len(voters) - len(voters)/2
	if len(s) < need {
		return false
	}
	slices.Sort(s)
	slices.Reverse(s)
	return s[need-1] >= control.ContactSilenceMin
}

// probeLoop probes the servers every probeInterval while heartbeats fail
// or are slow,
// beside the heartbeat loop's own retries (which go through followers that
// may forward to a live leader the client cannot reach).
func (c *Client) probeLoop(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.live.needsProof() || c.live.probes.Load() >= maxProbes {
			continue
		}
		// Rounds overlap: one waiting for a silent server must not
		// delay the next.
		c.live.probes.Add(1)
		go func() {
			defer c.live.probes.Add(-1)
			c.probe(ctx)
		}()
	}
}

// maxProbes bounds the probe rounds in flight.
const maxProbes = 5

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
