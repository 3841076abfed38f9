package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// DefaultKillTimeout applies when a task sets none, as in Nomad.
const DefaultKillTimeout = 5 * time.Second

// maxEvents bounds a task's event history.
const maxEvents = 10

// TaskRunnerConfig configures a TaskRunner.
type TaskRunnerConfig struct {
	Alloc    *structs.Allocation
	Task     *structs.Task
	Driver   drivers.Driver
	AllocDir *AllocDir
	NodeInfo taskenv.NodeInfo
	// DB persists the task's handle and state; nil disables persistence.
	DB     *state.DB
	Logger *slog.Logger
	// OnStateChange is called (from the runner's goroutine) after every
	// change of the task's state.
	OnStateChange func()
	// Restored is the persisted state of a task an earlier client ran.
	Restored *state.TaskLocal
	// Hooks build the task's feature hooks, run in this order after the
	// built-in task dir and log hooks and before the task's shutdown delay.
	Hooks []hooks.TaskHookFactory
}

// TaskRunner runs one task through its driver: hooks, start, wait,
// restart per policy, kill.
type TaskRunner struct {
	cfg     TaskRunnerConfig
	id      string
	logger  *slog.Logger
	tracker *RestartTracker

	killOnce sync.Once
	killCh   chan struct{}
	done     chan struct{}
	// restartCh holds at most one restart a hook asked for.
	restartCh chan restartRequest
	// noShutdownDelay is set when the kill must skip shutdown delays.
	noShutdownDelay atomic.Bool

	// hooks are built once, in order; nil when the driver is missing.
	hooks []hooks.Hook

	mu         sync.Mutex
	killReason string
	killFailed bool
	state      *structs.TaskState
	handle     *drivers.TaskHandle
	// window mirrors the restart tracker's progress for persistence.
	window *state.RestartWindow
	// alloc is the latest server version of the allocation.
	alloc *structs.Allocation
	// hookStates is each hook's persisted state, by hook name.
	hookStates map[string]*hooks.TaskHookState
	// prepared is what the last Prestart pass gave the driver's config.
	prepared *prepared
	// allocNet is what the alloc hooks set up for every task.
	allocNet allocNetwork
	// requestedRestart marks an exit caused by a hook's non-failure
	// restart, which the restart policy does not count.
	requestedRestart bool

	recoverBackoff recoverBackoff
}

// NewTaskRunner builds a runner; it starts nothing until Run.
func NewTaskRunner(cfg TaskRunnerConfig) *TaskRunner {
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	id := cfg.Alloc.ID + "/" + cfg.Task.Name
	tr := &TaskRunner{
		cfg: cfg, id: id, logger: l.With("task", cfg.Task.Name, "alloc", cfg.Alloc.ID),
		killCh: make(chan struct{}), done: make(chan struct{}), restartCh: make(chan restartRequest, 1),
		state:          &structs.TaskState{State: structs.TaskStatePending},
		alloc:          cfg.Alloc,
		hookStates:     map[string]*hooks.TaskHookState{},
		recoverBackoff: defaultRecoverBackoff(),
	}
	jobType := ""
	policy := cfg.Task.RestartPolicy
	if job := cfg.Alloc.Job; job != nil {
		jobType = job.Type
		if tg := job.LookupTaskGroup(cfg.Alloc.TaskGroup); tg != nil && policy == nil {
			policy = tg.RestartPolicy
		}
	}
	tr.tracker = NewTaskRestartTracker(policy, jobType, cfg.Task)
	if r := cfg.Restored; r != nil {
		if r.State != nil {
			tr.state = copyTaskState(r.State)
		}
		tr.handle = r.Handle
		if w := r.Restart; w != nil {
			tr.tracker.SetWindow(w.Count, w.WindowStart)
			tr.window = &state.RestartWindow{Count: w.Count, WindowStart: w.WindowStart, NextRestart: w.NextRestart}
		}
		for name, hs := range r.Hooks {
			if hs != nil {
				tr.hookStates[name] = hs
			}
		}
	} else {
		tr.appendEvent(&structs.TaskEvent{Type: structs.TaskReceived, DisplayMessage: "Task received by client"})
	}
	if cfg.Driver != nil {
		tr.hooks = tr.buildHooks()
	}
	return tr
}

// Name returns the task's name.
func (tr *TaskRunner) Name() string { return tr.cfg.Task.Name }

// Done is closed when Run has returned.
func (tr *TaskRunner) Done() <-chan struct{} { return tr.done }

// State returns a copy of the task's state.
func (tr *TaskRunner) State() *structs.TaskState {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return copyTaskState(tr.state)
}

// Handle returns the current driver handle, nil when nothing runs.
func (tr *TaskRunner) Handle() *drivers.TaskHandle {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.handle
}

// Kill asks the runner to stop the task for good; it returns at once.
func (tr *TaskRunner) Kill(reason string) { tr.kill(reason, false) }

// kill stops the task for good; failed marks it failed with reason.
func (tr *TaskRunner) kill(reason string, failed bool) {
	tr.killOnce.Do(func() {
		tr.mu.Lock()
		tr.killReason, tr.killFailed = reason, failed
		tr.mu.Unlock()
		close(tr.killCh)
	})
}

func (tr *TaskRunner) killed() bool {
	select {
	case <-tr.killCh:
		return true
	default:
		return false
	}
}

// killedEvent is the event a task killed before or while starting ends
// with: a failing kill (max_run_duration, a hook's verdict) says why.
func (tr *TaskRunner) killedEvent(msg string) (bool, *structs.TaskEvent) {
	tr.mu.Lock()
	reason, failed := tr.killReason, tr.killFailed
	tr.mu.Unlock()
	ev := &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: msg}
	if failed {
		ev.FailsTask = true
		ev.Message = reason
		ev.DisplayMessage = msg + ": " + reason
	}
	return failed, ev
}

func copyTaskState(s *structs.TaskState) *structs.TaskState {
	c := *s
	c.Events = append([]*structs.TaskEvent(nil), s.Events...)
	return &c
}

// appendEvent records an event; callers then persist and notify.
func (tr *TaskRunner) appendEvent(ev *structs.TaskEvent) {
	if ev.Time == 0 {
		ev.Time = time.Now().UnixNano()
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	evs := append(tr.state.Events, ev)
	if len(evs) > maxEvents {
		evs = append([]*structs.TaskEvent(nil), evs[len(evs)-maxEvents:]...)
	}
	tr.state.Events = evs
}

// emit records an event for a hook.
func (tr *TaskRunner) emit(ev *structs.TaskEvent) { tr.update(nil, ev) }

// update applies fn to the state, then persists and notifies.
func (tr *TaskRunner) update(fn func(s *structs.TaskState), ev *structs.TaskEvent) {
	if ev != nil {
		tr.appendEvent(ev)
	}
	tr.mu.Lock()
	if fn != nil {
		fn(tr.state)
	}
	tr.mu.Unlock()
	tr.persist()
	if tr.cfg.OnStateChange != nil {
		tr.cfg.OnStateChange()
	}
}

func (tr *TaskRunner) persist() {
	if tr.cfg.DB == nil {
		return
	}
	tr.mu.Lock()
	tl := &state.TaskLocal{Handle: tr.handle, State: copyTaskState(tr.state), Restart: tr.window}
	if len(tr.hookStates) > 0 {
		tl.Hooks = make(map[string]*hooks.TaskHookState, len(tr.hookStates))
		for k, v := range tr.hookStates {
			tl.Hooks[k] = v
		}
	}
	tr.mu.Unlock()
	if err := tr.cfg.DB.PutTask(tr.cfg.Alloc.ID, tr.cfg.Task.Name, tl); err != nil {
		tr.logger.Error("persisting task state", "error", err)
	}
}

func (tr *TaskRunner) setHandle(h *drivers.TaskHandle) {
	tr.mu.Lock()
	tr.handle = h
	tr.mu.Unlock()
}

// Run drives the task until it is dead or ctx ends. When ctx ends the task
// is left running (the agent is shutting down or restarting) and its state
// stays persisted for the next client to re-attach.
func (tr *TaskRunner) Run(ctx context.Context) {
	defer close(tr.done)
	if tr.State().State == structs.TaskStateDead {
		return
	}
	if tr.cfg.Driver == nil {
		tr.driverMissing()
		return
	}
	detached := false
	defer func() { tr.finishHooks(ctx, detached) }()

	res, startErr, end := tr.resume(ctx)
	switch end {
	case endDetached:
		detached = true
		return
	case endDead:
		return
	}
	for {
		if res != nil || startErr != nil {
			if ok, det := tr.afterExit(ctx, res, startErr); !ok {
				detached = det
				return
			}
		}
		var end runEnd
		res, startErr, end = tr.runOnce(ctx)
		switch end {
		case endDetached:
			detached = true
			return
		case endDead:
			return
		}
	}
}

// runEnd says how a step of the task's life ended.
type runEnd int

const (
	endContinue runEnd = iota // decide on a restart next
	endDetached               // the agent is stopping; the task stays
	endDead                   // the task is dead for good
)

// resume picks up what an earlier agent left: it re-attaches to a task that
// still runs and waits for it, or sleeps out a pending restart delay.
func (tr *TaskRunner) resume(ctx context.Context) (*drivers.ExitResult, error, runEnd) {
	if h := tr.Handle(); h != nil {
		return tr.reattach(ctx, h)
	}
	// An earlier client was waiting out a restart delay: sleep out the
	// rest of it rather than restarting at once.
	if due := tr.pendingRestart(); !due.IsZero() {
		if ok, det := tr.restartDelay(ctx, time.Until(due)); !ok {
			if det {
				return nil, nil, endDetached
			}
			return nil, nil, endDead
		}
	}
	return nil, nil, endContinue
}

// reattach re-attaches to the task an earlier client started: no restart is
// counted when this succeeds.
func (tr *TaskRunner) reattach(ctx context.Context, h *drivers.TaskHandle) (*drivers.ExitResult, error, runEnd) {
	out, err := tr.recoverTask(ctx, h)
	switch out {
	case recoverDetached:
		return nil, nil, endDetached
	case recoverKilled:
		// The driver could not be reached, so whatever still runs
		// cannot be stopped from here.
		tr.logger.Warn("task killed before it could be re-attached", "error", err)
		tr.markDead(false, &structs.TaskEvent{Type: structs.TaskKilled, KillError: err.Error(),
			DisplayMessage: "Task killed before it could be re-attached: " + err.Error()})
		return nil, nil, endDead
	case recoverLost:
		tr.logger.Warn("could not re-attach to task", "error", err)
		tr.setHandle(nil)
		tr.update(nil, &structs.TaskEvent{Type: structs.TaskDriverFailure, DriverError: err.Error(),
			DisplayMessage: "Failed to restore task: " + err.Error()})
		return &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("task lost while the client was down: %w", err)}, nil, endContinue
	}
	tr.logger.Info("re-attached to task")
	// The task runs; its hooks now pick up what they keep alive (log
	// collectors, template watches) without disturbing it.
	if err := tr.prestart(ctx, true); err != nil {
		if ctx.Err() != nil {
			return nil, nil, endDetached
		}
		// It cannot go on without what its hooks provide: stop it and let
		// the error take its course like a failed start.
		tr.logger.Warn("task hooks failed after re-attaching; stopping the task", "error", err)
		tr.stopRunning()
		if tr.killed() {
			failed, ev := tr.killedEvent("Task killed")
			tr.markDead(failed, ev)
			return nil, nil, endDead
		}
		tr.prestartFailed(err)
		return nil, err, endContinue
	}
	tr.poststart(ctx, true)
	return tr.waitRunning(ctx)
}

// runOnce runs the Prestart hooks, starts the task and waits for it.
func (tr *TaskRunner) runOnce(ctx context.Context) (*drivers.ExitResult, error, runEnd) {
	if tr.killed() {
		failed, ev := tr.killedEvent("Task killed before it started")
		tr.markDead(failed, ev)
		return nil, nil, endDead
	}
	if ctx.Err() != nil {
		return nil, nil, endDetached
	}
	if err := tr.prestart(ctx, false); err != nil {
		switch {
		case tr.killed():
			failed, ev := tr.killedEvent("Task killed before it started")
			tr.markDead(failed, ev)
			return nil, nil, endDead
		case ctx.Err() != nil:
			return nil, nil, endDetached
		}
		tr.logger.Warn("task hook failed", "error", err)
		tr.prestartFailed(err)
		return nil, err, endContinue
	}
	startErr := tr.start(ctx)
	switch {
	case startErr != nil && tr.killed():
		// Start gave up because the task was killed (e.g. mid image
		// pull): nothing is to restart, but a driver may have left a
		// half-started task behind.
		tr.logger.Info("task killed while starting", "error", startErr)
		tr.destroy("destroying task interrupted while starting")
		failed, ev := tr.killedEvent("Task killed while starting")
		tr.markDead(failed, ev)
		return nil, nil, endDead
	case startErr != nil && ctx.Err() != nil:
		// The agent is stopping; the next one decides what to start.
		return nil, nil, endDetached
	case startErr != nil:
		tr.logger.Warn("starting task failed", "error", startErr)
		tr.update(nil, &structs.TaskEvent{Type: structs.TaskDriverFailure, DriverError: startErr.Error(),
			FailsTask: drivers.IsNonRecoverable(startErr), DisplayMessage: "Failed to start task: " + startErr.Error()})
		return nil, startErr, endContinue
	}
	tr.poststart(ctx, false)
	return tr.waitRunning(ctx)
}

// prestartFailed records a failed Prestart hook as a task event.
func (tr *TaskRunner) prestartFailed(err error) {
	tr.update(nil, &structs.TaskEvent{Type: structs.TaskSetupFailure, Message: err.Error(),
		FailsTask: drivers.IsNonRecoverable(err), DisplayMessage: "Error setting up task: " + err.Error()})
}

// waitRunning waits for the running task and maps how the wait ended.
func (tr *TaskRunner) waitRunning(ctx context.Context) (*drivers.ExitResult, error, runEnd) {
	res, out := tr.wait(ctx)
	switch out {
	case outcomeDetached:
		return nil, nil, endDetached
	case outcomeKilled:
		return nil, nil, endDead
	}
	return res, nil, endContinue
}

// afterExit applies the restart policy after the task exited (res) or
// could not start (startErr). It returns false when the task is done: dead
// for good, or detached when the agent is stopping.
func (tr *TaskRunner) afterExit(ctx context.Context, res *drivers.ExitResult, startErr error) (ok, detached bool) {
	if tr.killed() {
		// It exited as it was being killed: done, whatever the policy says.
		failed, ev := tr.killedEvent("Task killed")
		tr.markDead(failed, ev)
		return false, false
	}
	if drivers.IsNonRecoverable(startErr) {
		// Retrying cannot help (a host policy refusal, a bad config):
		// fail now so the allocation fails instead of looping forever.
		tr.markDead(true, &structs.TaskEvent{Type: structs.TaskNotRestarting, FailsTask: true,
			RestartReason: "Error was unrecoverable", DisplayMessage: "Error was unrecoverable: " + startErr.Error()})
		return false, false
	}
	now := time.Now()
	var d Decision
	if tr.takeRequestedRestart() {
		// A hook restarted a healthy task (a re-rendered template): at
		// once, not counted against the policy.
		d = Decision{Restart: true, Reason: "Restart requested"}
	} else {
		d = tr.tracker.Next(res, startErr, now)
	}
	n, ws := tr.tracker.Window()
	w := &state.RestartWindow{Count: n, WindowStart: ws}
	if d.Restart {
		w.NextRestart = now.Add(d.Delay)
	}
	tr.mu.Lock()
	tr.window = w
	tr.mu.Unlock()
	if !d.Restart {
		if d.Failed {
			tr.markDead(true, &structs.TaskEvent{Type: structs.TaskNotRestarting, FailsTask: true,
				RestartReason: d.Reason, DisplayMessage: d.Reason})
		} else {
			tr.markDead(false, nil)
		}
		return false, false
	}
	tr.update(func(s *structs.TaskState) {
		s.State = structs.TaskStatePending
		s.Restarts++
		s.LastRestart = now
	}, &structs.TaskEvent{Type: structs.TaskRestarting, RestartReason: d.Reason, StartDelay: int64(d.Delay),
		DisplayMessage: fmt.Sprintf("Task restarting in %s", d.Delay)})
	return tr.restartDelay(ctx, d.Delay)
}

// restartDelay waits d before a restart. It returns false when the wait
// was cut short; detached then says the agent is stopping (the task was
// killed otherwise and is marked dead).
func (tr *TaskRunner) restartDelay(ctx context.Context, d time.Duration) (ok, detached bool) {
	if tr.sleep(ctx, d) {
		return true, false
	}
	if ctx.Err() != nil {
		return false, true
	}
	failed, ev := tr.killedEvent("Task killed while waiting to restart")
	tr.markDead(failed, ev)
	return false, false
}

// pendingRestart is when a restored task's restart is due (zero: none).
func (tr *TaskRunner) pendingRestart() time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.window == nil {
		return time.Time{}
	}
	return tr.window.NextRestart
}

func (tr *TaskRunner) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-tr.killCh:
		return false
	}
}

// driverMissing fails the task at once: the client's drivers are fixed
// until the agent restarts, so restarting here could never succeed, and
// failing lets the servers reschedule the allocation. A restored task may
// still be running; without its driver it can be neither watched nor
// stopped, so it is only logged.
func (tr *TaskRunner) driverMissing() {
	msg := fmt.Sprintf("driver %q is not available on this client", tr.cfg.Task.Driver)
	if h := tr.Handle(); h != nil {
		tr.logger.Error("cannot re-attach to task", "error", msg, "started_at", h.StartedAt)
	} else {
		tr.logger.Error("cannot start task", "error", msg)
	}
	tr.markDead(true, &structs.TaskEvent{Type: structs.TaskDriverFailure, FailsTask: true,
		DriverError: msg, DisplayMessage: msg})
}

// markDead ends the task's life.
func (tr *TaskRunner) markDead(failed bool, ev *structs.TaskEvent) {
	now := time.Now()
	tr.setHandle(nil)
	tr.update(func(s *structs.TaskState) {
		s.State = structs.TaskStateDead
		s.Failed = s.Failed || failed
		s.FinishedAt = now
	}, ev)
}

// fifoName is a stream's FIFO in the log dir; fifoPath its host path,
// which drivers open (the log dir is not writable by tasks).
func (tr *TaskRunner) fifoName(stream string) string {
	return "." + tr.cfg.Task.Name + "." + stream + ".fifo"
}

func (tr *TaskRunner) fifoPath(stream string) string {
	return filepath.Join(tr.cfg.AllocDir.LogDir(), tr.fifoName(stream))
}

// fsIsolation is optionally implemented by drivers; "none" means the task
// sees host paths. Drivers without it are assumed to mount the alloc dir at
// /alloc and the task's dirs at /local and /secrets.
type fsIsolation interface{ FSIsolation() string }

// baseEnv builds the task's environment before any hook adds to it.
func (tr *TaskRunner) baseEnv() *taskenv.Env {
	ad := tr.cfg.AllocDir
	task := tr.cfg.Task
	taskDir := ad.TaskDir(task.Name)
	dirs := taskenv.IsolatedDirs
	if fi, ok := tr.cfg.Driver.(fsIsolation); ok && fi.FSIsolation() == "none" {
		dirs = taskenv.Dirs{AllocDir: ad.SharedDir(), TaskDir: filepath.Join(taskDir, "local"),
			SecretsDir: filepath.Join(taskDir, "secrets"), TmpDir: filepath.Join(taskDir, "tmp")}
	}
	return taskenv.Build(tr.cfg.NodeInfo, tr.latestAlloc(), task, dirs)
}

// taskConfig is the driver's view of the task: the environment and the
// mounts, devices and network namespace the Prestart hooks prepared.
func (tr *TaskRunner) taskConfig() *drivers.TaskConfig {
	ad := tr.cfg.AllocDir
	task := tr.cfg.Task
	alloc := tr.latestAlloc()
	tr.mu.Lock()
	p, an := tr.prepared, tr.allocNet
	tr.mu.Unlock()
	if p == nil {
		p = &prepared{env: tr.baseEnv()}
	}
	tc := &drivers.TaskConfig{
		ID: tr.id, AllocID: alloc.ID, Namespace: alloc.Namespace, JobID: alloc.JobID,
		Group: alloc.TaskGroup, Name: task.Name,
		Config: p.env.ReplaceConfig(task.Config), Env: p.env.Map(), User: task.User,
		AllocDir: ad.SharedDir(), TaskDir: ad.TaskDir(task.Name),
		StdoutPath: tr.fifoPath("stdout"), StderrPath: tr.fifoPath("stderr"),
		Mounts: p.mounts, Devices: p.devices, NetworkIsolation: an.isolation,
	}
	if p.netIso != nil {
		tc.NetworkIsolation = p.netIso
	}
	if alloc.Job != nil {
		tc.JobName = alloc.Job.Name
	}
	if ar := alloc.AllocatedResources; ar != nil {
		tc.Resources = ar.Tasks[task.Name]
		tc.Ports = ar.Shared.Ports
	}
	return tc
}

func (tr *TaskRunner) start(ctx context.Context) error {
	if tr.cfg.Driver == nil {
		return fmt.Errorf("driver %q is not available on this node", tr.cfg.Task.Driver)
	}
	tc := tr.taskConfig()
	if err := tr.cfg.Driver.ValidateConfig(tc.Config); err != nil {
		// The config does not change until the job does.
		return drivers.NonRecoverable(err)
	}
	// A restart a hook asked for before this start is moot now.
	select {
	case <-tr.restartCh:
	default:
	}
	// A kill must interrupt a slow Start (an image pull) instead of
	// waiting for it to finish only to stop the task again.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-tr.killCh:
			cancel()
		case <-sctx.Done():
		}
	}()
	h, err := tr.cfg.Driver.Start(sctx, tc)
	if err != nil {
		return err
	}
	now := time.Now()
	tr.setHandle(h)
	tr.mu.Lock()
	if tr.window != nil {
		// The restart happened; copy so a persist in flight keeps its value.
		w := *tr.window
		w.NextRestart = time.Time{}
		tr.window = &w
	}
	tr.mu.Unlock()
	tr.update(func(s *structs.TaskState) {
		s.State = structs.TaskStateRunning
		s.StartedAt = now
		s.FinishedAt = time.Time{}
	}, &structs.TaskEvent{Type: structs.TaskStarted, DisplayMessage: "Task started by client"})
	return nil
}

type runOutcome int

const (
	outcomeExited runOutcome = iota
	outcomeKilled
	outcomeDetached
)

// wait blocks until the running task exits, is killed, is restarted by a
// hook, or ctx ends.
func (tr *TaskRunner) wait(ctx context.Context) (*drivers.ExitResult, runOutcome) {
	if tr.cfg.Driver == nil {
		res := &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("driver %q is not available on this client", tr.cfg.Task.Driver)}
		tr.exited(ctx, res)
		return res, outcomeExited
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := tr.cfg.Driver.Wait(wctx, tr.id)
	if err != nil {
		res := &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("waiting for task: %w", err)}
		tr.exited(ctx, res)
		return res, outcomeExited
	}
	select {
	case res, ok := <-ch:
		if !ok || res == nil {
			if ctx.Err() != nil {
				return nil, outcomeDetached
			}
			res = &drivers.ExitResult{ExitCode: -1, Err: errors.New("driver closed the wait channel")}
		}
		tr.exited(ctx, res)
		return res, outcomeExited
	case <-ctx.Done():
		return nil, outcomeDetached
	case <-tr.killCh:
		tr.killRunning(ctx, ch)
		return nil, outcomeKilled
	case rr := <-tr.restartCh:
		return tr.restartRunning(ctx, ch, rr), outcomeExited
	}
}

// exited records a task exit and frees what the driver held for it.
func (tr *TaskRunner) exited(ctx context.Context, res *drivers.ExitResult) {
	ev := &structs.TaskEvent{Type: structs.TaskTerminated, ExitCode: res.ExitCode, Signal: res.Signal,
		DisplayMessage: fmt.Sprintf("Exit Code: %d", res.ExitCode)}
	if res.Signal != 0 {
		ev.DisplayMessage += fmt.Sprintf(", Signal: %d", res.Signal)
	}
	if res.Err != nil {
		ev.Message = res.Err.Error()
		ev.DisplayMessage += ", Exit Message: " + res.Err.Error()
	}
	if res.OOMKilled {
		// Nomad reports an OOM kill on the Terminated event itself.
		ev.Details = map[string]string{"oom_killed": "true"}
		ev.Message = "OOM Killed"
		ev.DisplayMessage += ", OOM Killed"
	}
	tr.destroy("destroying exited task")
	tr.setHandle(nil)
	tr.update(nil, ev)
	tr.runExited(ctx, res)
}

// killTimeout is the task's kill_timeout, or the default.
func (tr *TaskRunner) killTimeout() time.Duration {
	if t := tr.cfg.Task.KillTimeout; t > 0 {
		return t
	}
	return DefaultKillTimeout
}

// killRunning stops the running task for good: PreKill hooks (services
// deregister, then the shutdown delay), then its kill signal and timeout.
func (tr *TaskRunner) killRunning(ctx context.Context, ch <-chan *drivers.ExitResult) {
	task := tr.cfg.Task
	timeout := tr.killTimeout()
	tr.mu.Lock()
	reason, failed := tr.killReason, tr.killFailed
	tr.mu.Unlock()
	msg := fmt.Sprintf("Sent interrupt. Waiting %s before force killing", timeout)
	if reason != "" {
		msg = reason + ": " + msg
	}
	tr.update(nil, &structs.TaskEvent{Type: structs.TaskKilling, KillTimeout: timeout, DisplayMessage: msg})
	killEv := &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task successfully killed"}
	if failed {
		killEv.FailsTask, killEv.Message = true, reason
		killEv.DisplayMessage = "Task killed: " + reason
	}
	res, exitedEarly := tr.preKill(ctx, ch)
	if !exitedEarly {
		if err := tr.cfg.Driver.Stop(tr.id, timeout, task.KillSignal); err != nil {
			killEv.KillError = err.Error()
			killEv.DisplayMessage = "Task killed with error: " + err.Error()
		}
		select {
		case res = <-ch:
		case <-time.After(timeout + 10*time.Second):
			killEv.KillError = "task did not report its exit"
		}
	}
	if res != nil {
		tr.update(nil, &structs.TaskEvent{Type: structs.TaskTerminated, ExitCode: res.ExitCode, Signal: res.Signal,
			DisplayMessage: fmt.Sprintf("Exit Code: %d, Signal: %d", res.ExitCode, res.Signal)})
		tr.runExited(ctx, res)
	}
	tr.destroy("destroying killed task")
	tr.markDead(failed, killEv)
}

// stopRunning stops a running task that must not go on (its hooks failed
// after a re-attach), without marking it dead.
func (tr *TaskRunner) stopRunning() {
	if err := tr.cfg.Driver.Stop(tr.id, tr.killTimeout(), tr.cfg.Task.KillSignal); err != nil &&
		!errors.Is(err, drivers.ErrTaskNotFound) {
		tr.logger.Warn("stopping task", "error", err)
	}
	tr.destroy("destroying stopped task")
	tr.setHandle(nil)
	tr.persist()
}

// destroy frees what the driver held for the task, if there is a driver.
func (tr *TaskRunner) destroy(what string) {
	if tr.cfg.Driver == nil {
		return
	}
	if err := tr.cfg.Driver.Destroy(tr.id, true); err != nil && !errors.Is(err, drivers.ErrTaskNotFound) {
		tr.logger.Warn(what, "error", err)
	}
}
