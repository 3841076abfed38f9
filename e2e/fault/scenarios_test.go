package fault

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// Scenarios from issue 12's measured failures that TestNemesis's random
// schedule does not pin down. The others have targeted e2e tests (see
// docs/fault-injection.md "Regression list").

// nodeWatch polls the leader's node list and remembers every status each
// node had.
type nodeWatch struct {
	mu   sync.Mutex
	seen map[string]map[string]time.Duration // node name -> status -> first seen
}

func watchNodes(ctx context.Context, c *cluster, start time.Time) *nodeWatch {
	w := &nodeWatch{seen: map[string]map[string]time.Duration{}}
	go func() {
		for sleepCtx(ctx, 50*time.Millisecond) {
			l := c.leader()
			if l == nil {
				continue
			}
			var nodes []*structs.NodeListStub
			if getJSON(l.url()+"/v1/nodes", &nodes) != nil {
				continue
			}
			w.mu.Lock()
			for _, n := range nodes {
				if w.seen[n.Name] == nil {
					w.seen[n.Name] = map[string]time.Duration{}
				}
				if _, ok := w.seen[n.Name][n.Status]; !ok {
					w.seen[n.Name][n.Status] = time.Since(start)
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *nodeWatch) first(node, status string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.seen[node][status]
	return d, ok
}

// TestGossipVerdictsDoNotDecideLiveness: gossip is only a hint.
//   - A server cut off from everyone for 15 s comes back with stale "dead"
//     verdicts about every client; no healthy client is marked down (the
//     issue saw 20 allocations rescheduled off a healthy client).
//   - A client cut off from every server but still reachable by another
//     client (which gossip would vouch for) is marked down, within its
//     heartbeat TTL plus grace.
func TestGossipVerdictsDoNotDecideLiveness(t *testing.T) {
	c := newCluster(t, clusterSpec{servers: 3, clients: 2})
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := watchNodes(ctx, c, start)

	l := c.leader()
	var cutServer *agent
	for _, s := range c.servers {
		if s != l {
			cutServer = s
			break
		}
	}
	if err := cutServer.m.cutFrom(c.others(cutServer)...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	if err := cutServer.m.heal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	for _, cl := range c.clients {
		if d, ok := w.first(cl.name(), structs.NodeStatusDown); ok {
			t.Errorf("healthy client %s was marked down %s into the run, after %s's stale gossip", cl.name(), d.Round(time.Millisecond), cutServer.name())
		}
	}

	victim, peer := c.clients[0], c.clients[1]
	var servers []*member
	for _, s := range c.servers {
		servers = append(servers, s.m)
	}
	cut := time.Since(start)
	if err := victim.m.cutFrom(servers...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, victim.name()+" marked down", func() (bool, string) {
		_, ok := w.first(victim.name(), structs.NodeStatusDown)
		return ok, fmt.Sprintf("%s still reachable by %s", victim.name(), peer.name())
	})
	d, _ := w.first(victim.name(), structs.NodeStatusDown)
	t.Logf("a client cut off from the servers, reachable by another client, was marked down %s after the cut", (d - cut).Round(time.Millisecond))
	// Defaults: TTL 1.5 s (+10 % jitter) + grace 1 s; 50 ms polling.
	if d-cut > 5*time.Second {
		t.Errorf("marked down %s after the cut: more than TTL + grace", d-cut)
	}
	if err := victim.m.heal(); err != nil {
		t.Fatal(err)
	}
	c.waitStable(30 * time.Second)
}
