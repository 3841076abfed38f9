// Package health decides whether an allocation is healthy, the way Nomad's
// update and migrate blocks define it: every task that must be running has
// been running (and, with health_check = "checks", every check has been
// passing) for min_healthy_time without interruption. A task that fails, or
// a healthy_deadline passing first, makes it unhealthy. The decision is
// made once.
//
// It is one piece with two users: the client's deployment-health hook,
// which reports the decision to the servers (update block, or migrate block
// for allocations outside a deployment so the node drainer can wait for
// replacements), and anything else that needs to know when a fresh
// allocation has settled.
package health

import (
	"context"
	"time"

	"github.com/orch-project/orch/structs"
)

// Modes of health_check.
const (
	ModeTaskStates = "task_states"
	ModeChecks     = "checks"
	ModeManual     = "manual"
)

// Config is what decides health.
type Config struct {
	// Mode is task_states or checks; manual is not watched (an operator
	// decides).
	Mode            string
	MinHealthyTime  time.Duration
	HealthyDeadline time.Duration
}

// FromUpdate and FromMigrate read a group's update and migrate blocks.
func FromUpdate(u *structs.UpdateStrategy) Config {
	return Config{Mode: u.HealthCheck, MinHealthyTime: u.MinHealthyTime, HealthyDeadline: u.HealthyDeadline}
}

// FromMigrate reads a group's migrate block.
func FromMigrate(m *structs.MigrateStrategy) Config {
	return Config{Mode: m.HealthCheck, MinHealthyTime: m.MinHealthyTime, HealthyDeadline: m.HealthyDeadline}
}

// Checks is what the watcher needs from the client's service check runner
// for health_check = "checks". The check runner implements it per
// allocation.
type Checks interface {
	// Passing reports whether every check of the allocation's services
	// currently passes (true when it has no checks).
	Passing() bool
	// Changed receives (without blocking the sender: a buffered channel of
	// one, written with a non-blocking send) whenever Passing may have
	// changed.
	Changed() <-chan struct{}
}

// Watcher decides one allocation's health from the task states pushed to
// it. Create it with New, push states with Update, read the verdict from
// Result.
type Watcher struct {
	cfg    Config
	tasks  map[string]*structs.Task
	checks Checks
	states chan map[string]*structs.TaskState
	result chan bool
}

// New returns a watcher for the tasks of an allocation's group. checks may
// be nil (no checks, or health_check = "task_states").
func New(cfg Config, tasks []*structs.Task, checks Checks) *Watcher {
	w := &Watcher{
		cfg: cfg, tasks: map[string]*structs.Task{}, checks: checks,
		states: make(chan map[string]*structs.TaskState, 1), result: make(chan bool, 1),
	}
	for _, t := range tasks {
		w.tasks[t.Name] = t
	}
	if cfg.Mode != ModeChecks {
		w.checks = nil
	}
	return w
}

// Update pushes the allocation's current task states. It never blocks: a
// newer push replaces one the watcher has not read yet.
func (w *Watcher) Update(states map[string]*structs.TaskState) {
	for {
		select {
		case w.states <- states:
			return
		default:
		}
		select {
		case <-w.states:
		default:
		}
	}
}

// Result receives the verdict once: true healthy, false unhealthy.
func (w *Watcher) Result() <-chan bool { return w.result }

// Run watches until it decides or ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	deadline := time.NewTimer(w.cfg.HealthyDeadline)
	defer deadline.Stop()
	if w.cfg.HealthyDeadline <= 0 {
		deadline.Stop()
	}
	var settle *time.Timer // runs while everything is healthy
	var settleC <-chan time.Time
	stopSettle := func() {
		if settle != nil {
			settle.Stop()
			settle, settleC = nil, nil
		}
	}
	defer stopSettle()
	var checksC <-chan struct{}
	if w.checks != nil {
		checksC = w.checks.Changed()
	}
	var states map[string]*structs.TaskState
	evaluate := func() bool {
		failed, running := w.judge(states)
		if failed {
			w.result <- false
			return true
		}
		if running && (w.checks == nil || w.checks.Passing()) {
			if settle == nil {
				settle = time.NewTimer(w.cfg.MinHealthyTime)
				settleC = settle.C
			}
		} else {
			stopSettle()
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			w.result <- false
			return
		case <-settleC:
			w.result <- true
			return
		case states = <-w.states:
			if evaluate() {
				return
			}
		case <-checksC:
			if evaluate() {
				return
			}
		}
	}
}

// judge reports whether a task that must succeed failed, and whether every
// task that must be running is running. Tasks that ran to completion by
// design (prestart and poststart tasks that are not sidecars) count as
// running once finished successfully; poststop tasks do not count. A task
// restarting is not running, so the min_healthy_time starts over.
func (w *Watcher) judge(states map[string]*structs.TaskState) (failed, running bool) {
	running = len(w.tasks) > 0
	for name, t := range w.tasks {
		lc := t.Lifecycle
		if lc != nil && lc.Hook == structs.TaskLifecycleHookPoststop {
			continue
		}
		st := states[name]
		if st == nil {
			running = false
			continue
		}
		if st.Failed {
			return true, false
		}
		ephemeral := lc != nil && !lc.Sidecar
		switch {
		case st.State == structs.TaskStateRunning:
		case ephemeral && st.State == structs.TaskStateDead:
			// Finished without failing: done, as designed.
		default:
			running = false
		}
	}
	return false, running
}
