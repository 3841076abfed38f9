package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Autopilot (a leader loop): every second the leader gathers each server's
// Raft stats, judges its health as Nomad's autopilot does, makes non-voters
// that have been healthy for server_stabilization_time voters, and, with
// cleanup_dead_servers, removes servers that failed or left. Its
// configuration lives in Raft (AutopilotSetConfig); the agent's autopilot
// block seeds it when the cluster has none.

const autopilotInterval = time.Second

// autopilot keeps what the leader's loop learns between runs.
type autopilot struct {
	srv *Server
	hc  *http.Client

	mu sync.Mutex
	// stable records, per server, its health and since when.
	stable map[raft.ServerID]healthMark
	last   *structs.OperatorHealthReply
	// heldBack is the dead voter last kept for want of healthy voters,
	// so the warning is logged once, not every second.
	heldBack string
}

type healthMark struct {
	healthy bool
	since   time.Time
}

func newAutopilot(s *Server) *autopilot {
	tr := &http.Transport{TLSClientConfig: s.cfg.PeerTLS, MaxIdleConnsPerHost: 2}
	return &autopilot{srv: s, hc: &http.Client{Timeout: time.Second, Transport: tr}, stable: map[raft.ServerID]healthMark{}}
}

// AutopilotConfig returns the cluster's autopilot configuration: the
// stored one, or the agent's until one is stored.
func (s *Server) AutopilotConfig() (*structs.AutopilotConfig, error) {
	c, err := s.State().Snapshot().AutopilotConfig(nil)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return s.seedAutopilotConfig(), nil
	}
	return c, nil
}

func (s *Server) seedAutopilotConfig() *structs.AutopilotConfig {
	if s.cfg.Autopilot != nil {
		c := *s.cfg.Autopilot
		return &c
	}
	return structs.DefaultAutopilotConfig()
}

// SetAutopilotConfig stores a new autopilot configuration. With cas it is
// stored only if the current one's ModifyIndex is index; the bool says
// whether it was stored.
func (s *Server) SetAutopilotConfig(ctx context.Context, c *structs.AutopilotConfig, cas bool, index uint64) (bool, uint64, error) {
	if !s.IsLeader() {
		return false, 0, ErrNotLeader
	}
	if err := c.Validate(); err != nil {
		return false, 0, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	idx, err := s.raftApplyCtx(ctx, raftfsm.AutopilotSetConfigType, &raftfsm.AutopilotSetConfig{Config: c, CAS: cas, Index: index})
	if errors.Is(err, state.ErrCASConflict) {
		return false, idx, nil
	}
	if err != nil {
		return false, 0, err
	}
	return true, idx, nil
}

// autopilotLoop runs the leader's autopilot for one term.
func (s *Server) autopilotLoop(ctx context.Context) {
	if c, err := s.State().Snapshot().AutopilotConfig(nil); err == nil && c == nil {
		// Nomad stores the agent's configuration on first leadership.
		if _, _, err := s.SetAutopilotConfig(ctx, s.seedAutopilotConfig(), true, 0); err != nil && ctx.Err() == nil {
			s.logger.Warn("storing the initial autopilot configuration", "error", err)
		}
	}
	t := time.NewTicker(autopilotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cfg, err := s.AutopilotConfig()
		if err != nil {
			s.logger.Warn("reading the autopilot configuration", "error", err)
			continue
		}
		reply, err := s.autopilot.update(ctx, cfg)
		if err != nil {
			continue
		}
		s.autopilot.promoteStable(cfg, reply)
		// Without a gossip pool there is nothing to tell a dead server by.
		if cfg.CleanupDeadServers && s.gossip != nil {
			s.autopilot.pruneDead(cfg, reply)
		}
	}
}

// AutopilotHealth returns the leader's latest view of the servers' health.
func (s *Server) AutopilotHealth(ctx context.Context) (*structs.OperatorHealthReply, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	cfg, err := s.AutopilotConfig()
	if err != nil {
		return nil, err
	}
	return s.autopilot.update(ctx, cfg)
}

// update gathers every server's stats and judges its health.
func (a *autopilot) update(ctx context.Context, cfg *structs.AutopilotConfig) (*structs.OperatorHealthReply, error) {
	s := a.srv
	conf, _, err := s.raftConfiguration()
	if err != nil {
		return nil, err
	}
	members := s.serverMembers()
	stats := a.fetchStats(ctx, conf, members)
	leaderTerm, _ := strconv.ParseUint(s.raft.Stats()["term"], 10, 64)
	leaderIndex := s.raft.LastIndex()
	now := time.Now()
	reply := &structs.OperatorHealthReply{Healthy: true, Leader: string(s.localID)}
	healthyVoters, voters := 0, 0
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[raft.ServerID]bool{}
	for _, srv := range conf.Servers {
		seen[srv.ID] = true
		h := structs.ServerHealth{ID: string(srv.ID), Address: string(srv.Address), SerfStatus: "none",
			Voter: srv.Suffrage == raft.Voter, Leader: srv.ID == s.localID}
		if m, ok := members[srv.ID]; ok {
			h.Name, h.SerfStatus, h.Version = m.Name, m.Status, m.Tags[structs.TagVersion]
		}
		st := stats[srv.ID]
		if st != nil {
			h.LastTerm, h.LastIndex = st.LastTerm, st.LastIndex
			h.LastContact, _ = time.ParseDuration(st.LastContact)
		}
		h.Healthy = st != nil && h.SerfStatus == gossip.StatusAlive && st.LastContact != "never" &&
			h.LastContact <= cfg.LastContactThreshold && h.LastTerm == leaderTerm && h.LastIndex+cfg.MaxTrailingLogs >= leaderIndex
		mark, ok := a.stable[srv.ID]
		if !ok || mark.healthy != h.Healthy {
			mark = healthMark{healthy: h.Healthy, since: now}
			a.stable[srv.ID] = mark
		}
		h.StableSince = mark.since.UTC().Truncate(time.Second)
		if h.Voter {
			voters++
			reply.Voters = append(reply.Voters, h.ID)
			if h.Healthy {
				healthyVoters++
			}
		}
		reply.Healthy = reply.Healthy && h.Healthy
		reply.Servers = append(reply.Servers, h)
	}
	for id := range a.stable {
		if !seen[id] {
			delete(a.stable, id)
		}
	}
	reply.FailureTolerance = max(0, healthyVoters-(voters/2+1))
	sort.Slice(reply.Servers, func(i, j int) bool { return reply.Servers[i].Name < reply.Servers[j].Name })
	a.last = reply
	return reply, nil
}

// serverMembers maps the region's server members of the gossip pool by the
// Raft ID they advertise.
func (s *Server) serverMembers() map[raft.ServerID]gossip.Member {
	out := map[raft.ServerID]gossip.Member{}
	if s.gossip == nil {
		return out
	}
	for _, m := range s.gossip.Members() {
		if m.Tags[structs.TagRole] != "server" || m.Tags[structs.TagRegion] != s.cfg.Region {
			continue
		}
		if id, _, ok := memberRaftID(m); ok {
			out[id] = m
		}
	}
	return out
}

// fetchStats asks every server of the configuration for its Raft stats,
// concurrently; the leader answers for itself.
func (a *autopilot) fetchStats(ctx context.Context, conf raft.Configuration, members map[raft.ServerID]gossip.Member) map[raft.ServerID]*structs.RaftStats {
	out := map[raft.ServerID]*structs.RaftStats{a.srv.localID: a.srv.RaftStats()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, srv := range conf.Servers {
		m, ok := members[srv.ID]
		addr := m.Tags[structs.TagHTTPAddr]
		if srv.ID == a.srv.localID || !ok || addr == "" || m.Status != gossip.StatusAlive {
			continue
		}
		wg.Add(1)
		go func(id raft.ServerID, addr string) {
			defer wg.Done()
			st, err := a.getStats(ctx, addr)
			if err != nil || st.ID != string(id) {
				return
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		}(srv.ID, addr)
	}
	wg.Wait()
	return out
}

func (a *autopilot) getStats(ctx context.Context, addr string) (*structs.RaftStats, error) {
	scheme := "http"
	if a.srv.cfg.PeerTLS != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/v1/status/raft", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("raft stats from %s: status %d", addr, resp.StatusCode)
	}
	var st structs.RaftStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RaftStats is this server's view of its Raft log and leader.
func (s *Server) RaftStats() *structs.RaftStats {
	st := s.raft.Stats()
	term, _ := strconv.ParseUint(st["last_log_term"], 10, 64)
	out := &structs.RaftStats{ID: string(s.localID), State: s.raft.State().String(), LastTerm: term,
		LastIndex: s.raft.LastIndex(), AppliedIndex: s.fsm.AppliedIndex()}
	switch c := s.LastContact(); {
	case c < 0:
		out.LastContact = "never"
	default:
		out.LastContact = c.String()
	}
	return out
}

// promoteStable makes non-voters that have been healthy for the
// stabilization time voters.
func (a *autopilot) promoteStable(cfg *structs.AutopilotConfig, reply *structs.OperatorHealthReply) {
	for _, h := range reply.Servers {
		if h.Voter || !h.Healthy || time.Since(h.StableSince) < cfg.ServerStabilizationTime {
			continue
		}
		a.srv.logger.Info("promoting a stable server to voter", "id", h.ID, "name", h.Name)
		if err := a.srv.raft.AddVoter(raft.ServerID(h.ID), raft.ServerAddress(h.Address), 0, 10*time.Second).Error(); err != nil {
			a.srv.logger.Warn("promoting server failed", "id", h.ID, "error", err)
		}
	}
}

// pruneDead removes servers that failed or left the gossip pool (or that
// it has forgotten). Voters are removed only while the healthy voters
// stay a majority of the voters and at least min_quorum remain, so a
// leader that sees most servers "dead" (a partition on its side) removes
// nothing.
func (a *autopilot) pruneDead(cfg *structs.AutopilotConfig, reply *structs.OperatorHealthReply) {
	var deadVoters, deadOthers []structs.ServerHealth
	healthyVoters := 0
	for _, h := range reply.Servers {
		dead := !h.Leader && (h.SerfStatus == gossip.StatusFailed || h.SerfStatus == gossip.StatusLeft || h.SerfStatus == "none")
		switch {
		case dead && h.Voter:
			deadVoters = append(deadVoters, h)
		case dead:
			deadOthers = append(deadOthers, h)
		case h.Voter && h.Healthy:
			healthyVoters++
		}
	}
	voters := len(reply.Voters)
	for _, h := range deadOthers {
		a.remove(h, "non-voter failed or left")
	}
	for _, h := range deadVoters {
		if healthyVoters*2 <= voters || uint(voters-1) < cfg.MinQuorum {
			if a.heldBack != h.ID {
				a.heldBack = h.ID
				a.srv.logger.Warn("not removing a dead server: too few healthy voters would remain",
					"id", h.ID, "healthy_voters", healthyVoters, "voters", voters, "min_quorum", cfg.MinQuorum)
			}
			return
		}
		if a.remove(h, "voter failed or left") {
			voters--
		}
	}
}

func (a *autopilot) remove(h structs.ServerHealth, why string) bool {
	a.srv.logger.Info("autopilot removing dead server", "id", h.ID, "name", h.Name, "serf_status", h.SerfStatus, "reason", why)
	if err := a.srv.raft.RemoveServer(raft.ServerID(h.ID), 0, 10*time.Second).Error(); err != nil {
		a.srv.logger.Warn("removing dead server failed", "id", h.ID, "error", err)
		return false
	}
	return true
}
