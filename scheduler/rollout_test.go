package scheduler

import (
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// rollingJob is mkJob with a rolling update block.
func rollingJob(id string, count, maxParallel, canary int) *structs.Job {
	j := mkJob(id, structs.JobTypeService, count)
	j.TaskGroups[0].Update = &structs.UpdateStrategy{
		MaxParallel: maxParallel, Canary: canary, HealthCheck: "task_states",
		MinHealthyTime: 10 * time.Second, HealthyDeadline: 5 * time.Minute, ProgressDeadline: 10 * time.Minute,
		Stagger: 30 * time.Second,
	}
	return j
}

// setHealth reports allocations healthy or not, as their client would.
func (h *harness) setHealth(healthy bool, allocs ...*structs.Allocation) {
	h.t.Helper()
	var ups []*structs.Allocation
	for _, a := range allocs {
		v := healthy
		ups = append(ups, &structs.Allocation{
			ID: a.ID, DeploymentID: a.DeploymentID, ClientStatus: structs.AllocClientStatusRunning,
			DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: &v},
		})
	}
	if err := h.store.UpdateAllocsFromClient(h.next(), ups, h.now); err != nil {
		h.t.Fatalf("health update: %v", err)
	}
}

func (h *harness) deployment(id string) *structs.Deployment {
	h.t.Helper()
	d, err := h.store.DeploymentByID(nil, id)
	if err != nil || d == nil {
		h.t.Fatalf("deployment %s: %v", id, err)
	}
	return d
}

// versionCount counts the job's live allocations per job version.
func (h *harness) versionCount(jobID string) map[uint64]int {
	out := map[uint64]int{}
	for _, a := range h.liveAllocs(jobID) {
		out[a.JobVersion]++
	}
	return out
}

// liveList returns live allocations as a list.
func (h *harness) liveList(jobID string) []*structs.Allocation {
	var out []*structs.Allocation
	for _, a := range h.liveAllocs(jobID) {
		out = append(out, a)
	}
	return out
}

// deployV0 registers a rolling job and makes its first deployment succeed.
func deployV0(t *testing.T, h *harness, job *structs.Job) (*structs.Job, *structs.Deployment) {
	t.Helper()
	v0 := h.upsertJob(job)
	res := h.run(v0, structs.EvalTriggerJobRegister)
	d := res.Plan.Deployment
	if d == nil || d.JobVersion != 0 || d.Status != structs.DeploymentStatusRunning {
		t.Fatalf("initial deployment: %+v", d)
	}
	if s := d.TaskGroups["web"]; s == nil || s.DesiredTotal != job.TaskGroups[0].Count || s.DesiredCanaries != 0 {
		t.Fatalf("initial deployment group state: %+v", s)
	}
	for _, a := range placed(res.Plan) {
		if a.DeploymentID != d.ID || a.DeploymentStatus.IsCanary() {
			t.Fatalf("initial placement not in the deployment: %+v", a)
		}
	}
	h.setHealth(true, h.liveList(job.ID)...)
	res = h.run(v0, structs.EvalTriggerDeploymentWatcher)
	if len(res.Plan.DeploymentUpdates) != 1 || res.Plan.DeploymentUpdates[0].Status != structs.DeploymentStatusSuccessful {
		t.Fatalf("deployment not marked successful: %+v", res.Plan.DeploymentUpdates)
	}
	d = h.deployment(d.ID)
	if s := d.TaskGroups["web"]; s.PlacedAllocs != job.TaskGroups[0].Count || s.HealthyAllocs != job.TaskGroups[0].Count {
		t.Fatalf("deployment counters: %+v", s)
	}
	if j, _ := h.store.JobByID(nil, structs.DefaultNamespace, job.ID); !j.Stable {
		t.Fatalf("job version 0 not stable after a successful deployment")
	}
	return v0, d
}

func TestRollingUpdateMaxParallel(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 5; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 5, 2, 0)
	deployV0(t, h, job)

	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"2"}}
	v1 := h.upsertJob(job)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	d := res.Plan.Deployment
	if d == nil || d.JobVersion != v1.Version {
		t.Fatalf("no deployment for version 1: %+v", d)
	}
	if u := res.Annotations.DesiredTGUpdates["web"]; u.DestructiveUpdate != 2 || u.Ignore != 3 {
		t.Fatalf("first round annotations: %+v", u)
	}
	for round := 0; ; round++ {
		if round > 5 {
			t.Fatalf("rollout did not finish")
		}
		vc := h.versionCount("web")
		if vc[0]+vc[v1.Version] != 5 {
			t.Fatalf("live allocs %v, want 5", vc)
		}
		// Pending new allocations are at most max_parallel.
		var pending []*structs.Allocation
		for _, a := range h.liveList("web") {
			if a.JobVersion == v1.Version && !a.DeploymentStatus.HealthSet() {
				pending = append(pending, a)
			}
		}
		if len(pending) > 2 {
			t.Fatalf("%d new allocations awaiting health, max_parallel is 2", len(pending))
		}
		// Nothing moves until they are healthy.
		if again := h.run(v1, structs.EvalTriggerDeploymentWatcher); !again.Plan.IsNoOp() {
			t.Fatalf("rollout moved on without health: %d placed", len(placed(again.Plan)))
		}
		h.setHealth(true, pending...)
		res = h.run(v1, structs.EvalTriggerDeploymentWatcher)
		if len(res.Plan.DeploymentUpdates) == 1 {
			break
		}
	}
	if res.Plan.DeploymentUpdates[0].Status != structs.DeploymentStatusSuccessful {
		t.Fatalf("final update: %+v", res.Plan.DeploymentUpdates[0])
	}
	if vc := h.versionCount("web"); vc[v1.Version] != 5 {
		t.Fatalf("after rollout: %v", vc)
	}
	if got := h.deployment(d.ID); got.Status != structs.DeploymentStatusSuccessful || got.TaskGroups["web"].HealthyAllocs != 5 {
		t.Fatalf("deployment after rollout: %+v %+v", got, got.TaskGroups["web"])
	}
}

func TestCanaryThenPromote(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 6; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 5, 2, 1)
	deployV0(t, h, job)

	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"2"}}
	v1 := h.upsertJob(job)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	d := res.Plan.Deployment
	if d == nil || d.TaskGroups["web"].DesiredCanaries != 1 || d.StatusDescription != structs.DeploymentDescRunningNeedsPromotion {
		t.Fatalf("canary deployment: %+v", d)
	}
	p := placed(res.Plan)
	if len(p) != 1 || !p[0].DeploymentStatus.IsCanary() || len(stoppedAllocs(res.Plan)) != 0 {
		t.Fatalf("want one canary beside the old allocations, got %d placed, %d stopped", len(p), len(stoppedAllocs(res.Plan)))
	}
	if u := res.Annotations.DesiredTGUpdates["web"]; u.Canary != 1 || u.Ignore != 5 {
		t.Fatalf("canary annotations: %+v", u)
	}
	canary := p[0]
	if got := h.deployment(d.ID).TaskGroups["web"].PlacedCanaries; len(got) != 1 || got[0] != canary.ID {
		t.Fatalf("placed canaries %v", got)
	}
	// Healthy but not promoted: nothing more happens.
	h.setHealth(true, canary)
	if again := h.run(v1, structs.EvalTriggerDeploymentWatcher); !again.Plan.IsNoOp() {
		t.Fatalf("unpromoted canary deployment moved on")
	}
	if err := h.store.PromoteDeployment(h.next(), d.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Promoted, it is no canary any more (its services take the normal
	// tags), and keeps its health.
	if got, _ := h.store.AllocByID(nil, canary.ID); got.DeploymentStatus.IsCanary() || !got.DeploymentStatus.IsHealthy() {
		t.Fatalf("promoted canary: %+v", got.DeploymentStatus)
	}
	res = h.run(v1, structs.EvalTriggerDeploymentWatcher)
	st := stoppedAllocs(res.Plan)
	// The old allocation sharing the canary's name goes, plus max_parallel
	// destructive updates: four of six running allocations remain live.
	if len(st) != 3 || len(placed(res.Plan)) != 2 {
		t.Fatalf("after promotion: %d stopped, %d placed", len(st), len(placed(res.Plan)))
	}
	live := h.liveAllocs("web")
	if len(live) != 5 || live[canary.Name].ID != canary.ID {
		t.Fatalf("after promotion live %v", nameSet(live))
	}
	for round := 0; ; round++ {
		if round > 5 {
			t.Fatalf("rollout did not finish")
		}
		var pending []*structs.Allocation
		for _, a := range h.liveList("web") {
			if a.JobVersion == v1.Version && !a.DeploymentStatus.HealthSet() {
				pending = append(pending, a)
			}
		}
		h.setHealth(true, pending...)
		res = h.run(v1, structs.EvalTriggerDeploymentWatcher)
		if len(res.Plan.DeploymentUpdates) == 1 {
			break
		}
	}
	if vc := h.versionCount("web"); vc[v1.Version] != 5 || len(vc) != 1 {
		t.Fatalf("after rollout: %v", vc)
	}
}

func TestFailedDeploymentHoldsAndRevertUpdatesInPlace(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 6; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 5, 2, 1)
	v0, _ := deployV0(t, h, job)

	bad := *v0
	bad.TaskGroups = []*structs.TaskGroup{copyGroup(v0.TaskGroups[0])}
	bad.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/false"}
	v1 := h.upsertJob(&bad)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	canary := placed(res.Plan)[0]
	// The canary fails: it is not rescheduled while its deployment runs.
	h.clientStatus(canary.ID, structs.AllocClientStatusFailed)
	if got, _ := h.store.AllocByID(nil, canary.ID); !got.DeploymentStatus.IsUnhealthy() {
		t.Fatalf("failed canary not unhealthy: %+v", got.DeploymentStatus)
	}
	if again := h.run(v1, structs.EvalTriggerRetryFailedAlloc); !again.Plan.IsNoOp() {
		t.Fatalf("failed canary of a running deployment replaced")
	}
	// The watcher fails the deployment: nothing proceeds.
	if err := h.store.UpdateDeploymentStatus(h.next(), &structs.DeploymentStatusUpdate{
		DeploymentID: res.Plan.Deployment.ID, Status: structs.DeploymentStatusFailed,
		StatusDescription: structs.DeploymentDescFailedAllocations,
	}); err != nil {
		t.Fatal(err)
	}
	if again := h.run(v1, structs.EvalTriggerDeploymentWatcher); len(placed(again.Plan)) != 0 || len(stoppedAllocs(again.Plan)) != 0 {
		t.Fatalf("failed deployment still progressing")
	}
	// Reverting to version 0's spec updates the old allocations in place.
	v2 := h.upsertJob(v0)
	res = h.run(v2, structs.EvalTriggerJobRegister)
	if u := res.Annotations.DesiredTGUpdates["web"]; u.InPlaceUpdate != 5 || u.DestructiveUpdate != 0 || u.Place != 0 {
		t.Fatalf("revert annotations: %+v", u)
	}
	d2 := res.Plan.Deployment
	if d2 == nil || d2.JobVersion != v2.Version {
		t.Fatalf("revert has no deployment: %+v", d2)
	}
	for _, a := range placed(res.Plan) {
		if a.DeploymentID != d2.ID || a.DeploymentStatus != nil {
			t.Fatalf("in-place update did not join the revert deployment: %+v", a)
		}
	}
	h.setHealth(true, h.liveList("web")...)
	res = h.run(v2, structs.EvalTriggerDeploymentWatcher)
	if len(res.Plan.DeploymentUpdates) != 1 || res.Plan.DeploymentUpdates[0].Status != structs.DeploymentStatusSuccessful {
		t.Fatalf("revert deployment not successful: %+v", res.Plan.DeploymentUpdates)
	}
}

func TestUnpromotedCanaryOfOldDeploymentStopped(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 6; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 3, 1, 1)
	v0, _ := deployV0(t, h, job)
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"1"}}
	v1 := h.upsertJob(job)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	d1 := res.Plan.Deployment
	canary := placed(res.Plan)[0]

	// A newer version cancels the running deployment and its canary.
	v2 := h.upsertJob(v0)
	res = h.run(v2, structs.EvalTriggerJobRegister)
	if len(res.Plan.DeploymentUpdates) != 1 || res.Plan.DeploymentUpdates[0].DeploymentID != d1.ID ||
		res.Plan.DeploymentUpdates[0].Status != structs.DeploymentStatusCancelled ||
		res.Plan.DeploymentUpdates[0].StatusDescription != structs.DeploymentDescNewerJob {
		t.Fatalf("old deployment not cancelled: %+v", res.Plan.DeploymentUpdates)
	}
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].ID != canary.ID {
		t.Fatalf("unpromoted canary of the cancelled deployment not stopped: %v", names(st))
	}
	if len(h.liveAllocs("web")) != 3 {
		t.Fatalf("live allocs: %v", nameSet(h.liveAllocs("web")))
	}
}

func TestPausedDeploymentAndStoppedJob(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 4; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 3, 1, 0)
	deployV0(t, h, job)
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": "/bin/sleep", "args": []any{"1"}}
	v1 := h.upsertJob(job)
	res := h.run(v1, structs.EvalTriggerJobRegister)
	d := res.Plan.Deployment
	h.setHealth(true, placed(res.Plan)...)
	if err := h.store.UpdateDeploymentStatus(h.next(), &structs.DeploymentStatusUpdate{
		DeploymentID: d.ID, Status: structs.DeploymentStatusPaused, StatusDescription: structs.DeploymentDescPaused,
	}); err != nil {
		t.Fatal(err)
	}
	if again := h.run(v1, structs.EvalTriggerDeploymentWatcher); len(placed(again.Plan)) != 0 {
		t.Fatalf("paused deployment progressed")
	}
	job.Stop = true
	stopped := h.upsertJob(job)
	res = h.run(stopped, structs.EvalTriggerJobDeregister)
	if len(res.Plan.DeploymentUpdates) != 1 || res.Plan.DeploymentUpdates[0].StatusDescription != structs.DeploymentDescStoppedJob {
		t.Fatalf("stopping the job did not cancel its deployment: %+v", res.Plan.DeploymentUpdates)
	}
	if got := h.deployment(d.ID); got.Status != structs.DeploymentStatusCancelled {
		t.Fatalf("deployment status %q", got.Status)
	}
}

func TestForceRescheduleInsideDeployment(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		h.upsertNodes(mkNode(i, "dc1", 4000, 8000))
	}
	job := rollingJob("web", 2, 1, 0)
	v0 := h.upsertJob(job)
	res := h.run(v0, structs.EvalTriggerJobRegister)
	a := placed(res.Plan)[0]
	h.clientStatus(a.ID, structs.AllocClientStatusFailed)
	if again := h.run(v0, structs.EvalTriggerRetryFailedAlloc); len(placed(again.Plan)) != 0 {
		t.Fatalf("failed allocation of a running deployment rescheduled")
	}
	yes := true
	txn := h.store.WriteTxn(h.next())
	if err := txn.UpdateAllocDesiredTransitions(map[string]*structs.DesiredTransition{a.ID: {ForceReschedule: &yes}}, h.now); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	res = h.run(v0, structs.EvalTriggerJobRegister)
	if p := placed(res.Plan); len(p) != 1 || p[0].PreviousAllocation != a.ID {
		t.Fatalf("forced reschedule did not replace the failed alloc: %+v", p)
	}
}

func copyGroup(tg *structs.TaskGroup) *structs.TaskGroup {
	c := *tg
	c.Tasks = make([]*structs.Task, len(tg.Tasks))
	for i, t := range tg.Tasks {
		tc := *t
		c.Tasks[i] = &tc
	}
	return &c
}

// A deployment whose allocation failed is not successful, however long it
// runs: the group is short of healthy allocations.
func TestFailedAllocationNeverCompletesDeployment(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	v0 := h.upsertJob(rollingJob("web", 1, 1, 0))
	res := h.run(v0, structs.EvalTriggerJobRegister)
	a := placed(res.Plan)[0]
	h.clientStatus(a.ID, structs.AllocClientStatusFailed)
	if again := h.run(v0, structs.EvalTriggerRetryFailedAlloc); len(again.Plan.DeploymentUpdates) != 0 {
		t.Fatalf("deployment with a failed allocation marked %s", again.Plan.DeploymentUpdates[0].Status)
	}
}
