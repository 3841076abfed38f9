package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// TestLeaderGapExtendsNodeDeadlines: a leader that went unverified for
// longer than LeaderGapMax (paused, starved, cut off) gives every node at
// least the longest TTL plus grace from the end of the gap before it may
// judge a missed heartbeat, since clients may have seen the same silence
// and kept their allocations; the first verification of a term counts as
// a gap; an expiry that meets a gap stands down.
func TestLeaderGapExtendsNodeDeadlines(t *testing.T) {
	hb := HeartbeatConfig{MinTTL: 300 * time.Millisecond, Grace: 200 * time.Millisecond, FailoverTTL: 500 * time.Millisecond}
	s, dial := testHBServer(t, hb)
	n := testNode("n1", 4000, 4096)
	c := dial(n.ID, n.SecretID)
	if _, err := register(t, c, n); err != nil {
		t.Fatal(err)
	}
	h := s.heartbeats
	due := func() time.Time {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.timers[n.ID].due
	}
	// No gap: deadlines stay where the heartbeat put them.
	if _, err := h.sure(); err != nil {
		t.Fatal(err)
	}
	before := due()
	if gap, err := h.sure(); err != nil || gap {
		t.Fatalf("back-to-back verifications: gap %v, err %v", gap, err)
	}
	if !due().Equal(before) {
		t.Fatalf("deadline moved without a gap: %s -> %s", before, due())
	}
	// A gap (as after SIGSTOP): every deadline at least maxTTL + grace away.
	h.verifyMu.Lock()
	h.lastVerified = time.Now().Add(-time.Second)
	h.verifyMu.Unlock()
	start := time.Now()
	gap, err := h.sure()
	if err != nil || !gap {
		t.Fatalf("verification after a 1 s gap: gap %v, err %v", gap, err)
	}
	if min := start.Add(h.maxTTL(1) + hb.Grace); due().Before(min) {
		t.Fatalf("after a gap the node is due at %s, before %s", due().Format(time.StampMilli), min.Format(time.StampMilli))
	}
	// An expiry in flight when a gap is found stands down: the node stays
	// ready although its timer fired.
	h.mu.Lock()
	fired := h.timers[n.ID]
	h.mu.Unlock()
	h.verifyMu.Lock()
	h.lastVerified = time.Now().Add(-time.Second)
	h.verifyMu.Unlock()
	if err := h.expire(context.Background(), n.ID); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	cur := h.timers[n.ID]
	h.mu.Unlock()
	if got, _ := s.State().NodeByID(nil, n.ID); got.Status != "ready" || cur == fired {
		t.Fatalf("expiry across a gap: node %s, timer re-armed %v", got.Status, cur != fired)
	}
	// The leader answers a probe as a heartbeat and is no witness.
	var resp control.ContactResponse
	if err := c.CallServer(context.Background(), s.RaftAddr(), control.MethodNodeContact, &control.HeartbeatRequest{NodeID: n.ID}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Heartbeat == nil || resp.Heartbeat.HeartbeatTTL == 0 || len(resp.Heartbeat.Voters) != 1 || resp.NoLeaderFor != 0 {
		t.Fatalf("leader's answer to a probe: %+v", resp)
	}
}

// TestFollowersVouchOnlyForSilence: a follower answers a probe locally
// with how long no leader reached it: while the leader replicates, far
// below control.ContactSilenceMin (a client cut off from the leader alone
// proves nothing); once the leader is gone, growing until a new leader
// reaches it.
func TestFollowersVouchOnlyForSilence(t *testing.T) {
	servers := testCluster(t, 3, nil)
	leader := waitLeader(t, servers)
	n := testNode("n1", 4000, 4096)
	c := control.NewClient(control.ClientConfig{Servers: []string{leader.RaftAddr()},
		Credentials: func() control.Credentials { return control.Credentials{NodeID: n.ID, Secret: n.SecretID} }})
	t.Cleanup(c.Close)
	if _, err := register(t, c, n); err != nil {
		t.Fatal(err)
	}
	var followers []*Server
	for _, s := range servers {
		if s != leader {
			followers = append(followers, s)
		}
	}
	probe := func(s *Server) control.ContactResponse {
		t.Helper()
		var resp control.ContactResponse
		waitUntil(t, 10*time.Second, "a probe answered", func() bool {
			return c.CallServer(context.Background(), s.RaftAddr(), control.MethodNodeContact, &control.HeartbeatRequest{NodeID: n.ID}, &resp) == nil
		})
		return resp
	}
	for i := 0; i < 5; i++ {
		for _, f := range followers {
			if r := probe(f); r.Heartbeat != nil || r.NoLeaderFor >= control.ContactSilenceMin/2 || r.ServerID != string(f.raftID()) {
				t.Fatalf("follower %s with a live leader: %+v", f.cfg.NodeName, r)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := leader.Shutdown(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // below the 1 s heartbeat timeout: no election yet
	for _, f := range followers {
		if r := probe(f); r.Heartbeat == nil && r.NoLeaderFor < 600*time.Millisecond {
			t.Fatalf("follower %s 700 ms after the leader died: %+v", f.cfg.NodeName, r)
		}
	}
}

// TestRaftTimingsTakeEffect: raft_heartbeat_timeout sets how soon the
// followers replace a dead leader (here 150 ms: a new leader well within a
// second, where the default 1 s timeout cannot elect one in under 1 s);
// raft_multiplier = 2 doubles the default (no new leader within 1.9 s).
func TestRaftTimingsTakeEffect(t *testing.T) {
	if raftTimeout(0, 0) != time.Second || raftTimeout(3, 0) != 3*time.Second || raftTimeout(3, 200*time.Millisecond) != 200*time.Millisecond {
		t.Fatal("raftTimeout does not follow raft_multiplier / raft_heartbeat_timeout")
	}
	failover := func(adjust func(c *Config)) (time.Duration, bool) {
		servers := testCluster(t, 3, func(_ int, c *Config) { adjust(c) })
		old := waitLeader(t, servers)
		if err := old.Shutdown(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			for _, s := range servers {
				if s != old && s.IsLeader() {
					return time.Since(start), true
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		return 0, false
	}
	if d, ok := failover(func(c *Config) { c.RaftHeartbeatTimeout = 150 * time.Millisecond }); !ok || d > 900*time.Millisecond {
		t.Errorf("raft_heartbeat_timeout 150ms: new leader after %s (found %v)", d, ok)
	}
	if d, ok := failover(func(c *Config) { c.RaftMultiplier = 2 }); ok && d < 1900*time.Millisecond {
		t.Errorf("raft_multiplier 2: new leader after %s, sooner than its 2 s heartbeat timeout", d)
	}
}

// TestWritesHonourTheCallersDeadline: namespace, ACL, service, variable and
// keyring writes carry the caller's deadline into Raft like job writes do:
// one whose deadline passed is dropped (ErrDeadlinePassed, a certain
// failure) and nothing is committed.
func TestWritesHonourTheCallersDeadline(t *testing.T) {
	s := testServer(t, t.TempDir())
	waitUntil(t, 10*time.Second, "the first root key", func() bool {
		keys, _ := s.State().Snapshot().RootKeys(nil)
		return len(keys) > 0
	})
	time.Sleep(200 * time.Millisecond) // let background writes settle
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	before := s.raft.LastIndex()
	writes := map[string]func() error{
		"namespace": func() error {
			_, err := s.UpsertNamespaces(ctx, []*structs.Namespace{{Name: "late"}})
			return err
		},
		"acl policy": func() error {
			_, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "late", Rules: `namespace "default" { policy = "read" }`}})
			return err
		},
		"service": func() error {
			_, err := s.UpsertServiceRegistrations(ctx, "n1", []*structs.ServiceRegistration{{
				ID: "_nomad-task-a-g-t-web-80", ServiceName: "web", NodeID: "n1", JobID: "j", AllocID: "a", Port: 80}})
			return err
		},
		"keyring rotate": func() error {
			_, err := s.RotateRootKey(ctx, "", false, 0)
			return err
		},
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, ErrDeadlinePassed) {
			t.Errorf("%s after its deadline: %v, want ErrDeadlinePassed", name, err)
		}
	}
	if after := s.raft.LastIndex(); after != before {
		t.Errorf("writes past their deadline reached the log: index %d -> %d", before, after)
	}
}

// TestContactAnswersNodesTheReplicaLacks: a server whose replica does not
// know the node (a restarted follower behind on its log) still says how
// long no leader reached it; a wrong secret of a known node is refused;
// the leader never takes an unknown node's probe as a heartbeat.
func TestContactAnswersNodesTheReplicaLacks(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: time.Hour})
	n := testNode("n1", 4000, 4096)
	if _, err := register(t, dial(n.ID, n.SecretID), n); err != nil {
		t.Fatal(err)
	}
	var resp control.ContactResponse
	stranger := structs.GenerateUUID()
	if err := dial(stranger, "s").CallServer(context.Background(), s.RaftAddr(), control.MethodNodeContact, &control.HeartbeatRequest{NodeID: stranger}, &resp); err != nil {
		t.Fatalf("probe of an unknown node: %v", err)
	}
	if resp.Heartbeat != nil || resp.ServerID == "" {
		t.Fatalf("the leader took an unknown node's probe as a heartbeat: %+v", resp)
	}
	err := dial(n.ID, "wrong").CallServer(context.Background(), s.RaftAddr(), control.MethodNodeContact, &control.HeartbeatRequest{NodeID: n.ID}, &resp)
	if !control.IsCode(err, http.StatusUnauthorized) {
		t.Fatalf("probe with a wrong secret: %v", err)
	}
}

// Contacts noted out of order (each answer is watched by its own
// goroutine) never move the last contact back: an earlier time would
// overstate this server's silence.
func TestContactNotedOutOfOrderKeepsTheLatest(t *testing.T) {
	c := &contactTransport{base: time.Now()}
	for _, ns := range []int64{5, 9, 7, 3, 9, 8} {
		c.noteContact(ns)
	}
	if got := c.last.Load(); got != 9 {
		t.Fatalf("last contact %d ns after base, want 9", got)
	}
}
