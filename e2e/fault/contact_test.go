package fault

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopNoContact is what a client logs when it stops an allocation for lack
// of contact with the servers (client/liveness.go).
const stopNoContact = "stopping allocation: no contact with the servers"

// noContactStops returns when each client logged stopNoContact.
func noContactStops(c *cluster) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, a := range c.clients {
		f, err := os.Open(a.logPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, stopNoContact) {
				continue
			}
			field, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			if ts, err := time.Parse(time.RFC3339Nano, field); err == nil {
				out[a.name()] = append(out[a.name()], ts)
			}
		}
		f.Close()
	}
	return out
}

// TestLeaderTroubleKeepsAllocations: a leader that is paused (SIGSTOP),
// shortly or for longer than an election, or blackholed, is not a reason
// for any client to stop its allocations — no server could mark a node
// down meanwhile (a majority of the voters vouch that no leader reached
// them; a new leader gives every node the failover TTL; a leader back from
// a gap extends every deadline). Before, every client stopped every
// allocation 1.5 s into such a fault. Every sentinel allocation keeps
// beating throughout, and the job never runs two copies of an index.
func TestLeaderTroubleKeepsAllocations(t *testing.T) {
	c := newCluster(t, clusterSpec{servers: 3, clients: 2, clientHCL: os.Getenv("ORCH_FAULT_CLIENT_HCL")})
	beats := filepath.Join(t.TempDir(), "beats")
	spec, _ := startSentinel(c, beats)
	type fault struct {
		name  string
		hold  time.Duration
		apply func(l *agent) (heal func())
	}
	pause := func(l *agent) func() {
		l.signal(syscall.SIGSTOP)
		return func() { l.signal(syscall.SIGCONT) }
	}
	for _, f := range []fault{
		{"pause-leader 0.9s (no election)", 900 * time.Millisecond, pause},
		{"pause-leader 2.2s", 2200 * time.Millisecond, pause},
		{"pause-leader 5s", 5 * time.Second, pause},
		{"kill-leader 3s", 3 * time.Second, func(l *agent) func() {
			l.kill()
			return func() {
				if err := l.start(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"blackhole-leader 3s after a follower restart", 3 * time.Second, func(l *agent) func() {
			for _, f := range c.servers {
				if f != l {
					f.kill()
					if err := f.start(); err != nil {
						t.Fatal(err)
					}
					c.waitStable(30 * time.Second)
					time.Sleep(2 * time.Second)
					break
				}
			}
			if err := l.m.isolate(); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := l.m.heal(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"blackhole-leader 4s", 4 * time.Second, func(l *agent) func() {
			if err := l.m.isolate(); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := l.m.heal(); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		l := c.leader()
		if l == nil {
			t.Fatal("no leader")
		}
		from := time.Now()
		heal := f.apply(l)
		time.Sleep(f.hold)
		heal()
		time.Sleep(3 * time.Second)
		for client, stops := range noContactStops(c) {
			for _, ts := range stops {
				if ts.After(from) {
					t.Errorf("%s: %s stopped an allocation for lack of contact %s into the fault", f.name, client, ts.Sub(from).Round(time.Millisecond))
				}
			}
		}
		if t.Failed() {
			for _, a := range c.clients {
				b, _ := os.ReadFile(a.logPath)
				var probes []string
				for _, l := range strings.Split(string(b), "\n") {
					if strings.Contains(l, "probe proved nothing") || strings.Contains(l, stopNoContact) {
						probes = append(probes, l)
					}
				}
				t.Logf("%s's probes:\n%s", a.name(), tail(strings.Join(probes, "\n"), 30))
			}
			t.FailNow()
		}
		t.Logf("%s on %s: no client stopped an allocation", f.name, l.name())
		c.waitStable(60 * time.Second)
	}
	spans, err := readBeats(beats)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != spec.count {
		t.Errorf("%d allocation indexes beat, want %d", len(spans), spec.count)
	}
	for idx, ss := range spans {
		if len(ss) != 1 {
			var ids []string
			for _, s := range ss {
				ids = append(ids, fmt.Sprintf("%s %s-%s", short(s.alloc), s.first.Format("15:04:05.000"), s.last.Format("15:04:05.000")))
			}
			t.Errorf("index %s ran as %d allocations (%s): one was replaced", idx, len(ss), strings.Join(ids, ", "))
		}
	}
}

// clientKeepsContact lists the server faults during which no client may
// stop an allocation for lack of contact: each leaves every client able to
// reach a majority of the servers, so no server can mark a node down
// without its heartbeats reaching it. flap-leader is left out: a leader
// whose links flap every few hundred milliseconds may keep a quorum for
// commits while answering neither heartbeats nor probes in time, and then
// a stop is what the client must do.
var clientKeepsContact = map[string]bool{
	"kill-leader": true, "kill-follower": true, "pause-leader": true, "pause-follower": true,
	"isolate-leader": true, "partition-follower": true, "oneway-leader": true, "deaf-follower": true,
	"blackhole-server": true, "clock-jump": true,
}

// checkNoContactStops fails the run for every allocation a client stopped
// for lack of contact during (or within a second after) a server fault.
func checkNoContactStops(t *testing.T, c *cluster, windows []faultWindow) {
	t.Helper()
	n := 0
	for client, stops := range noContactStops(c) {
		for _, ts := range stops {
			n++
			for _, w := range windows {
				if !ts.Before(w.from) && !ts.After(w.to.Add(time.Second)) && clientKeepsContact[w.kind] {
					t.Errorf("%s stopped an allocation for lack of contact %s into %s (held %s)", client,
						ts.Sub(w.from).Round(time.Millisecond), w.kind, w.to.Sub(w.from).Round(time.Millisecond))
				}
			}
		}
	}
	t.Logf("clients stopped %d allocations for lack of contact (allowed only under client faults and flap-leader)", n)
}
