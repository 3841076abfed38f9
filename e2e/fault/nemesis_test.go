package fault

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A nemesis injects one fault at a time into a running cluster: it waits
// a quiet spell, picks a fault from its list, holds it, heals it, and
// logs every step with its time in the run, so a failing run's timeline
// can be read next to its history. The schedule comes from its seed.
type nemesis struct {
	c     *cluster
	rng   *rand.Rand
	kinds []string
	h     *history
	// quiet and hold bound the spells between and during faults.
	quiet, hold [2]time.Duration

	mu      sync.Mutex
	events  []string
	counts  map[string]int
	windows []faultWindow
}

// faultWindow is when one fault was in place (wall clock).
type faultWindow struct {
	kind     string
	from, to time.Time
}

// The faults. Server faults keep a majority of servers able to talk, so
// writes go on; client faults cut clients off from every server.
var (
	serverFaults = []string{
		"kill-leader", "kill-follower", "pause-leader", "pause-follower",
		"isolate-leader", "partition-follower", "oneway-leader", "deaf-follower",
		"flap-leader", "blackhole-server", "clock-jump",
	}
	clientFaults = []string{"isolate-client", "flap-client", "blackhole-client"}
)

func newNemesis(c *cluster, h *history, seed int64, kinds []string) *nemesis {
	return &nemesis{
		c: c, h: h, rng: rand.New(rand.NewSource(seed)), kinds: kinds,
		quiet:  [2]time.Duration{time.Second, 3 * time.Second},
		hold:   [2]time.Duration{2 * time.Second, 6 * time.Second},
		counts: map[string]int{},
	}
}

func (n *nemesis) logf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, fmt.Sprintf("%8s %s", time.Duration(n.h.now()).Round(time.Millisecond), fmt.Sprintf(format, args...)))
}

func (n *nemesis) timeline() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.events, "\n")
}

func (n *nemesis) between(r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(n.rng.Int63n(int64(r[1]-r[0])+1))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// run injects faults until ctx ends, and leaves the cluster healed with
// every agent running.
func (n *nemesis) run(ctx context.Context) {
	for sleepCtx(ctx, n.between(n.quiet)) {
		kind := n.kinds[n.rng.Intn(len(n.kinds))]
		hold := n.between(n.hold)
		from := time.Now()
		heal := n.inject(kind, hold)
		n.mu.Lock()
		n.counts[kind]++
		n.mu.Unlock()
		done := sleepCtx(ctx, hold)
		heal()
		n.mu.Lock()
		n.windows = append(n.windows, faultWindow{kind, from, time.Now()})
		n.mu.Unlock()
		if !done {
			break
		}
	}
	n.healAll()
}

// pick returns the leader (or, with none agreed, a random server) and a
// random other server.
// It draws the same random numbers whatever the cluster's state, so a
// seed replays the same schedule.
func (n *nemesis) pick() (leader, follower *agent) {
	r1, r2 := n.rng.Intn(len(n.c.servers)), n.rng.Intn(len(n.c.servers)-1)
	leader = n.c.leader()
	if leader == nil {
		leader = n.c.servers[r1]
	}
	var others []*agent
	for _, s := range n.c.servers {
		if s != leader {
			others = append(others, s)
		}
	}
	return leader, others[r2]
}

func (n *nemesis) otherServers(a *agent) []*member {
	var out []*member
	for _, s := range n.c.servers {
		if s != a {
			out = append(out, s.m)
		}
	}
	return out
}

func (n *nemesis) serverMembers() []*member {
	var out []*member
	for _, s := range n.c.servers {
		out = append(out, s.m)
	}
	return out
}

// inject applies a fault and returns what heals it.
func (n *nemesis) inject(kind string, hold time.Duration) (heal func()) {
	leader, follower := n.pick()
	try := func(err error) {
		if err != nil {
			n.logf("  error: %v", err)
		}
	}
	switch kind {
	case "kill-leader", "kill-follower", "clock-jump":
		victim := leader
		if kind == "kill-follower" {
			victim = follower
		}
		if kind == "clock-jump" {
			victim = n.c.servers[n.rng.Intn(len(n.c.servers))]
		}
		n.logf("%s: kill -9 %s", kind, victim.name())
		victim.kill()
		return func() {
			if kind == "clock-jump" {
				old := victim.clock
				victim.clock = n.rng.Int63n(1000 * 86400)
				n.logf("heal %s: restart %s with its monotonic clock moved %+ds", kind, victim.name(), victim.clock-old)
			} else {
				n.logf("heal %s: restart %s", kind, victim.name())
			}
			try(victim.start())
		}
	case "pause-leader", "pause-follower":
		victim := leader
		if kind == "pause-follower" {
			victim = follower
		}
		n.logf("%s: SIGSTOP %s", kind, victim.name())
		victim.signal(syscall.SIGSTOP)
		return func() {
			n.logf("heal %s: SIGCONT %s", kind, victim.name())
			victim.signal(syscall.SIGCONT)
		}
	case "isolate-leader":
		n.logf("%s: cut %s from every other agent (the test still reaches it)", kind, leader.name())
		try(leader.m.cutFrom(n.c.others(leader)...))
		return n.healer(kind, leader)
	case "partition-follower":
		n.logf("%s: cut %s from every other agent", kind, follower.name())
		try(follower.m.cutFrom(n.c.others(follower)...))
		return n.healer(kind, follower)
	case "oneway-leader":
		n.logf("%s: %s no longer hears the other servers (they still hear it)", kind, leader.name())
		try(leader.m.deafTo(n.otherServers(leader)...))
		return n.healer(kind, leader)
	case "deaf-follower":
		n.logf("%s: %s no longer hears the other servers (they still hear it)", kind, follower.name())
		try(follower.m.deafTo(n.otherServers(follower)...))
		return n.healer(kind, follower)
	case "blackhole-server":
		victim := n.c.servers[n.rng.Intn(len(n.c.servers))]
		n.logf("%s: every packet to and from %s dropped", kind, victim.name())
		try(victim.m.isolate())
		return n.healer(kind, victim)
	case "flap-leader":
		return n.flap(kind, leader, n.otherServers(leader), hold)
	case "isolate-client", "flap-client", "blackhole-client":
		victim := n.c.clients[n.rng.Intn(len(n.c.clients))]
		switch kind {
		case "isolate-client":
			n.logf("%s: cut %s from every server", kind, victim.name())
			try(victim.m.cutFrom(n.serverMembers()...))
		case "blackhole-client":
			n.logf("%s: every packet to and from %s dropped", kind, victim.name())
			try(victim.m.isolate())
		default:
			return n.flap(kind, victim, n.serverMembers(), hold)
		}
		return n.healer(kind, victim)
	}
	panic("unknown fault " + kind)
}

func (n *nemesis) healer(kind string, a *agent) func() {
	return func() {
		n.logf("heal %s: %s's links restored", kind, a.name())
		if err := a.m.heal(); err != nil {
			n.logf("  error: %v", err)
		}
	}
}

// flap cuts and restores a's links to others every 200-700 ms.
func (n *nemesis) flap(kind string, a *agent, others []*member, hold time.Duration) func() {
	n.logf("%s: %s's links to %d peers go down and up every 200-700 ms", kind, a.name(), len(others))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	rng := rand.New(rand.NewSource(n.rng.Int63()))
	go func() {
		defer close(done)
		for down := true; ; down = !down {
			if down {
				_ = a.m.cutFrom(others...)
			} else {
				_ = a.m.heal()
			}
			if !sleepCtx(ctx, time.Duration(200+rng.Intn(500))*time.Millisecond) {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
		n.logf("heal %s: %s's links restored", kind, a.name())
		_ = a.m.heal()
	}
}

// healAll resumes, restarts and reconnects every agent.
func (n *nemesis) healAll() {
	for _, a := range append(append([]*agent{}, n.c.servers...), n.c.clients...) {
		_ = a.m.heal()
		a.signal(syscall.SIGCONT)
		if err := a.start(); err != nil {
			n.logf("restart %s: %v", a.name(), err)
		}
	}
}
