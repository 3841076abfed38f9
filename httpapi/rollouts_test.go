package httpapi_test

import (
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
)

// rolloutAgent is a real server (Raft on disk) behind the HTTP API, with
// nodes registered and a stand-in client that reports every allocation
// running and healthy (health_check = "manual" left to the test), so
// deployments progress. Real clients are covered by the e2e tests.
type rolloutAgent struct {
	srv *server.Server
	c   *nomad.Client
}

func newRolloutAgent(t *testing.T, nodes int) *rolloutAgent {
	t.Helper()
	s, url := servertest.HTTP(t)
	servertest.Nodes(t, s, nodes)
	servertest.StandInClient(t, s, servertest.Healthy)
	c, err := nomad.NewClient(&nomad.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return &rolloutAgent{srv: s, c: c}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// apiJob builds a service job the way the nomad CLI would send it.
func apiJob(id string, count int, args ...string) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"dc1"}
	cfg := map[string]any{"command": "/bin/sleep", "args": args}
	task := nomad.NewTask("t", "raw_exec")
	task.Config = cfg
	tg := nomad.NewTaskGroup("g", count).AddTask(task)
	tg.Update = &nomad.UpdateStrategy{MaxParallel: ptr(2), Canary: ptr(1), HealthCheck: ptr("task_states"),
		MinHealthyTime: ptr(time.Duration(0)), HealthyDeadline: ptr(time.Minute), AutoRevert: ptr(true)}
	job.AddTaskGroup(tg)
	return job
}

func TestDeploymentsThroughNomadAPIClient(t *testing.T) {
	a := newRolloutAgent(t, 6)
	c := a.c
	reg, _, err := c.Jobs().RegisterOpts(apiJob("web", 3, "100"), &nomad.RegisterOptions{
		Submission: &nomad.JobSubmission{Source: "job \"web\" {}", Format: "hcl2", VariableFlags: map[string]string{"x": "1"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d0 *nomad.Deployment
	eventually(t, "first deployment successful", func() bool {
		d0, _, err = c.Jobs().LatestDeployment("web", nil)
		return err == nil && d0 != nil && d0.Status == "successful"
	})
	if d0.StatusDescription != "Deployment completed successfully" || d0.TaskGroups["g"].DesiredTotal != 3 ||
		d0.TaskGroups["g"].HealthyAllocs != 3 {
		t.Fatalf("first deployment: %+v %+v", d0, d0.TaskGroups["g"])
	}
	if ev, _, err := c.Evaluations().Info(reg.EvalID, nil); err != nil || ev.DeploymentID != d0.ID {
		t.Fatalf("registering eval names its deployment: %+v %v", ev, err)
	}
	if list, _, err := c.Deployments().List(nil); err != nil || len(list) != 1 || list[0].ID != d0.ID {
		t.Fatalf("deployments list: %+v %v", list, err)
	}
	if got, _, err := c.Deployments().PrefixList(d0.ID[:6]); err != nil || len(got) != 1 {
		t.Fatalf("prefix list: %+v %v", got, err)
	}
	if allocs, _, err := c.Deployments().Allocations(d0.ID, nil); err != nil || len(allocs) != 3 || allocs[0].DeploymentStatus == nil {
		t.Fatalf("deployment allocations: %+v %v", allocs, err)
	}
	if sub, _, err := c.Jobs().Submission("web", 0, nil); err != nil || sub.Source != "job \"web\" {}" || sub.VariableFlags["x"] != "1" {
		t.Fatalf("submission: %+v %v", sub, err)
	}
	if _, _, err := c.Jobs().Submission("web", 9, nil); err == nil || !strings.Contains(err.Error(), "job source not found") {
		t.Fatalf("missing submission: %v", err)
	}

	// Plan a destructive change: a diff, the counts, and the index to
	// enforce.
	next := apiJob("web", 3, "200")
	plan, _, err := c.Jobs().Plan(next, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := plan.Annotations.DesiredTGUpdates["g"]
	if plan.JobModifyIndex == 0 || u.Canary != 1 || u.Ignore != 3 || plan.Diff.Type != "Edited" {
		t.Fatalf("plan: index %d, updates %+v, diff %s", plan.JobModifyIndex, u, plan.Diff.Type)
	}
	if task := plan.Diff.TaskGroups[0].Tasks[0]; len(task.Annotations) != 1 || task.Annotations[0] != "forces create/destroy update" {
		t.Fatalf("task annotations: %+v", task)
	}
	if _, _, err := c.Jobs().EnforceRegister(next, plan.JobModifyIndex+1, nil); err == nil ||
		!strings.Contains(err.Error(), nomad.RegisterEnforceIndexErrPrefix) {
		t.Fatalf("stale enforce index: %v", err)
	}
	if _, _, err := c.Jobs().EnforceRegister(next, plan.JobModifyIndex, nil); err != nil {
		t.Fatal(err)
	}

	// The canary waits for promotion; pause, resume and promote it.
	var d1 *nomad.Deployment
	eventually(t, "canary healthy", func() bool {
		d1, _, err = c.Jobs().LatestDeployment("web", nil)
		return err == nil && d1 != nil && d1.JobVersion == 1 && d1.TaskGroups["g"].HealthyAllocs == 1
	})
	if d1.StatusDescription != "Deployment is running but requires manual promotion" || len(d1.TaskGroups["g"].PlacedCanaries) != 1 {
		t.Fatalf("canary deployment: %s %+v", d1.StatusDescription, d1.TaskGroups["g"])
	}
	if _, _, err := c.Deployments().Pause(d1.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.Deployments().Info(d1.ID, nil); got.Status != "paused" {
		t.Fatalf("paused: %s", got.Status)
	}
	if _, _, err := c.Deployments().Pause(d1.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Deployments().PromoteGroups(d1.ID, []string{"nope"}, nil); err == nil {
		t.Fatal("promoting an unknown group succeeded")
	}
	if _, _, err := c.Deployments().PromoteAll(d1.ID, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "promoted deployment successful", func() bool {
		d, _, err := c.Deployments().Info(d1.ID, nil)
		return err == nil && d.Status == "successful"
	})
	if _, _, err := c.Deployments().Fail(d1.ID, nil); err == nil {
		t.Fatal("failing a finished deployment succeeded")
	}

	// History with diffs, then a revert enforcing the prior version.
	versions, diffs, _, err := c.Jobs().Versions("web", true, nil)
	if err != nil || len(versions) != 2 || len(diffs) != 1 || diffs[0].Type != "Edited" || !*versions[0].Stable {
		t.Fatalf("versions: %d, diffs %+v, %v", len(versions), diffs, err)
	}
	if _, _, err := c.Jobs().Revert("web", 0, ptr(uint64(7)), nil, "", ""); err == nil || !strings.Contains(err.Error(), "enforcing version") {
		t.Fatalf("revert with a wrong prior version: %v", err)
	}
	rev, _, err := c.Jobs().Revert("web", 0, ptr(uint64(1)), nil, "", "")
	if err != nil || rev.EvalID == "" {
		t.Fatalf("revert: %+v %v", rev, err)
	}
	// Going back is a rollout like any other: its canary waits for promotion.
	var d2 *nomad.Deployment
	eventually(t, "revert canary healthy", func() bool {
		d2, _, err = c.Jobs().LatestDeployment("web", nil)
		return err == nil && d2 != nil && d2.JobVersion == 2 && d2.TaskGroups["g"].HealthyAllocs == 1
	})
	if _, _, err := c.Deployments().PromoteAll(d2.ID, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revert deployment successful", func() bool {
		d, _, err := c.Deployments().Info(d2.ID, nil)
		return err == nil && d.Status == "successful"
	})
	if job, _, _ := c.Jobs().Info("web", nil); *job.Version != 2 || job.TaskGroups[0].Tasks[0].Config["args"].([]any)[0] != "100" {
		t.Fatalf("reverted job: version %d, config %v", *job.Version, job.TaskGroups[0].Tasks[0].Config)
	}
	if deps, _, err := c.Jobs().Deployments("web", true, nil); err != nil || len(deps) != 3 {
		t.Fatalf("job deployments: %d %v", len(deps), err)
	}
	if _, _, err := c.Jobs().Stable("web", 0, false, nil); err != nil {
		t.Fatalf("stable: %v", err)
	}

	// Forced evaluation; deregistering a job that does not exist succeeds,
	// and eval_priority is honoured.
	evalID, _, err := c.Jobs().EvaluateWithOpts("web", nomad.EvalOptions{ForceReschedule: true}, nil)
	if err != nil || evalID == "" {
		t.Fatalf("evaluate: %q %v", evalID, err)
	}
	if _, _, err := c.Jobs().ForceEvaluate("nope", nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("evaluating an unknown job: %v", err)
	}
	if _, _, err := c.Jobs().Deregister("nope", false, nil); err != nil {
		t.Fatalf("deregistering an unknown job: %v", err)
	}
	evalID, _, err = c.Jobs().DeregisterOpts("web", &nomad.DeregisterOptions{EvalPriority: 97}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _, err := c.Evaluations().Info(evalID, nil); err != nil || ev.Priority != 97 {
		t.Fatalf("deregister eval priority: %+v %v", ev, err)
	}
	eventually(t, "stopped job's deployment stays finished", func() bool {
		d, _, err := c.Jobs().LatestDeployment("web", nil)
		return err == nil && d != nil && d.Status == "successful"
	})
}

func TestManualHealthThroughNomadAPIClient(t *testing.T) {
	a := newRolloutAgent(t, 3)
	c := a.c
	job := apiJob("man", 2, "100")
	job.TaskGroups[0].Update.Canary = ptr(0)
	job.TaskGroups[0].Update.HealthCheck = ptr("manual")
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	// Nothing decides health but the operator.
	var d *nomad.Deployment
	var allocs []*nomad.AllocationListStub
	eventually(t, "placements", func() bool {
		var err error
		d, _, err = c.Jobs().LatestDeployment("man", nil)
		if err != nil || d == nil {
			return false
		}
		allocs, _, err = c.Deployments().Allocations(d.ID, nil)
		return err == nil && len(allocs) == 2
	})
	if _, _, err := c.Deployments().SetAllocHealth(d.ID, nil, nil, nil); err == nil {
		t.Fatal("setting health of no allocation succeeded")
	}
	if _, _, err := c.Deployments().SetAllocHealth(d.ID, []string{"nope"}, nil, nil); err == nil {
		t.Fatal("setting health of an allocation outside the deployment succeeded")
	}
	time.Sleep(200 * time.Millisecond)
	if got, _, _ := c.Deployments().Info(d.ID, nil); got.Status != "running" || got.TaskGroups["g"].HealthyAllocs != 0 {
		t.Fatalf("manual deployment progressed by itself: %s %+v", got.Status, got.TaskGroups["g"])
	}
	if _, _, err := c.Deployments().SetAllocHealth(d.ID, []string{allocs[0].ID, allocs[1].ID}, nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deployment successful", func() bool {
		got, _, err := c.Deployments().Info(d.ID, nil)
		return err == nil && got.Status == "successful"
	})

	// An allocation an operator calls unhealthy fails the next deployment,
	// which reverts to the stable version.
	job.TaskGroups[0].Tasks[0].Config["args"] = []string{"300"}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second deployment's placements", func() bool {
		var err error
		d, _, err = c.Jobs().LatestDeployment("man", nil)
		if err != nil || d == nil || d.JobVersion != 1 {
			return false
		}
		allocs, _, err = c.Deployments().Allocations(d.ID, nil)
		return err == nil && len(allocs) > 0
	})
	resp, _, err := c.Deployments().SetAllocHealth(d.ID, nil, []string{allocs[0].ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RevertedJobVersion == nil || *resp.RevertedJobVersion != 0 {
		t.Fatalf("reverted version: %v", resp.RevertedJobVersion)
	}
	got, _, _ := c.Deployments().Info(d.ID, nil)
	if got.Status != "failed" || got.StatusDescription != "Failed due to unhealthy allocations - rolling back to job version 0" {
		t.Fatalf("failed deployment: %s %q", got.Status, got.StatusDescription)
	}
	if j, _, err := c.Jobs().Info("man", nil); err != nil || *j.Version != 2 {
		t.Fatalf("reverted job: %v", err)
	}
}
