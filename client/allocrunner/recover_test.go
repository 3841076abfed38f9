package allocrunner

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// flakyRecover is the real raw_exec driver whose Recover first fails
// transiently, as a driver whose daemon is still starting does.
type flakyRecover struct {
	*rawexec.Driver
	failures int32 // transient failures left; negative: fail forever
	calls    atomic.Int32
}

var errNotReady = errors.New("driver daemon not ready")

func (f *flakyRecover) Recover(ctx context.Context, h *drivers.TaskHandle) error {
	n := f.calls.Add(1)
	if f.failures < 0 || n <= f.failures {
		return errNotReady
	}
	return f.Driver.Recover(ctx, h)
}

// detachRunning starts a long-running raw_exec task, detaches from it as
// an agent shutdown does, and returns its persisted state and pid.
func detachRunning(t *testing.T, db *state.DB, allocRoot, stateDir string) (*state.AllocLocal, string) {
	t.Helper()
	task := shTask("svc", `while :; do sleep 0.05; done`)
	alloc := testAlloc(structs.JobTypeService, &structs.RestartPolicy{Attempts: 0, Interval: time.Hour,
		Mode: structs.RestartPolicyModeFail}, task)
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	d := rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir})
	f := newTR(t, alloc, d, db, allocRoot, nil)
	id := alloc.ID + "/svc"
	waitUntil(t, "running", f.changed, func() bool { return f.tr.State().State == structs.TaskStateRunning })
	st, err := d.Inspect(id)
	if err != nil {
		t.Fatal(err)
	}
	f.cancel()
	<-f.tr.Done()
	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 || allocs[0].Tasks["svc"] == nil || allocs[0].Tasks["svc"].Handle == nil {
		t.Fatalf("persisted allocs %+v, %v", allocs, err)
	}
	// Whatever a test leaves running is found again and destroyed. The
	// handle is the one captured now: a test whose restored task fails
	// (no driver, lost) persists no handle, yet its process still runs.
	h := allocs[0].Tasks["svc"].Handle
	t.Cleanup(func() {
		d := rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir})
		_ = d.Recover(context.Background(), h)
		_ = d.Destroy(id, true)
	})
	return allocs[0], st.Attributes["pid"]
}

func openDB(t *testing.T) (*state.DB, string) {
	t.Helper()
	root := t.TempDir()
	db, err := state.Open(filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, root
}

// TestRestoredTaskWithoutDriverFails: the operator denylisted the driver of
// a task the previous agent ran. The restored task fails without any call
// into a (nil) driver, and so does its allocation.
func TestRestoredTaskWithoutDriverFails(t *testing.T) {
	db, root := openDB(t)
	al, _ := detachRunning(t, db, filepath.Join(root, "alloc"), filepath.Join(root, "drivers"))

	var mu sync.Mutex
	var last *structs.Allocation
	ar, err := New(Config{
		Alloc: al.Alloc, AllocRoot: filepath.Join(root, "alloc"), NodeInfo: testNodeInfo(), DB: db,
		Drivers: map[string]drivers.Driver{}, Restored: al.Tasks,
		OnUpdate: func(a *structs.Allocation) { mu.Lock(); last = a; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ar.Run(ctx)
	select {
	case <-ar.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("alloc runner did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	if last == nil || last.ClientStatus != structs.AllocClientStatusFailed {
		t.Fatalf("alloc update %+v, want failed", last)
	}
	st := last.TaskStates["svc"]
	if st.State != structs.TaskStateDead || !st.Failed || st.Restarts != 0 {
		t.Fatalf("task state %+v (events %s)", st, eventTypes(st))
	}
	ev := st.Events[len(st.Events)-1]
	if ev.Type != structs.TaskDriverFailure || !ev.FailsTask ||
		ev.DisplayMessage != `driver "raw_exec" is not available on this client` {
		t.Fatalf("last event %+v", ev)
	}
}

// TestRecoverRetriesTransientErrors: Recover fails twice (the driver's
// daemon is still starting) and then succeeds; the runner re-attaches to
// the same process without counting a restart or starting a new one.
func TestRecoverRetriesTransientErrors(t *testing.T) {
	db, root := openDB(t)
	stateDir := filepath.Join(root, "drivers")
	al, pid := detachRunning(t, db, filepath.Join(root, "alloc"), stateDir)
	before := al.Tasks["svc"].State

	d := &flakyRecover{Driver: rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), failures: 2}
	f := newTR(t, al.Alloc, d, db, filepath.Join(root, "alloc"), al.Tasks["svc"])
	id := al.Alloc.ID + "/svc"
	waitUntil(t, "re-attach", f.changed, func() bool {
		_, err := d.Inspect(id)
		return err == nil
	})
	st, _ := d.Inspect(id)
	if st.Attributes["pid"] != pid {
		t.Fatalf("re-attached to pid %s, want %s", st.Attributes["pid"], pid)
	}
	if n := d.calls.Load(); n != 3 {
		t.Fatalf("Recover called %d times, want 3", n)
	}
	s := f.tr.State()
	if s.State != structs.TaskStateRunning || s.Restarts != 0 || len(s.Events) != len(before.Events) {
		t.Fatalf("state after re-attach %+v: events before %s, after %s", s, eventTypes(before), eventTypes(s))
	}
	f.tr.Kill("test")
	<-f.tr.Done()
	if s := f.tr.State(); s.State != structs.TaskStateDead || s.Failed || countEvents(s, structs.TaskStarted) != 1 {
		t.Fatalf("final state %+v (events %s)", s, eventTypes(s))
	}
}

// startRestored runs a runner for a restored task whose Recover always
// fails transiently, with short retry bounds.
func startRestored(t *testing.T, b recoverBackoff) (*TaskRunner, *flakyRecover, chan struct{}) {
	t.Helper()
	alloc := testAlloc(structs.JobTypeService, &structs.RestartPolicy{Attempts: 0, Interval: time.Hour,
		Mode: structs.RestartPolicyModeFail}, shTask("svc", "true"))
	d := &flakyRecover{Driver: rawexec.New(rawexec.Config{Enabled: true}), failures: -1}
	h := &drivers.TaskHandle{Driver: rawexec.Name, Config: &drivers.TaskConfig{ID: alloc.ID + "/svc", Name: "svc"},
		DriverState: []byte(`{}`), StartedAt: time.Now()}
	changed := make(chan struct{}, 1)
	tr := NewTaskRunner(TaskRunnerConfig{
		Alloc: alloc, Task: alloc.Job.TaskGroups[0].Tasks[0], Driver: d, AllocDir: NewAllocDir(t.TempDir(), alloc.ID),
		NodeInfo: testNodeInfo(),
		Restored: &state.TaskLocal{Handle: h, State: &structs.TaskState{State: structs.TaskStateRunning, StartedAt: time.Now()}},
		OnStateChange: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	tr.recoverBackoff = b
	ctx, cancel := context.WithCancel(context.Background())
	go tr.Run(ctx)
	t.Cleanup(func() {
		tr.Kill("test over")
		<-tr.Done()
		cancel()
	})
	return tr, d, changed
}

// TestRecoverGivesUpAfterDeadline: a driver that never recovers makes the
// task lost once the retry deadline passes, with the error recorded.
func TestRecoverGivesUpAfterDeadline(t *testing.T) {
	tr, d, changed := startRestored(t, recoverBackoff{min: 5 * time.Millisecond, max: 20 * time.Millisecond, deadline: 150 * time.Millisecond})
	waitUntil(t, "task dead", changed, func() bool { return tr.State().State == structs.TaskStateDead })
	s := tr.State()
	if !s.Failed {
		t.Fatalf("state %+v (events %s), want failed", s, eventTypes(s))
	}
	var restoreEv *structs.TaskEvent
	for _, e := range s.Events {
		if e.Type == structs.TaskDriverFailure {
			restoreEv = e
		}
	}
	if restoreEv == nil || !strings.Contains(restoreEv.DriverError, "gave up re-attaching") ||
		!strings.Contains(restoreEv.DriverError, errNotReady.Error()) {
		t.Fatalf("driver failure event %+v (events %s)", restoreEv, eventTypes(s))
	}
	if n := d.calls.Load(); n < 3 {
		t.Fatalf("Recover called %d times, want retries", n)
	}
}

// TestRecoverAbandonedOnKill: killing the alloc while Recover is being
// retried ends the task at once instead of waiting out the deadline.
func TestRecoverAbandonedOnKill(t *testing.T) {
	tr, d, changed := startRestored(t, recoverBackoff{min: 5 * time.Millisecond, max: 10 * time.Millisecond, deadline: time.Hour})
	waitUntil(t, "retrying", changed, func() bool { return d.calls.Load() >= 2 })
	tr.Kill("alloc stopped")
	select {
	case <-tr.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("runner did not stop")
	}
	s := tr.State()
	ev := s.Events[len(s.Events)-1]
	if s.State != structs.TaskStateDead || s.Failed || ev.Type != structs.TaskKilled ||
		!strings.Contains(ev.KillError, errNotReady.Error()) {
		t.Fatalf("state %+v, last event %+v", s, ev)
	}
}
