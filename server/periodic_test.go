package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/structs"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// launchPlan: the next launch in the job's time zone, and after an outage
// only the most recent missed tick is launched.
func TestLaunchPlan(t *testing.T) {
	hourly := &structs.PeriodicConfig{Enabled: true, Spec: "0 * * * *"}
	cases := []struct {
		name      string
		p         *structs.PeriodicConfig
		base, now string
		due, next string
	}{
		{"nothing due", hourly, "2026-11-30T10:00:00Z", "2026-11-30T10:30:00Z", "", "2026-11-30T11:00:00Z"},
		{"one due", hourly, "2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z", "2026-11-30T11:00:00Z", "2026-11-30T12:00:00Z"},
		{"catch up to the latest missed only", hourly, "2026-11-30T10:00:00Z", "2026-11-30T15:20:00Z",
			"2026-11-30T15:00:00Z", "2026-11-30T16:00:00Z"},
		// 02:00 every day in New York is 07:00 UTC in winter.
		{"time zone", &structs.PeriodicConfig{Enabled: true, Spec: "0 2 * * *", TimeZone: "America/New_York"},
			"2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z", "", "2026-12-01T07:00:00Z"},
		// and 06:00 UTC in summer.
		{"time zone summer", &structs.PeriodicConfig{Enabled: true, Spec: "0 2 * * *", TimeZone: "America/New_York"},
			"2026-07-01T08:00:00Z", "2026-07-02T06:00:00Z", "2026-07-02T06:00:00Z", "2026-07-03T06:00:00Z"},
		{"crons: the earliest", &structs.PeriodicConfig{Enabled: true, Specs: []string{"30 * * * *", "15 * * * *"}},
			"2026-11-30T10:00:00Z", "2026-11-30T10:20:00Z", "2026-11-30T10:15:00Z", "2026-11-30T10:30:00Z"},
		{"seconds field", &structs.PeriodicConfig{Enabled: true, Spec: "*/5 * * * * * *"},
			"2026-11-30T10:00:00Z", "2026-11-30T10:00:12Z", "2026-11-30T10:00:10Z", "2026-11-30T10:00:15Z"},
		{"never again", &structs.PeriodicConfig{Enabled: true, Spec: "0 0 1 1 * 2020"},
			"2026-11-30T10:00:00Z", "2026-11-30T10:00:12Z", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			due, next := launchPlan(c.p, mustTime(t, c.base), mustTime(t, c.now))
			got := func(v time.Time) string {
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format(time.RFC3339)
			}
			if got(due) != c.due || got(next) != c.next {
				t.Fatalf("due %q next %q, want %q %q", got(due), got(next), c.due, c.next)
			}
		})
	}
}

func periodicJob(id, spec string, overlap bool) *structs.Job {
	j := testJob(id, 1, 32)
	j.Type = structs.JobTypeBatch
	j.Periodic = &structs.PeriodicConfig{Enabled: true, Spec: spec, SpecType: "cron", ProhibitOverlap: overlap}
	j.TaskGroups[0].EphemeralDisk.SizeMB = 300
	jobspec.Canonicalize(j)
	return j
}

func children(t *testing.T, s *Server, parent string) []*structs.Job {
	t.Helper()
	c, err := s.State().ChildJobs(nil, "default", parent)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The periodic dispatcher launches a child per tick, named
// <job>/periodic-<unix>, on consecutive ticks; the parent is never placed;
// the parent's summary counts its children; the launch is recorded.
func TestPeriodicDispatcherLaunches(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	job := periodicJob("cron", "* * * * * * *", false)
	if err := jobspec.Validate(job); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "3 children", func() bool { return len(children(t, s, "cron")) >= 3 })
	kids := children(t, s, "cron")
	var secs []int64
	for _, c := range kids {
		var sec int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(c.ID, "cron/periodic-"), "%d", &sec); err != nil || c.ParentID != "cron" {
			t.Fatalf("child %q (parent %q)", c.ID, c.ParentID)
		}
		if c.Periodic != nil || c.Name != c.ID {
			t.Fatalf("child %q keeps the periodic block or another name (%q)", c.ID, c.Name)
		}
		secs = append(secs, sec)
	}
	for i := 1; i < len(secs); i++ {
		if secs[i] != secs[i-1]+1 {
			t.Fatalf("children are not one per consecutive second: %v", secs)
		}
	}
	if a := liveAllocs(t, s, "cron"); len(a) != 0 {
		t.Fatalf("the periodic parent was placed: %d allocations", len(a))
	}
	waitUntil(t, 10*time.Second, "children placed", func() bool { return len(liveAllocs(t, s, kids[0].ID)) == 1 })
	last, err := s.State().PeriodicLaunchByID(nil, "default", "cron")
	if err != nil || last == nil {
		t.Fatalf("no launch recorded: %v", err)
	}
	sum, err := s.State().JobSummaryByID(nil, "default", "cron")
	if err != nil {
		t.Fatal(err)
	}
	n := len(children(t, s, "cron"))
	if c := sum.Children; c == nil || c.Pending+c.Running+c.Dead < int64(len(kids)) || c.Pending+c.Running+c.Dead > int64(n) {
		t.Fatalf("children summary %+v, %d..%d children", sum.Children, len(kids), n)
	}
	// A stopped parent launches nothing more.
	if _, err := s.DeregisterJob(ctx, "default", "cron", structs.JobDeregisterOptions{}); err != nil {
		t.Fatal(err)
	}
	n = len(children(t, s, "cron"))
	time.Sleep(2500 * time.Millisecond)
	if m := len(children(t, s, "cron")); m != n {
		t.Fatalf("a stopped periodic job launched: %d -> %d children", n, m)
	}
}

// prohibit_overlap: while a child is not dead, ticks launch nothing (and
// are recorded, so they are not retried); periodic force launches anyway.
func TestPeriodicProhibitOverlapAndForce(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	// No node: the first child's eval blocks and the child stays pending.
	job := periodicJob("once", "* * * * * * *", true)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a child", func() bool { return len(children(t, s, "once")) == 1 })
	l1, _ := s.State().PeriodicLaunchByID(nil, "default", "once")
	time.Sleep(2500 * time.Millisecond)
	if n := len(children(t, s, "once")); n != 1 {
		t.Fatalf("prohibit_overlap: %d children while the first is pending", n)
	}
	l2, _ := s.State().PeriodicLaunchByID(nil, "default", "once")
	if l1 == nil || l2 == nil || l2.Launch <= l1.Launch {
		t.Fatalf("skipped ticks not recorded: %+v -> %+v", l1, l2)
	}
	resp, err := s.ForcePeriodicJob(ctx, "default", "once")
	if err != nil || resp.EvalID == "" {
		t.Fatalf("force: %+v %v", resp, err)
	}
	if n := len(children(t, s, "once")); n != 2 {
		t.Fatalf("force launched %d children in all, want 2", n)
	}
	// Forced again within the same second: the next free second.
	if _, err := s.ForcePeriodicJob(ctx, "default", "once"); err != nil {
		t.Fatalf("second force: %v", err)
	}
	if n := len(children(t, s, "once")); n != 3 {
		t.Fatalf("two forces launched %d children in all, want 3", n)
	}
	if _, err := s.ForcePeriodicJob(ctx, "default", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("force of an unknown job: %v", err)
	}
	plain := testJob("plain", 1, 32)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: plain}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForcePeriodicJob(ctx, "default", "plain"); !errors.Is(err, ErrBadInput) {
		t.Fatalf("force of a non-periodic job: %v", err)
	}
}

func parameterizedJob(id string, p *structs.ParameterizedJobConfig) *structs.Job {
	j := testJob(id, 1, 32)
	j.Type = structs.JobTypeBatch
	j.ParameterizedJob = p
	j.TaskGroups[0].EphemeralDisk.SizeMB = 300
	j.Meta = map[string]string{"base": "1"}
	j.TaskGroups[0].Tasks[0].DispatchPayload = &structs.DispatchPayloadConfig{File: "in.txt"}
	jobspec.Canonicalize(j)
	return j
}

// Dispatch checks payload and meta as Nomad does, creates
// <job>/dispatch-<unix>-<8 hex> children carrying them, and an idempotency
// token answers with the existing child.
func TestDispatchJob(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	job := parameterizedJob("fn", &structs.ParameterizedJobConfig{Payload: "required",
		MetaRequired: []string{"who"}, MetaOptional: []string{"opt"}})
	if err := jobspec.Validate(job); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]*structs.JobDispatchRequest{
		"Payload is not provided":                                    {JobID: "fn", Meta: map[string]string{"who": "a"}},
		"Payload exceeds maximum size":                               {JobID: "fn", Meta: map[string]string{"who": "a"}, Payload: make([]byte, structs.DispatchPayloadSizeLimit+1)},
		"Dispatch request included unpermitted metadata keys: [zzz]": {JobID: "fn", Meta: map[string]string{"who": "a", "zzz": "b"}, Payload: []byte("x")},
		"Dispatch did not provide required meta keys":                {JobID: "fn", Meta: map[string]string{"opt": "a"}, Payload: []byte("x")},
		"priority must be between 1 and 100":                         {JobID: "fn", Meta: map[string]string{"who": "a"}, Payload: []byte("x"), Priority: 101},
		"id prefix template must be at most 128 characters":          {JobID: "fn", Meta: map[string]string{"who": "a"}, Payload: []byte("x"), IdPrefixTemplate: "a b"},
	}
	for want, req := range bad {
		if _, err := s.DispatchJob(ctx, "default", req); !isBadInput(err) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	resp, err := s.DispatchJob(ctx, "default", &structs.JobDispatchRequest{JobID: "fn", Payload: []byte("hello"),
		Meta: map[string]string{"who": "a"}, IdPrefixTemplate: "tmpl"})
	if err != nil {
		t.Fatal(err)
	}
	var sec int64
	var hexs string
	if _, err := fmt.Sscanf(resp.DispatchedJobID, "fn/dispatch-tmpl-%d-%s", &sec, &hexs); err != nil || len(hexs) != 8 || resp.EvalID == "" {
		t.Fatalf("dispatched %+v (%v)", resp, err)
	}
	child, _ := s.State().JobByID(nil, "default", resp.DispatchedJobID)
	if child == nil || !child.Dispatched || string(child.Payload) != "hello" || child.Meta["who"] != "a" ||
		child.Meta["base"] != "1" || child.ParentID != "fn" || child.IsParameterized() {
		t.Fatalf("child %+v", child)
	}
	tok := &structs.JobDispatchRequest{JobID: "fn", Payload: []byte("x"), Meta: map[string]string{"who": "b"}, IdempotencyToken: "t1"}
	r1, err := s.DispatchJob(ctx, "default", tok)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.DispatchJob(ctx, "default", tok)
	if err != nil || r2.DispatchedJobID != r1.DispatchedJobID {
		t.Fatalf("same token dispatched %q then %q (%v)", r1.DispatchedJobID, r2.DispatchedJobID, err)
	}
	if n := len(children(t, s, "fn")); n != 2 {
		t.Fatalf("%d children, want 2", n)
	}
	if _, err := s.DispatchJob(ctx, "default", &structs.JobDispatchRequest{JobID: resp.DispatchedJobID}); !isBadInput(err) {
		t.Fatalf("dispatch of a dispatched child: %v", err)
	}
}

// A stopped parameterized parent is collected only with the last of its
// children; a finished child of a live parent is collected on its own.
func TestGCParentGoesWithItsChildren(t *testing.T) {
	s := testGCServer(t)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	job := parameterizedJob("fn", &structs.ParameterizedJobConfig{Payload: "optional"})
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		r, err := s.DispatchJob(ctx, "default", &structs.JobDispatchRequest{JobID: "fn"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.DispatchedJobID)
	}
	for _, id := range ids {
		waitUntil(t, 5*time.Second, id+" placed", func() bool { return len(liveAllocs(t, s, id)) == 1 })
		reportAllocs(t, s, liveAllocs(t, s, id), structs.AllocClientStatusRunning)
	}
	// The first child finishes and goes; the parent stays.
	reportAllocs(t, s, liveAllocs(t, s, ids[0]), structs.AllocClientStatusComplete)
	waitUntil(t, 5*time.Second, "finished child collected", func() bool { return jobGone(s, ids[0]) })
	if _, err := s.DeregisterJob(ctx, "default", "fn", structs.JobDeregisterOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.GarbageCollect(ctx, true); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.State().JobByID(nil, "default", "fn"); j == nil {
		t.Fatal("stopped parent collected while a child still runs")
	}
	reportAllocs(t, s, liveAllocs(t, s, ids[1]), structs.AllocClientStatusComplete)
	waitUntil(t, 5*time.Second, "parent and last child collected", func() bool { return jobGone(s, ids[1]) && jobGone(s, "fn") })
}

func childSeconds(t *testing.T, s *Server, parent string) []int64 {
	t.Helper()
	var out []int64
	for _, c := range children(t, s, parent) {
		sec, err := strconv.ParseInt(strings.TrimPrefix(c.ID, parent+"/periodic-"), 10, 64)
		if err != nil {
			t.Fatalf("child %q", c.ID)
		}
		out = append(out, sec)
	}
	slices.Sort(out)
	return out
}

// After an outage of several ticks (the only server down, then restarted
// on its data dir), the new leader launches only the most recent missed
// tick, as Nomad does, and goes on from there; nothing launched before the
// outage is launched again.
func TestPeriodicCatchUpAfterOutage(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	ctx := context.Background()
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: periodicJob("cron", "* * * * * * *", false)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a launch", func() bool { return len(children(t, s, "cron")) >= 1 })
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	before := childSeconds(t, s, "cron")
	time.Sleep(4 * time.Second)
	restarted := time.Now()
	s2, err := New(Config{DataDir: dir, NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: s.cfg.RaftPort, BootstrapExpect: 1,
		Dev: true, NumWorkers: 1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	waitUntil(t, 10*time.Second, "two launches after the restart", func() bool {
		return len(childSeconds(t, s2, "cron")) >= len(before)+2
	})
	after := childSeconds(t, s2, "cron")
	if !slices.Equal(after[:len(before)], before) {
		t.Fatalf("children before the outage %v, after %v", before, after)
	}
	last, caught := before[len(before)-1], after[len(before)]
	// The catch-up is the latest tick before the new leader's first round;
	// the ticks of the outage before it are skipped.
	if caught < restarted.Unix()-1 || caught-last < 3 {
		t.Fatalf("catch-up launch at %d: last before the outage %d, restarted at %d (%v)", caught, last, restarted.Unix(), after)
	}
	for i := len(before) + 1; i < len(after); i++ {
		if after[i] != after[i-1]+1 {
			t.Fatalf("launches after the catch-up are not one per second: %v", after)
		}
	}
}

// isBadInput reports a 400 answer.
func isBadInput(err error) bool {
	var sc interface{ StatusCode() int }
	return errors.As(err, &sc) && sc.StatusCode() == 400
}

// TestLaunchPlanLongOutage: the latest missed tick of a seconds-level cron
// after days without a leader is found in a few dozen cron evaluations
// (it walked every missed tick: 13 days of a 1 s cron took ~40 s of the
// leader's CPU per round, and the walk's cap stopped it at a tick a day
// old), and the plan agrees with the walk on shorter gaps for assorted
// schedules and zones.
func TestLaunchPlanLongOutage(t *testing.T) {
	every := &structs.PeriodicConfig{Enabled: true, Spec: "* * * * * * *", TimeZone: "America/New_York"}
	now := time.Date(2026, 11, 30, 15, 0, 0, 500_000_000, time.UTC)
	start := time.Now()
	due, next := launchPlan(every, now.Add(-13*24*time.Hour), now)
	took := time.Since(start)
	t.Logf("13 days of 1 s ticks in America/New_York planned in %v", took)
	if took > 2*time.Second {
		t.Errorf("13 days of 1 s ticks took %v to plan", took)
	}
	if want := now.Truncate(time.Second); !due.Equal(want) || !next.Equal(want.Add(time.Second)) {
		t.Fatalf("due %v next %v, want %v and a second later", due, next, want)
	}

	walk := func(p *structs.PeriodicConfig, base, now time.Time) (due, next time.Time) {
		next = p.Next(base)
		for !next.IsZero() && !next.After(now) {
			due, next = next, p.Next(next)
		}
		return due, next
	}
	specs := []*structs.PeriodicConfig{
		{Spec: "*/7 * * * * * *"},
		{Spec: "0 */5 * * * *", TimeZone: "Europe/Paris"},
		{Spec: "30 2 * * *", TimeZone: "America/New_York"}, // skipped and repeated at DST changes
		{Specs: []string{"15 * * * *", "45 */2 * * *"}},
		{Spec: "0 0 1 1 * 2020"},
	}
	base := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC) // spans the US and EU spring changes
	for _, p := range specs {
		p.Enabled = true
		for _, gap := range []time.Duration{0, 3 * time.Second, 7 * time.Minute, 26 * time.Hour, 9 * 24 * time.Hour, 23 * 24 * time.Hour} {
			if p.Spec == "*/7 * * * * * *" && gap > 26*time.Hour {
				continue // the walk itself would take seconds
			}
			now := base.Add(gap + 1234*time.Millisecond)
			d1, n1 := launchPlan(p, base, now)
			d2, n2 := walk(p, base, now)
			if !d1.Equal(d2) || !n1.Equal(n2) {
				t.Errorf("%v%v over %v: plan %v/%v, walk %v/%v", p.Spec, p.Specs, gap, d1, n1, d2, n2)
			}
		}
	}
}
