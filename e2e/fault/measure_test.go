package fault

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// Measurements for docs/benchmarks.md, on one cluster reused across
// trials (-benchtime Nx sets the trials):
//
//	go test -run '^$' -bench 'Fault' -benchtime 20x ./e2e/fault/

func report(b *testing.B, what string, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(p float64) time.Duration { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
	b.ReportMetric(float64(pct(0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Milliseconds()), "max-ms")
	var s []string
	for _, d := range samples {
		s = append(s, d.Round(time.Millisecond).String())
	}
	// Printed, not logged: a benchmark's log is cut at a few lines.
	fmt.Fprintf(os.Stderr, "%s over %d trials: p50 %s p99 %s (%s)\n", what, len(samples), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), strings.Join(s, " "))
}

// BenchmarkFaultLeaderKillToWrite: kill -9 the leader of three servers
// while writers register jobs through every server every 10 ms; the time
// from the kill to the first acknowledged write sent after it. Default
// Raft timings (1 s heartbeat/election timeout).
func BenchmarkFaultLeaderKillToWrite(b *testing.B) {
	leaderKillToWrite(b, clusterSpec{servers: 3}, "leader kill -9 -> first acknowledged write")
}

// BenchmarkFaultLeaderKillToWriteTuned is the same with Raft timings tuned
// for a LAN (raft_heartbeat_timeout = 300ms: followers start an election
// 300-600 ms after the leader's last contact, the lease is 150 ms).
func BenchmarkFaultLeaderKillToWriteTuned(b *testing.B) {
	leaderKillToWrite(b, clusterSpec{servers: 3, serverHCL: tunedRaftHCL},
		"leader kill -9 -> first acknowledged write (raft_heartbeat_timeout 300ms)")
}

const tunedRaftHCL = "server {\n  raft_heartbeat_timeout = \"300ms\"\n}\n"

func leaderKillToWrite(b *testing.B, spec clusterSpec, what string) {
	c := newCluster(b, spec)
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		l := c.leader()
		if l == nil {
			b.Fatal("no leader")
		}
		var others []*agent
		for _, s := range c.servers {
			if s != l {
				others = append(others, s)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		acked := make(chan time.Time, 1)
		var (
			mu   sync.Mutex
			acks = map[string]string{} // job -> acknowledged Meta.v
			wg   sync.WaitGroup
		)
		killed := time.Now()
		l.kill()
		for w, s := range others {
			for k := 0; k < 2; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("m%d-%d", w, k)
					for n := 0; ctx.Err() == nil; n++ {
						v := fmt.Sprintf("%d-%d", i, n)
						code, _, _ := request("PUT", s.url()+"/v1/jobs", keyJob(id, v), 2*time.Second)
						if code == 200 {
							mu.Lock()
							acks[id] = v
							mu.Unlock()
							select {
							case acked <- time.Now():
							default:
							}
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
				}()
			}
		}
		select {
		case at := <-acked:
			samples = append(samples, at.Sub(killed))
		case <-time.After(30 * time.Second):
			b.Fatal("no write acknowledged within 30 s of the leader's kill")
		}
		cancel()
		wg.Wait()
		if err := l.start(); err != nil {
			b.Fatal(err)
		}
		c.waitStable(60 * time.Second)
		requireStateHashesEqual(b, c.servers)
		requireAcked(b, c.servers, acks)
	}
	report(b, what, samples)
}

// requireAcked fails unless every server's replica holds every
// acknowledged write (the writers wrote nothing after their ack).
func requireAcked(t testing.TB, servers []*agent, acks map[string]string) {
	t.Helper()
	for _, s := range servers {
		for id, v := range acks {
			var job structs.Job
			if err := getJSON(s.url()+"/v1/job/"+id+"?stale", &job); err != nil || job.Meta["v"] != v {
				t.Fatalf("acknowledged write %s=%s not on %s: got %q (%v)", id, v, s.name(), job.Meta["v"], err)
			}
		}
	}
}

// BenchmarkFaultNodeFailure: blackhole a client running one allocation
// of a two-allocation service (one per client); the time until the leader
// marks its node down, and until the replacement runs on the other
// client.
func BenchmarkFaultNodeFailure(b *testing.B) {
	c := newCluster(b, clusterSpec{servers: 3, clients: 2})
	caps, err := nodeCapacity(c)
	if err != nil {
		b.Fatal(err)
	}
	var mem int64 = -1
	for _, r := range caps {
		if mem < 0 || r.MemoryMB < mem {
			mem = r.MemoryMB
		}
	}
	// Two fit on a node: the replacement lands beside the survivor.
	spec := sentinelSpec{count: 2, memoryMB: int(mem * 4 / 10), beats: "/dev/null"}
	if code, _, body := request("PUT", c.leader().url()+"/v1/jobs", sentinelJobReq(spec), 10*time.Second); code != 200 {
		b.Fatalf("registering: %d %s", code, body)
	}
	var down, replaced []time.Duration
	for i := 0; i < b.N; i++ {
		waitFor(b, 60*time.Second, "both allocations running", func() (bool, string) {
			n, info := runningSentinels(c)
			return n == 2, info
		})
		l := c.leader()
		var allocs []*structs.AllocListStub
		if err := getJSON(l.url()+"/v1/job/"+sentinelJob+"/allocations", &allocs); err != nil {
			b.Fatal(err)
		}
		var victimNode string
		for _, a := range allocs {
			if a.ClientStatus == structs.AllocClientStatusRunning && a.DesiredStatus == structs.AllocDesiredStatusRun {
				victimNode = a.NodeName
				break
			}
		}
		var victim *agent
		for _, cl := range c.clients {
			if cl.name() == victimNode {
				victim = cl
			}
		}
		if victim == nil {
			b.Fatalf("no client named %q", victimNode)
		}
		cut := time.Now()
		if err := victim.m.isolate(); err != nil {
			b.Fatal(err)
		}
		var sawDown time.Duration
		waitFor(b, 60*time.Second, "node down and replacement running", func() (bool, string) {
			l := c.leader()
			if l == nil {
				return false, "no leader"
			}
			var nodes []*structs.NodeListStub
			if getJSON(l.url()+"/v1/nodes", &nodes) != nil {
				return false, "nodes"
			}
			for _, n := range nodes {
				if n.Name == victimNode && n.Status == structs.NodeStatusDown && sawDown == 0 {
					sawDown = time.Since(cut)
				}
			}
			var allocs []*structs.AllocListStub
			if getJSON(l.url()+"/v1/job/"+sentinelJob+"/allocations", &allocs) != nil {
				return false, "allocs"
			}
			running := 0
			for _, a := range allocs {
				if a.NodeName != victimNode && a.ClientStatus == structs.AllocClientStatusRunning && a.DesiredStatus == structs.AllocDesiredStatusRun {
					running++
				}
			}
			return sawDown > 0 && running == 2, fmt.Sprintf("down after %s, %d running elsewhere", sawDown, running)
		})
		down = append(down, sawDown)
		replaced = append(replaced, time.Since(cut))
		if err := victim.m.heal(); err != nil {
			b.Fatal(err)
		}
		// The next trial cuts whichever client holds a running
		// allocation (both may be on one after this one).
		c.waitStable(60 * time.Second)
	}
	report(b, "client blackholed -> node down", down)
	report(b, "client blackholed -> replacement running", replaced)
}

// BenchmarkFaultPartitionHeal: a follower cut off from the other servers
// while writes go on for 5 s; from the heal (writes stopped) until every
// replica has applied the same index with the same state hash.
func BenchmarkFaultPartitionHeal(b *testing.B) {
	c := newCluster(b, clusterSpec{servers: 3})
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		l := c.leader()
		var f *agent
		for _, s := range c.servers {
			if s != l {
				f = s
				break
			}
		}
		if err := f.m.cutFrom(c.others(f)...); err != nil {
			b.Fatal(err)
		}
		h := &history{start: time.Now()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var live []*agent
		for _, s := range c.servers {
			if s != f {
				live = append(live, s)
			}
		}
		runWorkload(ctx, h, live, workloadSpec{workers: 4, keys: 12, opTimeout: 2 * time.Second}, int64(i))
		cancel()
		healed := time.Now()
		if err := f.m.heal(); err != nil {
			b.Fatal(err)
		}
		requireStateHashesEqual(b, c.servers)
		samples = append(samples, time.Since(healed))
	}
	report(b, "partition heal -> replicas converged", samples)
}
