package docker

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkStartWait measures the latency of one short task: create and
// start the container, then observe its exit (`true` in the busybox image).
// Run with: go test -run '^$' -bench StartWait -benchtime 20x ./drivers/docker/
func BenchmarkStartWait(b *testing.B) {
	d := newTestDriver(b)
	var startLat, totalLat []time.Duration
	for b.Loop() {
		tt := newTestTask(b, busybox("true"))
		t0 := time.Now()
		if _, err := d.Start(context.Background(), tt.TaskConfig); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res := waitExit(b, d, tt.ID, 30*time.Second)
		t2 := time.Now()
		if !res.Successful() {
			b.Fatalf("exit = %+v", res)
		}
		startLat = append(startLat, t1.Sub(t0))
		totalLat = append(totalLat, t2.Sub(t0))
		b.StopTimer()
		if err := d.Destroy(tt.ID, true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(p50(startLat).Seconds()*1000, "start-p50-ms")
	b.ReportMetric(p50(totalLat).Seconds()*1000, "start+exit-p50-ms")
}

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
