package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// BenchmarkPeriodicRound is one round of the periodic dispatcher over
// 1,000 periodic jobs none of which is due: the work it repeats whenever a
// periodic job changes.
func BenchmarkPeriodicRound(b *testing.B) {
	s := testServerWith(b, b.TempDir(), nil)
	ctx := context.Background()
	waitUntil(b, 10*time.Second, "leadership", s.IsLeader)
	for i := range 1000 {
		j := periodicJob(fmt.Sprintf("p%04d", i), "0 0 1 1 *", false)
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: j}); err != nil {
			b.Fatal(err)
		}
	}
	sched := periodicSchedule{}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.periodicRound(ctx, memdb.NewWatchSet(), sched); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatch is one dispatch of a parameterized job with a 1 KiB
// payload, committed through Raft on disk (single server).
func BenchmarkDispatch(b *testing.B) {
	s := testServerWith(b, b.TempDir(), nil)
	ctx := context.Background()
	waitUntil(b, 10*time.Second, "leadership", s.IsLeader)
	job := parameterizedJob("fn", &structs.ParameterizedJobConfig{Payload: "required"})
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.DispatchJob(ctx, "default", &structs.JobDispatchRequest{JobID: "fn", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}
