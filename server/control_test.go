package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// testHBServer starts a lone server with the given heartbeat tuning and
// returns it with a control-channel client factory.
func testHBServer(t *testing.T, hb HeartbeatConfig) (*Server, func(id, secret string) *control.Client) {
	t.Helper()
	s := testServerWith(t, t.TempDir(), func(c *Config) { c.Heartbeat, c.NumWorkers = hb, 1 })
	return s, func(id, secret string) *control.Client {
		c := control.NewClient(control.ClientConfig{Servers: []string{s.RaftAddr()},
			Credentials: func() control.Credentials { return control.Credentials{NodeID: id, Secret: secret} }})
		t.Cleanup(c.Close)
		return c
	}
}

func register(t *testing.T, c *control.Client, n *structs.Node) (*control.HeartbeatResponse, error) {
	t.Helper()
	var resp control.HeartbeatResponse
	_, err := c.Call(context.Background(), control.MethodNodeRegister, &control.RegisterRequest{Node: n}, &resp)
	return &resp, err
}

// TestRegistrationOwnsOnlyClientFields: a re-registration (a client
// restart, a changed fingerprint) never undoes what an operator set, needs
// the node's secret, costs no Raft write when nothing changed, and a name
// another live node holds is refused.
func TestRegistrationOwnsOnlyClientFields(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: time.Hour})
	n := testNode("n1", 4000, 4096)
	c := dial(n.ID, n.SecretID)
	resp, err := register(t, c, n)
	if err != nil || resp.HeartbeatTTL < time.Hour || len(resp.Servers) != 1 || resp.NumVoters != 1 {
		t.Fatalf("register: %+v %v", resp, err)
	}
	// An operator drains the node and makes it ineligible (a full node
	// write stands in for the drain API).
	stored, _ := s.State().NodeByID(nil, n.ID)
	op := *stored
	op.Drain, op.SchedulingEligibility = true, structs.NodeSchedulingIneligible
	if _, err := s.raftApply(raftfsm.NodeRegisterType, &raftfsm.NodeRegister{Node: &op, Time: s.now()}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.State().NodeByID(nil, n.ID)

	// Unchanged: no write.
	if _, err := register(t, c, n); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.State().NodeByID(nil, n.ID); again.ModifyIndex != before.ModifyIndex {
		t.Fatalf("unchanged registration wrote the node: %d -> %d", before.ModifyIndex, again.ModifyIndex)
	}
	// Changed fingerprint, and a client claiming other server-owned values.
	changed := *n
	changed.Attributes = map[string]string{"kernel.name": "linux", "driver.raw_exec": "1", "new": "1"}
	changed.Drain, changed.SchedulingEligibility, changed.Status = false, structs.NodeSchedulingEligible, structs.NodeStatusDown
	if _, err := register(t, c, &changed); err != nil {
		t.Fatal(err)
	}
	got, _ := s.State().NodeByID(nil, n.ID)
	if got.Attributes["new"] != "1" || !got.Drain || got.SchedulingEligibility != structs.NodeSchedulingIneligible ||
		got.Status != structs.NodeStatusReady || got.ModifyIndex == before.ModifyIndex {
		t.Fatalf("after re-registration: attrs %v drain %v elig %s status %s", got.Attributes, got.Drain,
			got.SchedulingEligibility, got.Status)
	}

	// Without the secret: refused; the node is untouched.
	if _, err := register(t, dial(n.ID, structs.GenerateUUID()), &changed); !control.IsCode(err, http.StatusUnauthorized) {
		t.Fatalf("registration with a wrong secret: %v", err)
	}
	// A new node under a live node's name.
	twin := testNode("n1", 1000, 1024)
	_, err = register(t, dial(twin.ID, twin.SecretID), twin)
	if !control.IsCode(err, http.StatusConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	// Malformed identities.
	bad := testNode("bad", 1000, 1024)
	bad.ID = "../etc"
	if _, err := register(t, dial(bad.ID, bad.SecretID), bad); !control.IsCode(err, http.StatusBadRequest) {
		t.Fatalf("non-UUID node ID: %v", err)
	}
	if _, err := register(t, dial(n.ID, ""), n); !control.IsCode(err, http.StatusUnauthorized) {
		t.Fatalf("no secret: %v", err)
	}
}

// TestHeartbeatTimersMarkNodesDown: a node that stops heartbeating is
// marked down TTL plus grace later, its allocations lost and replaced; a
// heartbeat brings it back; heartbeats themselves never touch Raft.
func TestHeartbeatTimersMarkNodesDown(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: 300 * time.Millisecond, Grace: 300 * time.Millisecond})
	n1, n2 := testNode("n1", 4000, 4096), testNode("n2", 4000, 4096)
	c1, c2 := dial(n1.ID, n1.SecretID), dial(n2.ID, n2.SecretID)
	for _, x := range []struct {
		c *control.Client
		n *structs.Node
	}{{c1, n1}, {c2, n2}} {
		if _, err := register(t, x.c, x.n); err != nil {
			t.Fatal(err)
		}
	}
	// n2 keeps heartbeating; n1 goes silent.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			_, _ = c2.Call(ctx, control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: n2.ID}, nil)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: testJob("svc", 4, 64)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placed", func() bool { return len(liveAllocs(t, s, "svc")) == 4 })
	idx, _ := s.State().LatestIndex()
	time.Sleep(150 * time.Millisecond)
	if n, _ := s.State().NodeByID(nil, n2.ID); n.Status != structs.NodeStatusReady {
		t.Fatal("heartbeating node not ready")
	}
	silent := time.Now()
	waitUntil(t, 5*time.Second, "n1 down", func() bool {
		n, _ := s.State().NodeByID(nil, n1.ID)
		return n.Status == structs.NodeStatusDown
	})
	if d := time.Since(silent); d > 2*time.Second {
		t.Fatalf("down after %s; TTL+grace is 0.6 s", d)
	}
	waitUntil(t, 5*time.Second, "lost allocs replaced on n2", func() bool {
		live := liveAllocs(t, s, "svc")
		for _, a := range live {
			if a.NodeID != n2.ID {
				return false
			}
		}
		return len(live) == 4
	})
	n2node, _ := s.State().NodeByID(nil, n2.ID)
	if n2node.ModifyIndex > idx {
		t.Fatalf("heartbeats wrote the node: index %d -> %d", idx, n2node.ModifyIndex)
	}
	// A gossip "failed" report about a heartbeating node changes nothing.
	if s.heartbeats.hint(n2.ID) {
		t.Fatal("gossip hint acted on a node that heartbeats")
	}
	// n1 heartbeats again: ready.
	if _, err := c1.Call(ctx, control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: n1.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.State().NodeByID(nil, n1.ID); n.Status != structs.NodeStatusReady {
		t.Fatalf("n1 after a heartbeat: %s", n.Status)
	}
}

// TestDisconnectLostAfterKeepsAllocsUnknown: allocations of a group with
// disconnect.lost_after go unknown (not lost) when their node misses its
// heartbeats; the node is disconnected, and down once lost_after passed.
func TestDisconnectLostAfterKeepsAllocsUnknown(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: 200 * time.Millisecond, Grace: 200 * time.Millisecond})
	n1 := testNode("n1", 4000, 4096)
	if _, err := register(t, dial(n1.ID, n1.SecretID), n1); err != nil {
		t.Fatal(err)
	}
	job := testJob("dc", 1, 64)
	no := false
	job.TaskGroups[0].Disconnect = &structs.DisconnectStrategy{LostAfter: 1500 * time.Millisecond, Replace: &no}
	if _, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placed", func() bool { return len(liveAllocs(t, s, "dc")) == 1 })
	id := liveAllocs(t, s, "dc")[0].ID
	waitUntil(t, 5*time.Second, "disconnected", func() bool {
		n, _ := s.State().NodeByID(nil, n1.ID)
		return n.Status == structs.NodeStatusDisconnected
	})
	a, _ := s.State().AllocByID(nil, id)
	if a.ClientStatus != structs.AllocClientStatusUnknown || a.UnknownSince().IsZero() || a.DesiredStatus != structs.AllocDesiredStatusRun {
		t.Fatalf("alloc on a disconnected node: %s/%s", a.DesiredStatus, a.ClientStatus)
	}
	waitUntil(t, 5*time.Second, "down after lost_after", func() bool {
		n, _ := s.State().NodeByID(nil, n1.ID)
		return n.Status == structs.NodeStatusDown
	})
	if a, _ := s.State().AllocByID(nil, id); a.ClientStatus != structs.AllocClientStatusLost {
		t.Fatalf("alloc after lost_after: %s", a.ClientStatus)
	}
}

// TestLeavingClientGetsRestartGrace: a client that announces a graceful
// shutdown is not declared missing for a routine restart.
func TestLeavingClientGetsRestartGrace(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: 200 * time.Millisecond, Grace: 200 * time.Millisecond})
	n1 := testNode("n1", 4000, 4096)
	c := dial(n1.ID, n1.SecretID)
	if _, err := register(t, c, n1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), control.MethodNodeHeartbeat, &control.HeartbeatRequest{NodeID: n1.ID, Leaving: true}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n, _ := s.State().NodeByID(nil, n1.ID); n.Status != structs.NodeStatusReady {
		t.Fatalf("leaving node marked %s within its restart grace", n.Status)
	}
}
