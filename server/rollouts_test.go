package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// simClient plays the client side of allocations for server tests: every
// allocation the servers want running is reported running, and its
// deployment health as verdict says (nil: not reported). Real clients are
// covered by the e2e tests; this exercises the server's rollout machinery
// (scheduler, plan applier, FSM, watcher) without processes.
type simClient struct {
	t       *testing.T
	s       *Server
	mu      sync.Mutex
	verdict func(a *structs.Allocation) (status string, healthy *bool)
	seen    map[string]string // alloc ID -> last reported key
	stop    chan struct{}
	done    chan struct{}
}

func startSimClient(t *testing.T, s *Server, verdict func(a *structs.Allocation) (string, *bool)) *simClient {
	c := &simClient{t: t, s: s, verdict: verdict, seen: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	t.Cleanup(func() { close(c.stop); <-c.done })
	return c
}

func (c *simClient) setVerdict(v func(a *structs.Allocation) (string, *bool)) {
	c.mu.Lock()
	c.verdict = v
	c.mu.Unlock()
}

func (c *simClient) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		c.step()
	}
}

func (c *simClient) step() {
	allocs, err := c.s.State().AllocsByIDPrefix(nil, "*", "")
	if err != nil {
		return
	}
	c.mu.Lock()
	verdict := c.verdict
	c.mu.Unlock()
	var ups []*structs.Allocation
	for _, a := range allocs {
		if a.ClientTerminalStatus() {
			continue
		}
		status, healthy := structs.AllocClientStatusRunning, (*bool)(nil)
		if a.DesiredStatus != structs.AllocDesiredStatusRun {
			status = structs.AllocClientStatusComplete
		} else {
			status, healthy = verdict(a)
		}
		key := status + a.DeploymentID
		if healthy != nil && !a.DeploymentStatus.HealthSet() {
			key += "h"
		}
		if c.seen[a.ID] == key && (healthy == nil || a.DeploymentStatus.HealthSet()) {
			continue
		}
		c.seen[a.ID] = key
		u := &structs.Allocation{ID: a.ID, DeploymentID: a.DeploymentID, ClientStatus: status}
		if healthy != nil && a.DeploymentID != "" && !a.DeploymentStatus.HealthSet() {
			u.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: healthy, Timestamp: time.Now()}
		}
		ups = append(ups, u)
	}
	if len(ups) > 0 && c.s.IsLeader() {
		_, _ = c.s.UpdateAllocsFromClient(context.Background(), ups)
	}
}

func ptr[T any](v T) *T { return &v }

// healthyUnless reports every allocation healthy unless its task runs bad.
func healthyUnless(bad string) func(a *structs.Allocation) (string, *bool) {
	return func(a *structs.Allocation) (string, *bool) {
		if a.Job != nil {
			if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil && tg.Tasks[0].Config["command"] == bad {
				return structs.AllocClientStatusFailed, ptr(false)
			}
		}
		return structs.AllocClientStatusRunning, ptr(true)
	}
}

func rolloutJob(id string, count int) *structs.Job {
	j := testJob(id, count, 64)
	j.TaskGroups[0].Update = &structs.UpdateStrategy{
		MaxParallel: 2, Canary: 1, HealthCheck: "task_states", AutoRevert: true,
		MinHealthyTime: 0, HealthyDeadline: time.Minute, ProgressDeadline: 5 * time.Minute, Stagger: time.Second,
	}
	j.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep"}
	return j
}

func latestDeployment(t *testing.T, s *Server, job string) *structs.Deployment {
	d, err := s.State().LatestDeploymentByJobID(nil, "default", job)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitDeployment(t *testing.T, s *Server, job string, version uint64, status string) *structs.Deployment {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		deps, err := s.State().Snapshot().DeploymentsByJob(nil, "default", job)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range deps {
			if x.JobVersion == version && x.Status == status {
				return x
			}
		}
		if time.Now().After(deadline) {
			d := latestDeployment(t, s, job)
			var st *structs.DeploymentState
			if d != nil {
				for _, g := range d.TaskGroups {
					st = g
				}
			}
			allocs, _ := s.State().AllocsByJob(nil, "default", job)
			for _, a := range allocs {
				t.Logf("alloc %s v%d %s/%s dep=%s %+v", a.Name, a.JobVersion, a.DesiredStatus, a.ClientStatus, a.DeploymentID, a.DeploymentStatus)
			}
			t.Fatalf("timed out waiting for deployment of version %d %s; latest %+v %+v", version, status, d, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRolloutCanaryPromoteAndAutoRevert(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		if _, err := s.RegisterNode(ctx, testNode("n"+string(rune('a'+i)), 4000, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	startSimClient(t, s, healthyUnless("/bin/false"))

	job := rolloutJob("web", 5)
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, s, "web", 0, structs.DeploymentStatusSuccessful)
	if j, _ := s.State().JobByID(nil, "default", "web"); !j.Stable {
		t.Fatal("version 0 not stable after its deployment succeeded")
	}

	// A good version: one canary, held until promoted.
	good := rolloutJob("web", 5)
	good.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"1"}}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: good}); err != nil {
		t.Fatal(err)
	}
	var d *structs.Deployment
	waitUntil(t, 10*time.Second, "canary healthy", func() bool {
		d = latestDeployment(t, s, "web")
		return d.JobVersion == 1 && d.TaskGroups["g"].HealthyAllocs == 1
	})
	if d.Status != structs.DeploymentStatusRunning || d.StatusDescription != structs.DeploymentDescRunningNeedsPromotion {
		t.Fatalf("canary deployment %s: %s", d.Status, d.StatusDescription)
	}
	if n := len(liveAllocs(t, s, "web")); n != 6 {
		t.Fatalf("%d live allocations beside the canary, want 6", n)
	}
	if _, err := s.PromoteDeployment(ctx, &structs.DeploymentPromoteRequest{DeploymentID: d.ID, All: true}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, s, "web", 1, structs.DeploymentStatusSuccessful)
	for _, a := range liveAllocs(t, s, "web") {
		if a.JobVersion != 1 {
			t.Fatalf("alloc %s still at version %d", a.Name, a.JobVersion)
		}
	}

	// A bad version: its canary fails, the deployment fails and the job
	// goes back to version 1, the latest stable one.
	bad := rolloutJob("web", 5)
	bad.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/false"}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: bad}); err != nil {
		t.Fatal(err)
	}
	failed := waitDeployment(t, s, "web", 2, structs.DeploymentStatusFailed)
	if want := structs.DeploymentDescRollback(structs.DeploymentDescFailedAllocations, 1); failed.StatusDescription != want {
		t.Fatalf("failed deployment says %q, want %q", failed.StatusDescription, want)
	}
	waitDeployment(t, s, "web", 3, structs.DeploymentStatusSuccessful)
	j, _ := s.State().JobByID(nil, "default", "web")
	if j.Version != 3 || j.TaskGroups[0].Tasks[0].Config["command"] != "/bin/sleep" || !j.Stable {
		t.Fatalf("job after revert: version %d, config %v, stable %v", j.Version, j.TaskGroups[0].Tasks[0].Config, j.Stable)
	}
	live := liveAllocs(t, s, "web")
	if len(live) != 5 {
		t.Fatalf("%d live allocations after the revert", len(live))
	}
	for _, a := range live {
		if a.JobVersion != 3 {
			t.Fatalf("alloc %s at version %d after the revert", a.Name, a.JobVersion)
		}
	}
}

func TestRolloutAutoPromoteAndProgressDeadline(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if _, err := s.RegisterNode(ctx, testNode("n"+string(rune('a'+i)), 4000, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	sim := startSimClient(t, s, healthyUnless(""))
	job := rolloutJob("api", 3)
	job.TaskGroups[0].Update.AutoPromote = true
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, s, "api", 0, structs.DeploymentStatusSuccessful)
	next := rolloutJob("api", 3)
	next.TaskGroups[0].Update.AutoPromote = true
	next.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"2"}}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: next}); err != nil {
		t.Fatal(err)
	}
	d := waitDeployment(t, s, "api", 1, structs.DeploymentStatusSuccessful)
	if !d.TaskGroups["g"].Promoted {
		t.Fatal("canaries were not auto-promoted")
	}

	// Allocations that never report health miss the progress deadline.
	sim.setVerdict(func(*structs.Allocation) (string, *bool) { return structs.AllocClientStatusRunning, nil })
	slow := rolloutJob("api", 3)
	slow.TaskGroups[0].Update.Canary = 0
	slow.TaskGroups[0].Update.AutoRevert = false
	slow.TaskGroups[0].Update.HealthyDeadline = 500 * time.Millisecond
	slow.TaskGroups[0].Update.ProgressDeadline = time.Second
	slow.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"3"}}
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: slow}); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, s, "api", 2, structs.DeploymentStatusFailed)
	if d.StatusDescription != structs.DeploymentDescProgressDeadline {
		t.Fatalf("deployment failed with %q", d.StatusDescription)
	}
	// No auto_revert: the job stays at version 2 and the rollout stops
	// where it was.
	if j, _ := s.State().JobByID(nil, "default", "api"); j.Version != 2 {
		t.Fatalf("job version %d", j.Version)
	}
}

func TestDeploymentWatcherRebuildsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	job := rolloutJob("svc", 1)
	job.TaskGroups[0].Update.Canary = 0
	job.TaskGroups[0].Update.ProgressDeadline = 2 * time.Second
	job.TaskGroups[0].Update.HealthyDeadline = time.Second
	if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placement", func() bool { return len(liveAllocs(t, s, "svc")) == 1 })
	port := s.cfg.RaftPort
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// The new leader knows the deployment only from replicated state and
	// still fails it at its deadline.
	s2 := testServerWith(t, dir, func(c *Config) { c.RaftPort = port })
	d := waitDeployment(t, s2, "svc", 0, structs.DeploymentStatusFailed)
	if d.StatusDescription != structs.DeploymentDescNoRollbackTarget(structs.DeploymentDescProgressDeadline) {
		t.Fatalf("deployment failed with %q", d.StatusDescription)
	}
}

// Finished deployments are collected, except each job's newest (the
// scheduler reads it) and those still running.
func TestGCCollectsFinishedDeploymentsButTheNewest(t *testing.T) {
	s := testGCServer(t)
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 8000, 8192)); err != nil {
		t.Fatal(err)
	}
	startSimClient(t, s, healthyUnless(""))
	job := rolloutJob("web", 2)
	job.TaskGroups[0].Update.Canary = 0
	for i, arg := range []string{"1", "2", "3"} {
		job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{arg}}
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, s, "web", uint64(i), structs.DeploymentStatusSuccessful)
	}
	var deps []*structs.Deployment
	waitUntil(t, 10*time.Second, "old deployments collected", func() bool {
		if err := s.GarbageCollect(ctx, true); err != nil {
			t.Fatal(err)
		}
		deps, _ = s.State().Snapshot().DeploymentsByJob(nil, "default", "web")
		return len(deps) == 1
	})
	if deps[0].JobVersion != 2 {
		t.Fatalf("kept deployment of version %d, want the newest (2)", deps[0].JobVersion)
	}
}
