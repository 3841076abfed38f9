// Package allocrunner runs an allocation on the client: one TaskRunner per
// task, ordered by lifecycle hooks, with the allocation's client status
// derived from its tasks' states.
package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Config configures an AllocRunner.
type Config struct {
	Alloc *structs.Allocation
	// AllocRoot is <data-dir>/alloc.
	AllocRoot string
	Drivers   map[string]drivers.Driver
	NodeInfo  taskenv.NodeInfo
	// DB persists the allocation and its tasks; nil disables persistence.
	DB     *state.DB
	Logger *slog.Logger
	// OnUpdate receives the allocation's client-side view (ID,
	// ClientStatus, ClientDescription, TaskStates) after every change. It
	// must not block.
	OnUpdate func(*structs.Allocation)
	// Restored holds the persisted task states of an allocation an earlier
	// client ran; nil for a new allocation.
	Restored map[string]*state.TaskLocal
	// RestoredHooks is the persisted state of its alloc hooks.
	RestoredHooks map[string]*hooks.AllocHookState
	// AllocHooks and TaskHooks build the feature hooks (see client/hooks),
	// run in this order between the built-in ones.
	AllocHooks []hooks.AllocHookFactory
	TaskHooks  []hooks.TaskHookFactory
}

// AllocRunner runs one allocation.
type AllocRunner struct {
	cfg    Config
	logger *slog.Logger
	dir    *AllocDir
	tasks  []*TaskRunner // in group order
	byName map[string]*TaskRunner

	changed  chan struct{}
	killCh   chan struct{}
	killOnce sync.Once
	done     chan struct{}
	// updated signals a newer allocation for the Update hooks.
	updated chan struct{}
	// noShutdownDelay is set when the stop must skip shutdown delays.
	noShutdownDelay atomic.Bool

	// hooks are the alloc hooks in order; hookStates their persisted
	// state (touched only by Run's goroutine).
	hooks      []hooks.Hook
	hookStates map[string]*hooks.AllocHookState
	// bg tracks background work Run waits for (the PreKill hooks).
	bg sync.WaitGroup
	// preKillDone is closed once the PreKill hooks have run.
	preKillOnce sync.Once
	preKillDone chan struct{}

	mu         sync.Mutex
	alloc      *structs.Allocation
	started    map[string]bool
	skipped    map[string]bool
	status     string
	desc       string
	killReason string
	killFailed bool

	// health is the allocation's judged health for healthDeployment,
	// reported with its status (nil until judged); guarded by mu.
	health           *structs.AllocDeploymentStatus
	healthDeployment string
}

// New builds the runner; Run starts it.
func New(cfg Config) (*AllocRunner, error) {
	a := cfg.Alloc
	if a == nil || a.Job == nil {
		return nil, fmt.Errorf("allocation without job")
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil {
		return nil, fmt.Errorf("alloc %s: job %s has no group %q", a.ID, a.JobID, a.TaskGroup)
	}
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	ar := &AllocRunner{
		cfg: cfg, logger: l.With("alloc", a.ID), dir: NewAllocDir(cfg.AllocRoot, a.ID),
		byName: map[string]*TaskRunner{}, changed: make(chan struct{}, 1),
		killCh: make(chan struct{}), done: make(chan struct{}), updated: make(chan struct{}, 1),
		preKillDone: make(chan struct{}), hookStates: map[string]*hooks.AllocHookState{},
		alloc: a, started: map[string]bool{}, skipped: map[string]bool{},
		status: structs.AllocClientStatusPending,
	}
	for name, hs := range cfg.RestoredHooks {
		if hs != nil {
			ar.hookStates[name] = hs
		}
	}
	for _, t := range tg.Tasks {
		var restored *state.TaskLocal
		if cfg.Restored != nil {
			restored = cfg.Restored[t.Name]
		}
		tr := NewTaskRunner(TaskRunnerConfig{
			Alloc: a, Task: t, Driver: cfg.Drivers[t.Driver], AllocDir: ar.dir, NodeInfo: cfg.NodeInfo,
			DB: cfg.DB, Logger: l, OnStateChange: ar.notify, Restored: restored, Hooks: cfg.TaskHooks,
		})
		ar.tasks = append(ar.tasks, tr)
		ar.byName[t.Name] = tr
	}
	ar.hooks = ar.buildAllocHooks()
	return ar, nil
}

// ID returns the allocation's ID.
func (ar *AllocRunner) ID() string { return ar.cfg.Alloc.ID }

// Dir returns the allocation's directory.
func (ar *AllocRunner) Dir() string { return ar.dir.Root }

// Done is closed when Run has returned.
func (ar *AllocRunner) Done() <-chan struct{} { return ar.done }

// Task returns a task's runner, nil when unknown.
func (ar *AllocRunner) Task(name string) *TaskRunner { return ar.byName[name] }

func (ar *AllocRunner) notify() {
	select {
	case ar.changed <- struct{}{}:
	default:
	}
}

// Alloc returns the latest server version of the allocation with the
// client's status and task states filled in.
func (ar *AllocRunner) Alloc() *structs.Allocation {
	ar.mu.Lock()
	a := ar.alloc.Copy()
	a.ClientStatus, a.ClientDescription = ar.status, ar.desc
	ar.mu.Unlock()
	a.TaskStates = ar.taskStates()
	return a
}

func (ar *AllocRunner) taskStates() map[string]*structs.TaskState {
	m := make(map[string]*structs.TaskState, len(ar.tasks))
	for _, tr := range ar.tasks {
		m[tr.Name()] = tr.State()
	}
	return m
}

// Update takes a newer server version of the allocation; a stop or evict
// kills its tasks.
func (ar *AllocRunner) Update(a *structs.Allocation) {
	ar.mu.Lock()
	ar.alloc = a
	ar.mu.Unlock()
	if ar.cfg.DB != nil {
		if err := ar.cfg.DB.PutAlloc(a); err != nil {
			ar.logger.Error("persisting alloc", "error", err)
		}
	}
	select {
	case ar.updated <- struct{}{}:
	default:
	}
	if a.DesiredStatus == structs.AllocDesiredStatusStop || a.DesiredStatus == structs.AllocDesiredStatusEvict {
		ar.Kill()
	}
}

// Kill stops every task (after the PreKill hooks: services deregister, the
// shutdown delays pass); Run returns once they are dead.
func (ar *AllocRunner) Kill() { ar.kill("", false, false) }

// KillNoDelay stops every task without waiting out shutdown delays: the
// agent itself is going away.
func (ar *AllocRunner) KillNoDelay() { ar.kill("", false, true) }

// kill stops the allocation; the first caller's reason and failed flag
// stick. With failed set the killed tasks fail with reason.
func (ar *AllocRunner) kill(reason string, failed, noDelay bool) {
	if noDelay {
		ar.noShutdownDelay.Store(true)
	}
	ar.killOnce.Do(func() {
		ar.mu.Lock()
		ar.killReason, ar.killFailed = reason, failed
		ar.mu.Unlock()
		close(ar.killCh)
	})
	ar.notify()
}

func (ar *AllocRunner) killRequested() bool {
	select {
	case <-ar.killCh:
		return true
	default:
		return false
	}
}

// Destroy removes the allocation's persisted state and runs the Destroy
// hooks (which remove its directory); call it after Run returned.
func (ar *AllocRunner) Destroy() error {
	if ar.cfg.DB != nil {
		if err := ar.cfg.DB.DeleteAlloc(ar.ID()); err != nil {
			return err
		}
	}
	var errs []error
	for _, h := range ar.hooks {
		if dh, ok := h.(hooks.AllocDestroyHook); ok {
			if err := dh.Destroy(context.Background()); err != nil {
				errs = append(errs, fmt.Errorf("destroy hook %q: %w", h.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Run runs the allocation until all its tasks are dead, or until ctx ends,
// in which case running tasks are left running for a later client.
func (ar *AllocRunner) Run(ctx context.Context) {
	defer close(ar.done)
	defer ar.bg.Wait()
	var wg sync.WaitGroup
	defer wg.Wait()
	if ar.cfg.Restored == nil && ar.cfg.DB != nil {
		if err := ar.cfg.DB.PutAlloc(ar.cfg.Alloc); err != nil {
			ar.logger.Error("persisting alloc", "error", err)
		}
	}
	// A restored allocation the servers had already told to stop (the
	// agent died while stopping it) is stopped, not run: the servers will
	// not send that version again.
	if ds := ar.Alloc().DesiredStatus; ds == structs.AllocDesiredStatusStop || ds == structs.AllocDesiredStatusEvict {
		ar.Kill()
	}
	stopUpdates := make(chan struct{})
	defer close(stopUpdates)
	wg.Add(1)
	go func() { defer wg.Done(); ar.updateLoop(ctx, stopUpdates) }()
	if err := ar.prerun(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		ar.prerunFailed(err)
	}
	start := func(tr *TaskRunner) {
		ar.mu.Lock()
		if ar.started[tr.Name()] || ar.skipped[tr.Name()] {
			ar.mu.Unlock()
			return
		}
		ar.started[tr.Name()] = true
		ar.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Run(ctx)
			ar.notify()
		}()
	}
	lastSent := ""
	for {
		finished := ar.step(ctx, start)
		if s := ar.statusKey(); s != lastSent || finished {
			lastSent = s
			ar.taskStatesChanged()
			if ar.cfg.OnUpdate != nil {
				ar.cfg.OnUpdate(ar.clientUpdate())
			}
		}
		if finished {
			ar.postrun(ctx)
			return
		}
		select {
		case <-ar.changed:
		case <-ctx.Done():
			return
		}
	}
}

// stopTasks kills the allocation's running tasks once its PreKill hooks
// have run. Tasks an earlier agent left running are re-attached first, so
// that the stop reaches them.
func (ar *AllocRunner) stopTasks(ctx context.Context, trs []*TaskRunner, failed, leaderDead bool, start func(*TaskRunner)) {
	ar.mu.Lock()
	reason, failing := ar.killReason, ar.killFailed
	noDelay := ar.noShutdownDelay.Load() || ar.alloc.DesiredTransition.ShouldIgnoreShutdownDelay()
	ar.mu.Unlock()
	switch {
	case reason != "":
	case failed:
		reason = "Sibling task failed"
	case leaderDead:
		reason = "Leader task dead"
	default:
		reason = "Allocation is stopping"
	}
	var live []*TaskRunner
	for _, tr := range trs {
		if ph, _ := taskPhase(tr.cfg.Task); ph == phasePoststop {
			continue
		}
		if tr.Handle() != nil {
			start(tr)
		}
		ar.mu.Lock()
		started := ar.started[tr.Name()]
		ar.mu.Unlock()
		if started && tr.State().State != structs.TaskStateDead {
			live = append(live, tr)
		}
	}
	if !ar.preKillGate(ctx, len(live) > 0) {
		return
	}
	for _, tr := range live {
		if noDelay {
			tr.noShutdownDelay.Store(true)
		}
		tr.kill(reason, failing)
	}
}

// preKillGate reports whether the PreKill hooks have run, starting them in
// the background (once) when some task still runs. With nothing running
// there is nothing to drain and no delay to wait.
func (ar *AllocRunner) preKillGate(ctx context.Context, running bool) bool {
	select {
	case <-ar.preKillDone:
		return true
	default:
	}
	if !running {
		ar.preKillOnce.Do(func() { close(ar.preKillDone) })
		return true
	}
	ar.preKillOnce.Do(func() {
		ar.bg.Add(1)
		go func() {
			defer ar.bg.Done()
			ar.preKill(ctx)
			close(ar.preKillDone)
			ar.notify()
		}()
	})
	return false
}

// prerunFailed fails the allocation whose Prerun hooks failed: its tasks
// never start (those an earlier agent left running are re-attached and
// killed) and are marked failed with the reason.
func (ar *AllocRunner) prerunFailed(err error) {
	ar.logger.Error("allocation setup failed", "error", err)
	ev := func() *structs.TaskEvent {
		return &structs.TaskEvent{Type: structs.TaskSetupFailure, FailsTask: true, Message: err.Error(),
			DisplayMessage: "Error setting up allocation: " + err.Error()}
	}
	for _, tr := range ar.tasks {
		if tr.Handle() != nil || tr.State().State == structs.TaskStateDead {
			continue
		}
		ar.mu.Lock()
		ar.skipped[tr.Name()] = true
		ar.mu.Unlock()
		tr.markDead(true, ev())
		close(tr.done)
	}
	ar.kill("Error setting up allocation: "+err.Error(), true, true)
}

// updateLoop runs the Update hooks for each newer allocation, off the
// caller's goroutine; versions that arrive meanwhile are coalesced.
func (ar *AllocRunner) updateLoop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-ar.updated:
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
		ar.mu.Lock()
		a := ar.alloc
		ar.mu.Unlock()
		ar.updateHooks(ctx, a)
	}
}

// statusKey changes whenever anything reported to servers changes.
func (ar *AllocRunner) statusKey() string {
	k := ""
	for _, tr := range ar.tasks {
		s := tr.State()
		k += fmt.Sprintf("%s:%s:%v:%d:%d;", tr.Name(), s.State, s.Failed, s.Restarts, len(s.Events))
		if n := len(s.Events); n > 0 {
			k += fmt.Sprint(s.Events[n-1].Time)
		}
	}
	ar.mu.Lock()
	k += ar.status
	if ar.health != nil {
		k += fmt.Sprintf(";health:%s:%v", ar.healthDeployment, *ar.health.Healthy)
	}
	ar.mu.Unlock()
	return k
}

// setHealth records the allocation's judged health and wakes Run to report it.
func (ar *AllocRunner) setHealth(deploymentID string, healthy bool) {
	ar.mu.Lock()
	ar.health = &structs.AllocDeploymentStatus{Healthy: &healthy, Timestamp: time.Now()}
	ar.healthDeployment = deploymentID
	ar.mu.Unlock()
	ar.notify()
}

func (ar *AllocRunner) clientUpdate() *structs.Allocation {
	ar.mu.Lock()
	a := &structs.Allocation{
		ID: ar.alloc.ID, Namespace: ar.alloc.Namespace, JobID: ar.alloc.JobID, NodeID: ar.alloc.NodeID,
		TaskGroup: ar.alloc.TaskGroup, EvalID: ar.alloc.EvalID,
		ClientStatus: ar.status, ClientDescription: ar.desc,
	}
	if ar.health != nil {
		// Named with the deployment it was judged for: the servers drop a
		// verdict about an earlier deployment of an allocation updated in
		// place since.
		h := *ar.health
		a.DeploymentID, a.DeploymentStatus = ar.healthDeployment, &h
	}
	// The client chose the dynamic ports; the servers learn them here.
	if res := ar.alloc.AllocatedResources; res != nil && len(res.Shared.Ports) > 0 {
		a.AllocatedResources = &structs.AllocatedResources{Shared: structs.AllocatedSharedResources{
			Ports: res.Shared.Ports, Networks: res.Shared.Networks,
		}}
	}
	ar.mu.Unlock()
	a.TaskStates = ar.taskStates()
	return a
}

type phase int

const (
	phasePrestart phase = iota
	phaseMain
	phasePoststart
	phasePoststop
)

func taskPhase(t *structs.Task) (phase, bool) {
	lc := t.Lifecycle
	if lc == nil {
		return phaseMain, false
	}
	switch lc.Hook {
	case structs.TaskLifecycleHookPrestart:
		return phasePrestart, lc.Sidecar
	case structs.TaskLifecycleHookPoststart:
		return phasePoststart, lc.Sidecar
	case structs.TaskLifecycleHookPoststop:
		return phasePoststop, false
	}
	return phaseMain, false
}

// step advances the lifecycle once and reports whether the allocation is
// finished. Order: prestart tasks; main tasks once every non-sidecar
// prestart task succeeded; poststart tasks once main tasks run; sidecars
// are killed when the main tasks are done; poststop tasks run last. A
// failed task or a dead leader kills the rest.
func (ar *AllocRunner) step(ctx context.Context, start func(*TaskRunner)) bool {
	type info struct {
		tr      *TaskRunner
		st      *structs.TaskState
		ph      phase
		sidecar bool
		started bool
	}
	var all []info
	ar.mu.Lock()
	for _, tr := range ar.tasks {
		ph, sc := taskPhase(tr.cfg.Task)
		all = append(all, info{tr: tr, ph: ph, sidecar: sc, started: ar.started[tr.Name()] || ar.skipped[tr.Name()]})
	}
	ar.mu.Unlock()
	failed, leaderDead := false, false
	for i := range all {
		all[i].st = all[i].tr.State()
		st := all[i].st
		if st.State == structs.TaskStateDead {
			failed = failed || st.Failed
			leaderDead = leaderDead || all[i].tr.cfg.Task.Leader
		}
	}
	dead := func(x info) bool { return x.st.State == structs.TaskStateDead }
	stopping := ar.killRequested() || failed || leaderDead

	// Everything but poststop tasks is finished when every such task is
	// dead or will never start.
	prestartDone, mainStarted, mainRunning, mainDone := true, true, true, true
	for _, x := range all {
		switch x.ph {
		case phasePrestart:
			if !x.sidecar && (!dead(x) || x.st.Failed) {
				prestartDone = false
			}
		case phaseMain:
			mainStarted = mainStarted && x.started
			if x.st.State != structs.TaskStateRunning && !dead(x) {
				mainRunning = false
			}
			if !dead(x) {
				mainDone = false
			}
		}
	}

	if stopping {
		ar.stopTasks(ctx, ar.tasks, failed, leaderDead, start)
	} else {
		for _, x := range all {
			switch {
			case x.ph == phasePrestart:
				start(x.tr)
			case x.ph == phaseMain && prestartDone:
				start(x.tr)
			case x.ph == phasePoststart && prestartDone && mainStarted && mainRunning:
				start(x.tr)
			}
		}
		if mainDone && mainStarted {
			for _, x := range all {
				if x.sidecar && x.started && !dead(x) {
					x.tr.Kill("Main tasks finished")
				}
			}
		}
	}

	// Starts above changed the started set.
	ar.mu.Lock()
	for i := range all {
		all[i].started = ar.started[all[i].tr.Name()] || ar.skipped[all[i].tr.Name()]
	}
	ar.mu.Unlock()

	// The non-poststop part is over when no such task runs or may start.
	over := true
	for _, x := range all {
		if x.ph == phasePoststop {
			continue
		}
		if x.started && !isDone(x.tr) {
			over = false
		}
	}
	if !stopping && !(mainDone && mainStarted) {
		over = false
	}
	finished := false
	if over {
		for _, x := range all {
			if !x.started && x.ph != phasePoststop {
				ar.skip(x.tr)
			}
		}
		allDone := true
		for _, x := range all {
			if x.ph == phasePoststop {
				start(x.tr)
				if !isDone(x.tr) {
					allDone = false
				}
			}
		}
		finished = allDone
	}
	ar.setStatus()
	return finished
}

func isDone(tr *TaskRunner) bool {
	select {
	case <-tr.Done():
		return true
	default:
		return false
	}
}

// skip marks a task that will never run as dead.
func (ar *AllocRunner) skip(tr *TaskRunner) {
	ar.mu.Lock()
	if ar.started[tr.Name()] || ar.skipped[tr.Name()] {
		ar.mu.Unlock()
		return
	}
	ar.skipped[tr.Name()] = true
	reason, failed := ar.killReason, ar.killFailed
	ar.mu.Unlock()
	if tr.State().State != structs.TaskStateDead {
		ev := &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task not started: allocation stopped"}
		if failed {
			// A failing stop (max_run_duration) fails what it prevented too:
			// the allocation did not get its work done.
			ev.FailsTask, ev.Message = true, reason
			ev.DisplayMessage = "Task not started: " + reason
		}
		tr.markDead(failed, ev)
	}
	close(tr.done)
}

// setStatus derives the client status from task states the way Nomad does:
// any failed task fails the allocation; else running, pending, complete.
func (ar *AllocRunner) setStatus() {
	var failed, running, pending, dead bool
	for _, tr := range ar.tasks {
		s := tr.State()
		switch s.State {
		case structs.TaskStateRunning:
			running = true
		case structs.TaskStateDead:
			if s.Failed {
				failed = true
			} else {
				dead = true
			}
		default:
			pending = true
		}
	}
	status, desc := structs.AllocClientStatusPending, "No tasks have started"
	switch {
	case failed:
		status, desc = structs.AllocClientStatusFailed, "Failed tasks"
	case running:
		status, desc = structs.AllocClientStatusRunning, "Tasks are running"
	case pending:
	case dead:
		status, desc = structs.AllocClientStatusComplete, "All tasks have completed"
	}
	ar.mu.Lock()
	ar.status, ar.desc = status, desc
	ar.mu.Unlock()
}

// ClientStatus returns the allocation's current client status.
func (ar *AllocRunner) ClientStatus() string {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	return ar.status
}
