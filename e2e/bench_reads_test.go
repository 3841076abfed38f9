package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkReadModes measures GET /v1/job/<id> latency in each consistency
// mode, one request at a time over a kept-alive connection: against the
// leader of three servers and against a follower (which forwards default
// and consistent reads to the leader).
//
//	go test -run '^$' -bench ReadModes -benchtime 2000x ./e2e/
func BenchmarkReadModes(b *testing.B) {
	servers := startServers(b, 3)
	li := stableLeader(b, servers)
	leader, follower := servers[li], servers[(li+1)%3]
	register(b, leader, "read")
	waitFor(b, 10*time.Second, "the follower's replica", func() (bool, string) {
		code, _, _ := request("GET", follower.addr()+"/v1/job/read?stale", nil, nil, 5*time.Second)
		return code == 200, ""
	})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, target := range []struct {
		name string
		a    *agentProc
	}{{"Leader", leader}, {"Follower", follower}} {
		for _, mode := range []string{"stale", "default", "consistent"} {
			q := "?" + mode
			if mode == "default" {
				q = ""
			}
			url := target.a.addr() + "/v1/job/read" + q
			b.Run(fmt.Sprintf("%s/%s", target.name, mode), func(b *testing.B) {
				samples := make([]time.Duration, 0, b.N)
				for i := 0; i < b.N; i++ {
					start := time.Now()
					resp, err := hc.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("GET %s: %d", url, resp.StatusCode)
					}
					samples = append(samples, time.Since(start))
				}
				sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
				b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
			})
		}
	}
}
