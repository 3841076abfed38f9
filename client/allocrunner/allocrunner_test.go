package allocrunner

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/structs"
)

type arFixture struct {
	ar      *AllocRunner
	changed chan struct{}
	mu      sync.Mutex
	updates []*structs.Allocation
}

func (f *arFixture) last() *structs.Allocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.updates) == 0 {
		return nil
	}
	return f.updates[len(f.updates)-1]
}

func (f *arFixture) statuses() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.updates {
		if len(out) == 0 || out[len(out)-1] != u.ClientStatus {
			out = append(out, u.ClientStatus)
		}
	}
	return out
}

func newAR(t *testing.T, alloc *structs.Allocation, db *state.DB) *arFixture {
	t.Helper()
	return newARWith(t, Config{Alloc: alloc, DB: db})
}

func TestAllocRunnerLifecycleBatch(t *testing.T) {
	pre := shTask("init", `echo prepared > "$NOMAD_ALLOC_DIR/data/ready"`)
	pre.Lifecycle = &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPrestart}
	main := shTask("main", `cat "$NOMAD_ALLOC_DIR/data/ready"`)
	post := shTask("cleanup", `echo bye`)
	post.Lifecycle = &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPoststop}
	alloc := testAlloc(structs.JobTypeBatch, nil, main, pre, post)
	root := t.TempDir()
	db, err := state.Open(filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newAR(t, alloc, db)
	<-f.ar.Done()
	final := f.last()
	if final.ClientStatus != structs.AllocClientStatusComplete || final.ID != alloc.ID {
		t.Fatalf("final update %+v", final)
	}
	for name, ts := range final.TaskStates {
		if ts.State != structs.TaskStateDead || ts.Failed {
			t.Fatalf("task %s: %+v", name, ts)
		}
	}
	logDir := f.ar.dir.LogDir()
	if got := readLog(t, logDir, "main.stdout.0"); got != "prepared\n" {
		t.Fatalf("main ran before its prestart task: %q", got)
	}
	if got := readLog(t, logDir, "cleanup.stdout.0"); got != "bye\n" {
		t.Fatalf("poststop output %q", got)
	}
	if got := f.statuses(); got[0] != structs.AllocClientStatusPending || got[len(got)-1] != structs.AllocClientStatusComplete {
		t.Fatalf("status sequence %v", got)
	}
	// Everything was persisted for a restarting client.
	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 || len(allocs[0].Tasks) != 3 || allocs[0].Tasks["main"].State.State != structs.TaskStateDead {
		t.Fatalf("persisted %+v, %v", allocs, err)
	}
}

func TestAllocRunnerStopOnDesiredStop(t *testing.T) {
	svc := shTask("svc", `echo up; exec sleep 1000`)
	side := shTask("side", `exec sleep 1000`)
	alloc := testAlloc(structs.JobTypeService, nil, svc, side)
	f := newAR(t, alloc, nil)
	waitUntil(t, "running", f.changed, func() bool {
		a := f.last()
		return a != nil && a.ClientStatus == structs.AllocClientStatusRunning &&
			a.TaskStates["svc"].State == structs.TaskStateRunning && a.TaskStates["side"].State == structs.TaskStateRunning
	})
	stop := alloc.Copy()
	stop.DesiredStatus = structs.AllocDesiredStatusStop
	f.ar.Update(stop)
	select {
	case <-f.ar.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("alloc did not stop")
	}
	final := f.last()
	if final.ClientStatus != structs.AllocClientStatusComplete {
		t.Fatalf("stopped alloc status %s", final.ClientStatus)
	}
	for _, n := range []string{"svc", "side"} {
		if ev := eventTypes(final.TaskStates[n]); !strings.HasSuffix(ev, "Killed") {
			t.Fatalf("task %s events %s", n, ev)
		}
	}
	if got := f.ar.Alloc(); got.DesiredStatus != structs.AllocDesiredStatusStop || got.ClientStatus != structs.AllocClientStatusComplete {
		t.Fatalf("Alloc() = %s/%s", got.DesiredStatus, got.ClientStatus)
	}
}

func TestAllocRunnerFailedTaskKillsSiblings(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 0, Interval: time.Hour, Mode: structs.RestartPolicyModeFail}
	bad := shTask("bad", `sleep 0.1; exit 1`)
	good := shTask("good", `exec sleep 1000`)
	alloc := testAlloc(structs.JobTypeService, policy, bad, good)
	f := newAR(t, alloc, nil)
	select {
	case <-f.ar.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("alloc did not finish")
	}
	final := f.last()
	if final.ClientStatus != structs.AllocClientStatusFailed {
		t.Fatalf("status %s", final.ClientStatus)
	}
	if !final.TaskStates["bad"].Failed || final.TaskStates["good"].Failed || final.TaskStates["good"].State != structs.TaskStateDead {
		t.Fatalf("task states bad=%+v good=%+v", final.TaskStates["bad"], final.TaskStates["good"])
	}
	found := false
	for _, e := range final.TaskStates["good"].Events {
		if e.Type == structs.TaskKilling && strings.Contains(e.DisplayMessage, "Sibling task failed") {
			found = true
		}
	}
	if !found {
		t.Fatalf("sibling kill not explained: %s", eventTypes(final.TaskStates["good"]))
	}
}

func TestAllocRunnerSidecarKilledWhenMainDone(t *testing.T) {
	side := shTask("side", `exec sleep 1000`)
	side.Lifecycle = &structs.TaskLifecycle{Hook: structs.TaskLifecycleHookPrestart, Sidecar: true}
	main := shTask("main", `sleep 0.1`)
	alloc := testAlloc(structs.JobTypeBatch, nil, main, side)
	f := newAR(t, alloc, nil)
	select {
	case <-f.ar.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("alloc did not finish")
	}
	if final := f.last(); final.ClientStatus != structs.AllocClientStatusComplete ||
		!strings.HasSuffix(eventTypes(final.TaskStates["side"]), "Killed") {
		t.Fatalf("final %s, side events %s", final.ClientStatus, eventTypes(final.TaskStates["side"]))
	}
}

func TestAllocRunnerRejectsBadAlloc(t *testing.T) {
	if _, err := New(Config{Alloc: &structs.Allocation{ID: "x"}}); err == nil {
		t.Fatal("alloc without job accepted")
	}
	a := testAlloc(structs.JobTypeBatch, nil, shTask("t", "true"))
	a.TaskGroup = "nope"
	if _, err := New(Config{Alloc: a}); err == nil {
		t.Fatal("alloc with unknown group accepted")
	}
}

func TestAllocRunnerMissingDriverFails(t *testing.T) {
	task := shTask("t", "true")
	task.Driver = "nonexistent"
	policy := &structs.RestartPolicy{Attempts: 0, Interval: time.Hour, Mode: structs.RestartPolicyModeFail}
	f := newAR(t, testAlloc(structs.JobTypeBatch, policy, task), nil)
	<-f.ar.Done()
	if final := f.last(); final.ClientStatus != structs.AllocClientStatusFailed {
		t.Fatalf("status %s", final.ClientStatus)
	}
}
