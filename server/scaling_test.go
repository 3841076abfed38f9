package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

// job scale changes a group's count through Raft within the group's
// scaling policy (min/max), records each request in the group's history,
// and the scheduler places the new count.
func TestJobScaleBoundedByPolicy(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	job := testJob("web", 2, 64)
	one, three := int64(1), int64(3)
	job.TaskGroups[0].Scaling = &structs.ScalingPolicy{Min: &one, Max: &three, Policy: map[string]any{"cooldown": "1m"}}
	job.TaskGroups[0].EphemeralDisk.SizeMB = 300
	jobspec.Canonicalize(job)
	if err := jobspec.Validate(job); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "2 allocations", func() bool { return len(liveAllocs(t, s, "web")) == 2 })

	scale := func(n int64) (*structs.JobRegisterResponse, error) {
		return s.ScaleJob(ctx, "default", "web", &structs.ScalingRequest{Count: &n, Message: "test",
			Target: map[string]string{structs.ScalingTargetGroup: "g"}})
	}
	for n, want := range map[int64]string{
		5: "group count was greater than scaling policy maximum: 5 > 3",
		0: "group count was less than scaling policy minimum: 0 < 1",
	} {
		if _, err := scale(n); err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), want) {
			t.Fatalf("scale to %d: %v", n, err)
		}
	}
	resp, err := scale(3)
	if err != nil || resp.EvalID == "" {
		t.Fatalf("scale to 3: %+v %v", resp, err)
	}
	waitUntil(t, 10*time.Second, "3 allocations", func() bool { return len(liveAllocs(t, s, "web")) == 3 })
	stored, _ := s.State().JobByID(nil, "default", "web")
	if stored.TaskGroups[0].Count != 3 || stored.Version != 1 {
		t.Fatalf("job after scale: count %d version %d", stored.TaskGroups[0].Count, stored.Version)
	}
	if _, err := scale(1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "1 allocation", func() bool { return len(liveAllocs(t, s, "web")) == 1 })

	// An autoscaler's error report is recorded without changing anything.
	if _, err := s.ScaleJob(ctx, "default", "web", &structs.ScalingRequest{Error: true, Message: "metrics unavailable",
		Target: map[string]string{structs.ScalingTargetGroup: "g"}}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.State().Snapshot().ScalingEventsByJob(nil, "default", "web")
	if err != nil || evs == nil {
		t.Fatalf("events: %+v %v", evs, err)
	}
	g := evs.ScalingEvents["g"]
	if len(g) != 3 || !g[0].Error || g[0].Count != nil || *g[1].Count != 1 || g[1].PreviousCount != 3 ||
		*g[2].Count != 3 || g[2].PreviousCount != 2 || g[2].EvalID == nil || *g[2].EvalID != resp.EvalID {
		t.Fatalf("history %+v", g)
	}
	pols, err := s.State().Snapshot().ScalingPolicies(nil, "default", "web", "")
	if err != nil || len(pols) != 1 || *pols[0].Max != 3 || pols[0].Target["Group"] != "g" ||
		pols[0].ID != structs.ScalingPolicyID("default", "web", "g") {
		t.Fatalf("policies %+v %v", pols, err)
	}
	// The scaled job is valid against its policy, so it re-registers.
	if _, err := scale(4); err == nil {
		t.Fatal("scaled past max")
	}
}
