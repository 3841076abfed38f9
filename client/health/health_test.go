package health

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func states(kv ...any) map[string]*structs.TaskState {
	out := map[string]*structs.TaskState{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(*structs.TaskState)
	}
	return out
}

func running() *structs.TaskState { return &structs.TaskState{State: structs.TaskStateRunning} }
func pending() *structs.TaskState { return &structs.TaskState{State: structs.TaskStatePending} }
func done(failed bool) *structs.TaskState {
	return &structs.TaskState{State: structs.TaskStateDead, Failed: failed}
}

func start(t *testing.T, cfg Config, tasks []*structs.Task, checks Checks) *Watcher {
	t.Helper()
	w := New(cfg, tasks, checks)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go w.Run(ctx)
	return w
}

func verdict(t *testing.T, w *Watcher, within time.Duration) (bool, time.Time) {
	t.Helper()
	select {
	case v := <-w.Result():
		return v, time.Now()
	case <-time.After(within):
		t.Fatalf("no verdict within %s", within)
	}
	return false, time.Time{}
}

func noVerdict(t *testing.T, w *Watcher, during time.Duration) {
	t.Helper()
	select {
	case v := <-w.Result():
		t.Fatalf("verdict %v, want none yet", v)
	case <-time.After(during):
	}
}

var twoTasks = []*structs.Task{{Name: "web"}, {Name: "log", Lifecycle: &structs.TaskLifecycle{Hook: "poststart", Sidecar: true}}}

func TestHealthyAfterMinHealthyTime(t *testing.T) {
	const min = 300 * time.Millisecond
	w := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: min, HealthyDeadline: time.Minute}, twoTasks, nil)
	// One task running is not enough.
	w.Update(states("web", running(), "log", pending()))
	noVerdict(t, w, min+100*time.Millisecond)
	began := time.Now()
	w.Update(states("web", running(), "log", running()))
	ok, at := verdict(t, w, 10*time.Second)
	if !ok {
		t.Fatal("unhealthy")
	}
	if at.Sub(began) < min {
		t.Fatalf("healthy after %s, before min_healthy_time %s", at.Sub(began), min)
	}
}

func TestRestartResetsMinHealthyTime(t *testing.T) {
	const min = 400 * time.Millisecond
	w := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: min, HealthyDeadline: time.Minute}, twoTasks, nil)
	w.Update(states("web", running(), "log", running()))
	time.Sleep(min / 2)
	// The task restarts: the clock starts over once it runs again.
	w.Update(states("web", pending(), "log", running()))
	time.Sleep(20 * time.Millisecond)
	again := time.Now()
	w.Update(states("web", running(), "log", running()))
	ok, at := verdict(t, w, 10*time.Second)
	if !ok || at.Sub(again) < min {
		t.Fatalf("verdict %v %s after the restart, want healthy no sooner than %s", ok, at.Sub(again), min)
	}
}

func TestFailedTaskIsUnhealthyAtOnce(t *testing.T) {
	w := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: time.Minute, HealthyDeadline: time.Hour}, twoTasks, nil)
	w.Update(states("web", done(true), "log", running()))
	if ok, _ := verdict(t, w, 5*time.Second); ok {
		t.Fatal("failed task judged healthy")
	}
}

func TestDeadlinePassesFirst(t *testing.T) {
	const deadline = 300 * time.Millisecond
	began := time.Now()
	w := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: time.Minute, HealthyDeadline: deadline}, twoTasks, nil)
	w.Update(states("web", running(), "log", running()))
	ok, at := verdict(t, w, 10*time.Second)
	if ok || at.Sub(began) < deadline {
		t.Fatalf("verdict %v after %s, want unhealthy at the %s deadline", ok, at.Sub(began), deadline)
	}
}

func TestLifecycleTasks(t *testing.T) {
	tasks := []*structs.Task{
		{Name: "init", Lifecycle: &structs.TaskLifecycle{Hook: "prestart"}},
		{Name: "web"},
		{Name: "cleanup", Lifecycle: &structs.TaskLifecycle{Hook: "poststop"}},
	}
	w := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: 50 * time.Millisecond, HealthyDeadline: time.Minute}, tasks, nil)
	// A finished prestart task and a poststop task that has not run do not
	// hold health back.
	w.Update(states("init", done(false), "web", running(), "cleanup", pending()))
	if ok, _ := verdict(t, w, 10*time.Second); !ok {
		t.Fatal("unhealthy")
	}
}

type fakeChecks struct {
	passing atomic.Bool
	ch      chan struct{}
}

func (f *fakeChecks) Passing() bool            { return f.passing.Load() }
func (f *fakeChecks) Changed() <-chan struct{} { return f.ch }
func (f *fakeChecks) set(v bool) {
	f.passing.Store(v)
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

func TestChecksMustPassToo(t *testing.T) {
	const min = 200 * time.Millisecond
	c := &fakeChecks{ch: make(chan struct{}, 1)}
	w := start(t, Config{Mode: ModeChecks, MinHealthyTime: min, HealthyDeadline: time.Minute}, twoTasks, c)
	w.Update(states("web", running(), "log", running()))
	noVerdict(t, w, min+200*time.Millisecond)
	began := time.Now()
	c.set(true)
	ok, at := verdict(t, w, 10*time.Second)
	if !ok || at.Sub(began) < min {
		t.Fatalf("verdict %v after %s once checks pass, want healthy after %s", ok, at.Sub(began), min)
	}

	// With task_states the checks are not consulted.
	c2 := &fakeChecks{ch: make(chan struct{}, 1)}
	w2 := start(t, Config{Mode: ModeTaskStates, MinHealthyTime: 10 * time.Millisecond, HealthyDeadline: time.Minute}, twoTasks, c2)
	w2.Update(states("web", running(), "log", running()))
	if ok, _ := verdict(t, w2, 10*time.Second); !ok {
		t.Fatal("task_states waited on checks")
	}
}
