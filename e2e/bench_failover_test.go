package e2e

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkLeaderFailover measures the time from SIGKILL of the leader of
// a three-server cluster until another server reports a new leader.
// Run: go test -run '^$' -bench LeaderFailover -benchtime 5x ./e2e/
func BenchmarkLeaderFailover(b *testing.B) {
	var samples []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		first := newIP()
		servers := []*agentProc{startAgent(b, first, b.TempDir(), "-server", "-bootstrap-expect", "3")}
		for j := 0; j < 2; j++ {
			servers = append(servers, startAgent(b, newIP(), b.TempDir(), "-server", "-bootstrap-expect", "3", "-join", first))
		}
		for _, s := range servers {
			waitReady(b, s, 0)
		}
		var leader string
		_ = getJSON(servers[0].addr()+"/v1/status/leader", &leader)
		var victim *agentProc
		var rest []*agentProc
		for _, s := range servers {
			if s.ip+":4647" == leader {
				victim = s
			} else {
				rest = append(rest, s)
			}
		}
		if victim == nil {
			b.Fatalf("leader %q is none of the servers", leader)
		}
		b.StartTimer()
		start := time.Now()
		victim.kill()
		for {
			var l string
			if getJSON(rest[0].addr()+"/v1/status/leader", &l) == nil && l != "" && l != leader {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("no new leader within 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		for _, s := range rest {
			s.kill()
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Milliseconds()), "max-ms")
}
