package allocrunner

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

func lifecycleTask(name, script, hook string, sidecar bool) *structs.Task {
	t := shTask(name, script)
	t.Lifecycle = &structs.TaskLifecycle{Hook: hook, Sidecar: sidecar}
	return t
}

func TestRestartsOnSuccess(t *testing.T) {
	pre := &structs.Task{Lifecycle: &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPrestart}}
	post := &structs.Task{Lifecycle: &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPoststart}}
	stop := &structs.Task{Lifecycle: &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPoststop, Sidecar: true}}
	side := &structs.Task{Lifecycle: &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPrestart, Sidecar: true}}
	main := &structs.Task{}
	for _, c := range []struct {
		jobType string
		task    *structs.Task
		want    bool
	}{
		{structs.JobTypeService, main, true},
		{structs.JobTypeSystem, main, true},
		{structs.JobTypeService, nil, true},
		{structs.JobTypeService, pre, false},
		{structs.JobTypeService, post, false},
		{structs.JobTypeService, stop, false},
		{structs.JobTypeService, side, true},
		{structs.JobTypeBatch, main, false},
		{structs.JobTypeSysBatch, main, false},
		{structs.JobTypeBatch, side, false},
		{structs.JobTypeBatch, pre, false},
	} {
		r := NewTaskRestartTracker(nil, c.jobType, c.task)
		d := r.Next(&drivers.ExitResult{}, nil, time.Now())
		if d.Restart != c.want || d.Failed {
			t.Errorf("%s job, task %+v: exit 0 gave %+v, want restart=%v", c.jobType, c.task, d, c.want)
		}
		// Failures restart per policy whatever the task kind.
		r = NewTaskRestartTracker(nil, c.jobType, c.task)
		if d := r.Next(&drivers.ExitResult{ExitCode: 1}, nil, time.Now()); !d.Restart {
			t.Errorf("%s job, task %+v: exit 1 not restarted: %+v", c.jobType, c.task, d)
		}
	}
}

func waitAllocDone(t *testing.T, f *arFixture) *structs.Allocation {
	t.Helper()
	select {
	case <-f.ar.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("alloc did not finish")
	}
	return f.last()
}

// A prestart task that succeeds is done, even with no restarts allowed:
// main starts after it and the alloc runs.
func TestServicePrestartSuccessIsDone(t *testing.T) {
	for name, policy := range map[string]*structs.RestartPolicy{
		"attempts=0": {Attempts: 0, Interval: time.Hour, Mode: structs.RestartPolicyModeFail},
		"default":    nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pre := lifecycleTask("init", `echo ready > "$NOMAD_ALLOC_DIR/data/ready"`, structs.TaskLifecycleHookPrestart, false)
			post := lifecycleTask("announce", `echo up`, structs.TaskLifecycleHookPoststart, false)
			main := shTask("main", `cat "$NOMAD_ALLOC_DIR/data/ready"; exec sleep 1000`)
			f := newAR(t, testAlloc(structs.JobTypeService, policy, main, pre, post), nil)
			waitUntil(t, "main running, hooks done", f.changed, func() bool {
				a := f.last()
				return a != nil && a.TaskStates["main"] != nil && a.TaskStates["main"].State == structs.TaskStateRunning &&
					a.TaskStates["init"].State == structs.TaskStateDead && a.TaskStates["announce"] != nil &&
					a.TaskStates["announce"].State == structs.TaskStateDead
			})
			a := f.ar.Alloc()
			if a.ClientStatus != structs.AllocClientStatusRunning {
				t.Fatalf("alloc %s", a.ClientStatus)
			}
			for _, n := range []string{"init", "announce"} {
				ts := a.TaskStates[n]
				if ts.Failed || ts.Restarts != 0 || strings.Contains(eventTypes(ts), "Restarting") {
					t.Fatalf("%s: failed=%v restarts=%d events %s", n, ts.Failed, ts.Restarts, eventTypes(ts))
				}
			}
			// Running is reported when the process starts; its output
			// reaches the log file a moment later.
			waitUntil(t, "main's output logged", nil, func() bool {
				return readLog(t, f.ar.dir.LogDir(), "main.stdout.0") == "ready\n"
			})
		})
	}
}

// A prestart task that fails is restarted per policy; main waits for it.
func TestServicePrestartFailureRestarts(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 2, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	// Fails on its first run only.
	pre := lifecycleTask("init", `m="$NOMAD_ALLOC_DIR/data/tried"; [ -e "$m" ] && exit 0; touch "$m"; exit 3`,
		structs.TaskLifecycleHookPrestart, false)
	main := shTask("main", `exec sleep 1000`)
	f := newAR(t, testAlloc(structs.JobTypeService, policy, main, pre), nil)
	waitUntil(t, "main running", f.changed, func() bool {
		a := f.last()
		return a != nil && a.TaskStates["main"] != nil && a.TaskStates["main"].State == structs.TaskStateRunning
	})
	ts := f.ar.Alloc().TaskStates["init"]
	if ts.State != structs.TaskStateDead || ts.Failed || ts.Restarts != 1 {
		t.Fatalf("init: %+v events %s", ts, eventTypes(ts))
	}
}

// A prestart task that keeps failing fails the alloc; main never starts.
func TestServicePrestartFinalFailureFailsAlloc(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	pre := lifecycleTask("init", `exit 4`, structs.TaskLifecycleHookPrestart, false)
	main := shTask("main", `exec sleep 1000`)
	final := waitAllocDone(t, newAR(t, testAlloc(structs.JobTypeService, policy, main, pre), nil))
	if final.ClientStatus != structs.AllocClientStatusFailed {
		t.Fatalf("alloc %s", final.ClientStatus)
	}
	if ts := final.TaskStates["init"]; !ts.Failed || ts.Restarts != 1 || !strings.HasSuffix(eventTypes(ts), "Not Restarting") {
		t.Fatalf("init: %+v events %s", ts, eventTypes(ts))
	}
	if ts := final.TaskStates["main"]; ts != nil && !ts.StartedAt.IsZero() {
		t.Fatalf("main started: %+v", ts)
	}
}

// A sidecar is long-running: exiting 0 restarts it like a service task.
func TestServiceSidecarSuccessRestarts(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	side := lifecycleTask("side", `echo run`, structs.TaskLifecycleHookPrestart, true)
	main := shTask("main", `exec sleep 1000`)
	final := waitAllocDone(t, newAR(t, testAlloc(structs.JobTypeService, policy, main, side), nil))
	ts := final.TaskStates["side"]
	if final.ClientStatus != structs.AllocClientStatusFailed || !ts.Failed || ts.Restarts != 1 {
		t.Fatalf("alloc %s, side %+v events %s", final.ClientStatus, ts, eventTypes(ts))
	}
}

// Main tasks: exit 0 is done in batch jobs, restarted in service jobs.
func TestMainTaskSuccessByJobType(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	for _, c := range []struct {
		jobType  string
		restarts uint64
		failed   bool
	}{
		{structs.JobTypeBatch, 0, false},
		{structs.JobTypeService, 1, true},
	} {
		t.Run(c.jobType, func(t *testing.T) {
			t.Parallel()
			alloc := testAlloc(c.jobType, policy, shTask("main", `echo once`))
			f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil)
			<-f.tr.Done()
			st := f.tr.State()
			if st.State != structs.TaskStateDead || st.Restarts != c.restarts || st.Failed != c.failed {
				t.Fatalf("state %+v events %s", st, eventTypes(st))
			}
		})
	}
}
