package server

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// BenchmarkRegisterJobCommit measures one job registration (validation,
// the Raft commit on disk, the FSM apply) on a lone server, with and
// without raft.db's reserve of free pages.
//
//	go test -run '^$' -bench RegisterJobCommit -benchtime 2000x ./server/
func BenchmarkRegisterJobCommit(b *testing.B) {
	for _, reserve := range []int{8 << 20, 0} {
		b.Run(fmt.Sprintf("Reserve%dMiB", reserve>>20), func(b *testing.B) {
			old := logReserve
			logReserve = reserve
			defer func() { logReserve = old }()
			s := testServerWith(b, b.TempDir(), func(c *Config) { c.NumWorkers = -1 })
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				job := testJob(fmt.Sprintf("j%d", i), 1, 64)
				start := time.Now()
				if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
