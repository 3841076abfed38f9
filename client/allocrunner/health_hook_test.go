package allocrunner

import (
	"testing"
	"time"

	"github.com/orch-project/orch/client/health"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

// healthAlloc is a service allocation of one raw_exec task under an update
// block judging by task states, part of deployment "d1".
func healthAlloc(script string, minHealthy time.Duration, mode string) *structs.Allocation {
	a := testAlloc(structs.JobTypeService, &structs.RestartPolicy{Attempts: 0, Mode: structs.RestartPolicyModeFail},
		shTask("web", script))
	a.Job.TaskGroups[0].Update = &structs.UpdateStrategy{MaxParallel: 1, HealthCheck: mode,
		MinHealthyTime: minHealthy, HealthyDeadline: time.Minute}
	a.Job.TaskGroups[0].Migrate = &structs.MigrateStrategy{MaxParallel: 1, HealthCheck: health.ModeTaskStates,
		MinHealthyTime: minHealthy, HealthyDeadline: time.Minute}
	a.DeploymentID = "d1"
	return a
}

func newHealthAR(t *testing.T, a *structs.Allocation) *arFixture {
	t.Helper()
	return newARWith(t, Config{Alloc: a, AllocHooks: []hooks.AllocHookFactory{health.HookFactory(nil)}})
}

// waitHealth waits for the client update carrying health for deployment.
func (f *arFixture) waitHealth(t *testing.T, deployment string) *structs.Allocation {
	t.Helper()
	var got *structs.Allocation
	waitUntil(t, "health for deployment "+deployment, f.changed, func() bool {
		got = f.last()
		return got != nil && got.DeploymentStatus.HealthSet() && got.DeploymentID == deployment
	})
	return got
}

// runningSince is when the task was first reported running.
func (f *arFixture) runningSince() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.updates {
		if st := u.TaskStates["web"]; st != nil && st.State == structs.TaskStateRunning {
			return st.StartedAt
		}
	}
	return time.Time{}
}

func TestHealthHookHealthyAfterMinHealthyTime(t *testing.T) {
	const min = 500 * time.Millisecond
	f := newHealthAR(t, healthAlloc("sleep 60", min, health.ModeTaskStates))
	got := f.waitHealth(t, "d1")
	if !got.DeploymentStatus.IsHealthy() {
		t.Fatalf("judged unhealthy: %+v", got.DeploymentStatus)
	}
	if since := f.runningSince(); since.IsZero() || got.DeploymentStatus.Timestamp.Sub(since) < min {
		t.Fatalf("healthy at %s, running since %s: sooner than min_healthy_time %s",
			got.DeploymentStatus.Timestamp, since, min)
	}

	// Updated in place into a new deployment, it is judged again for it.
	next := f.ar.Alloc()
	next.DeploymentID, next.DeploymentStatus, next.JobVersion = "d2", nil, 1
	f.ar.Update(next)
	if got := f.waitHealth(t, "d2"); !got.DeploymentStatus.IsHealthy() {
		t.Fatalf("second deployment: %+v", got.DeploymentStatus)
	}
}

func TestHealthHookFailedTaskUnhealthy(t *testing.T) {
	f := newHealthAR(t, healthAlloc("exit 3", 10*time.Second, health.ModeChecks))
	if got := f.waitHealth(t, "d1"); !got.DeploymentStatus.IsUnhealthy() {
		t.Fatalf("failed task judged healthy: %+v", got.DeploymentStatus)
	}
}

func TestHealthHookOutsideDeploymentUsesMigrate(t *testing.T) {
	a := healthAlloc("sleep 60", 100*time.Millisecond, health.ModeManual)
	a.DeploymentID = ""
	f := newHealthAR(t, a)
	if got := f.waitHealth(t, ""); !got.DeploymentStatus.IsHealthy() {
		t.Fatalf("judged unhealthy: %+v", got.DeploymentStatus)
	}
}

func TestHealthHookManualLeavesHealthToOperators(t *testing.T) {
	f := newHealthAR(t, healthAlloc("sleep 60", 50*time.Millisecond, health.ModeManual))
	f.waitStatus(t, structs.AllocClientStatusRunning)
	time.Sleep(500 * time.Millisecond)
	if got := f.last(); got.DeploymentStatus != nil {
		t.Fatalf("manual health judged by the client: %+v", got.DeploymentStatus)
	}
}
