package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// TestGroupCountBoundOnEveryWritePath: a count above the server's maximum
// is refused on register (revert goes through it), plan and scale, before
// anything reaches Raft.
func TestGroupCountBoundOnEveryWritePath(t *testing.T) {
	s := testServerWith(t, t.TempDir(), func(c *Config) { c.MaxGroupCount = 50 })
	ctx := context.Background()
	job := testJob("big", 51, 64)
	jobspec.Canonicalize(job)
	_, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `group "g" -> count: 51 is more than the server's maximum of 50`) {
		t.Fatalf("register count 51: %v", err)
	}
	if j, _ := s.State().JobByID(nil, "default", "big"); j != nil {
		t.Fatal("refused job stored")
	}
	if _, err := s.PlanJob(ctx, &structs.JobPlanRequest{Job: job}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("plan count 51: %v", err)
	}
	job.TaskGroups[0].Count = 50
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatalf("register count 50: %v", err)
	}
	for _, n := range []int64{51, 1_000_000_000} {
		_, err := s.ScaleJob(ctx, "default", "big", &structs.ScalingRequest{Count: &n,
			Target: map[string]string{structs.ScalingTargetGroup: "g"}})
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "is more than the server's maximum of 50") {
			t.Fatalf("scale to %d: %v", n, err)
		}
	}
	if j, _ := s.State().JobByID(nil, "default", "big"); j.TaskGroups[0].Count != 50 || j.Version != 0 {
		t.Fatalf("job changed by a refused scale: count %d version %d", j.TaskGroups[0].Count, j.Version)
	}
	// The default applies when the config sets none.
	d := testServer(t, t.TempDir())
	if d.maxGroupCount() != DefaultMaxGroupCount {
		t.Fatalf("default maximum %d", d.maxGroupCount())
	}
}
