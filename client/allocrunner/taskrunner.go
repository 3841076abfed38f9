package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/orch-project/orch/client/logs"
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
}

// TaskRunner runs one task through its driver: setup, start, wait,
// restart per policy, kill.
type TaskRunner struct {
	cfg     TaskRunnerConfig
	id      string
	logger  *slog.Logger
	tracker *RestartTracker

	killOnce   sync.Once
	killCh     chan struct{}
	killReason string
	done       chan struct{}

	mu     sync.Mutex
	state  *structs.TaskState
	handle *drivers.TaskHandle
	// window mirrors the restart tracker's progress for persistence.
	window *state.RestartWindow

	stdout, stderr *logs.Collector
	rotators       []*logs.Rotator

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
		killCh: make(chan struct{}), done: make(chan struct{}),
		state:          &structs.TaskState{State: structs.TaskStatePending},
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
	} else {
		tr.appendEvent(&structs.TaskEvent{Type: structs.TaskReceived, DisplayMessage: "Task received by client"})
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
func (tr *TaskRunner) Kill(reason string) {
	tr.killOnce.Do(func() {
		tr.mu.Lock()
		tr.killReason = reason
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
	defer func() { tr.stopCollectors(!detached) }()

	if err := tr.setup(); err != nil {
		tr.logger.Error("task setup failed", "error", err)
		tr.markDead(true, &structs.TaskEvent{Type: structs.TaskSetupFailure, FailsTask: true,
			Message: err.Error(), DisplayMessage: "Error setting up task: " + err.Error()})
		return
	}

	var res *drivers.ExitResult
	var startErr error
	if h := tr.Handle(); h != nil {
		// Re-attach to the task an earlier client started: no restart is
		// counted when this succeeds.
		out, err := tr.recoverTask(ctx, h)
		switch out {
		case recoverDetached:
			detached = true
			return
		case recoverKilled:
			// The driver could not be reached, so whatever still runs
			// cannot be stopped from here.
			tr.logger.Warn("task killed before it could be re-attached", "error", err)
			tr.markDead(false, &structs.TaskEvent{Type: structs.TaskKilled, KillError: err.Error(),
				DisplayMessage: "Task killed before it could be re-attached: " + err.Error()})
			return
		case recoverLost:
			tr.logger.Warn("could not re-attach to task", "error", err)
			tr.setHandle(nil)
			res = &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("task lost while the client was down: %w", err)}
			tr.update(nil, &structs.TaskEvent{Type: structs.TaskDriverFailure, DriverError: err.Error(),
				DisplayMessage: "Failed to restore task: " + err.Error()})
		default:
			tr.logger.Info("re-attached to task")
			var out runOutcome
			res, out = tr.wait(ctx)
			if out == outcomeDetached {
				detached = true
				return
			}
			if out == outcomeKilled {
				return
			}
		}
	}

	if res == nil && tr.Handle() == nil {
		// An earlier client was waiting out a restart delay: sleep out
		// the rest of it rather than restarting at once.
		if due := tr.pendingRestart(); !due.IsZero() {
			if ok, det := tr.restartDelay(ctx, time.Until(due)); !ok {
				detached = det
				return
			}
		}
	}

	for {
		if res != nil || startErr != nil {
			now := time.Now()
			d := tr.tracker.Next(res, startErr, now)
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
				return
			}
			tr.update(func(s *structs.TaskState) {
				s.State = structs.TaskStatePending
				s.Restarts++
				s.LastRestart = now
			}, &structs.TaskEvent{Type: structs.TaskRestarting, RestartReason: d.Reason, StartDelay: int64(d.Delay),
				DisplayMessage: fmt.Sprintf("Task restarting in %s", d.Delay)})
			if ok, det := tr.restartDelay(ctx, d.Delay); !ok {
				detached = det
				return
			}
		}
		if tr.killed() {
			tr.markDead(false, &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task killed before it started"})
			return
		}
		if ctx.Err() != nil {
			detached = true
			return
		}
		res, startErr = nil, tr.start(ctx)
		if startErr != nil && tr.killed() {
			// Start gave up because the task was killed (e.g. mid image
			// pull): nothing is to restart, but a driver may have left a
			// half-started task behind.
			tr.logger.Info("task killed while starting", "error", startErr)
			tr.destroy("destroying task interrupted while starting")
			tr.markDead(false, &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task killed while starting"})
			return
		}
		if startErr != nil && ctx.Err() != nil {
			// The agent is stopping; the next one decides what to start.
			detached = true
			return
		}
		if startErr != nil {
			tr.logger.Warn("starting task failed", "error", startErr)
			tr.update(nil, &structs.TaskEvent{Type: structs.TaskDriverFailure, DriverError: startErr.Error(),
				DisplayMessage: "Failed to start task: " + startErr.Error()})
			continue
		}
		var out runOutcome
		res, out = tr.wait(ctx)
		switch out {
		case outcomeDetached:
			detached = true
			return
		case outcomeKilled:
			return
		}
	}
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
	tr.markDead(false, &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task killed while waiting to restart"})
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

// setup builds the task's directories and starts its log collectors.
func (tr *TaskRunner) setup() error {
	if tr.State().StartedAt.IsZero() && tr.Handle() == nil {
		tr.update(nil, &structs.TaskEvent{Type: structs.TaskSetup, Message: "Building Task Directory",
			DisplayMessage: "Building Task Directory"})
	}
	ad := tr.cfg.AllocDir
	if !ad.Built(tr.cfg.Task.Name) {
		if err := ad.Build([]string{tr.cfg.Task.Name}); err != nil {
			return err
		}
	}
	lc := tr.cfg.Task.LogConfig
	maxFiles, maxMB := logs.DefaultMaxFiles, logs.DefaultMaxFileSizeMB
	disabled := false
	if lc != nil {
		if lc.MaxFiles > 0 {
			maxFiles = lc.MaxFiles
		}
		if lc.MaxFileSizeMB > 0 {
			maxMB = lc.MaxFileSizeMB
		}
		disabled = lc.Disabled
	}
	for _, stream := range []string{"stdout", "stderr"} {
		fifo := tr.fifoPath(stream)
		if err := logs.MakeFIFO(fifo); err != nil {
			return err
		}
		var c *logs.Collector
		var err error
		if disabled {
			c, err = logs.StartCollector(fifo, discard{}, tr.logger)
		} else {
			r, rerr := logs.NewRotator(ad.LogDir(), tr.cfg.Task.Name+"."+stream, maxFiles, int64(maxMB)<<20)
			if rerr != nil {
				return rerr
			}
			tr.rotators = append(tr.rotators, r)
			c, err = logs.StartCollector(fifo, r, tr.logger)
		}
		if err != nil {
			return err
		}
		if stream == "stdout" {
			tr.stdout = c
		} else {
			tr.stderr = c
		}
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (tr *TaskRunner) fifoPath(stream string) string {
	return filepath.Join(tr.cfg.AllocDir.LogDir(), "."+tr.cfg.Task.Name+"."+stream+".fifo")
}

func (tr *TaskRunner) stopCollectors(drain bool) {
	for _, c := range []*logs.Collector{tr.stdout, tr.stderr} {
		if c != nil {
			c.Stop(drain)
		}
	}
	for _, r := range tr.rotators {
		r.Close()
	}
	tr.stdout, tr.stderr, tr.rotators = nil, nil, nil
}

// fsIsolation is optionally implemented by drivers; "none" means the task
// sees host paths. Drivers without it are assumed to mount the alloc dir at
// /alloc and the task's dirs at /local and /secrets.
type fsIsolation interface{ FSIsolation() string }

func (tr *TaskRunner) taskConfig() *drivers.TaskConfig {
	ad := tr.cfg.AllocDir
	task := tr.cfg.Task
	alloc := tr.cfg.Alloc
	taskDir := ad.TaskDir(task.Name)
	dirs := taskenv.IsolatedDirs
	if fi, ok := tr.cfg.Driver.(fsIsolation); ok && fi.FSIsolation() == "none" {
		dirs = taskenv.Dirs{AllocDir: ad.SharedDir(), TaskDir: filepath.Join(taskDir, "local"),
			SecretsDir: filepath.Join(taskDir, "secrets"), TmpDir: filepath.Join(taskDir, "tmp")}
	}
	env := taskenv.Build(tr.cfg.NodeInfo, alloc, task, dirs)
	tc := &drivers.TaskConfig{
		ID: tr.id, AllocID: alloc.ID, Namespace: alloc.Namespace, JobID: alloc.JobID,
		Group: alloc.TaskGroup, Name: task.Name,
		Config: env.ReplaceConfig(task.Config), Env: env.Map(), User: task.User,
		AllocDir: ad.SharedDir(), TaskDir: taskDir,
		StdoutPath: tr.fifoPath("stdout"), StderrPath: tr.fifoPath("stderr"),
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
		return err
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

// wait blocks until the running task exits, is killed, or ctx ends.
func (tr *TaskRunner) wait(ctx context.Context) (*drivers.ExitResult, runOutcome) {
	if tr.cfg.Driver == nil {
		res := &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("driver %q is not available on this client", tr.cfg.Task.Driver)}
		tr.exited(res)
		return res, outcomeExited
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := tr.cfg.Driver.Wait(wctx, tr.id)
	if err != nil {
		res := &drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("waiting for task: %w", err)}
		tr.exited(res)
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
		tr.exited(res)
		return res, outcomeExited
	case <-ctx.Done():
		return nil, outcomeDetached
	case <-tr.killCh:
		tr.kill(ch)
		return nil, outcomeKilled
	}
}

// exited records a task exit and frees what the driver held for it.
func (tr *TaskRunner) exited(res *drivers.ExitResult) {
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
}

// kill stops the running task with its kill signal and timeout.
func (tr *TaskRunner) kill(ch <-chan *drivers.ExitResult) {
	task := tr.cfg.Task
	timeout := task.KillTimeout
	if timeout <= 0 {
		timeout = DefaultKillTimeout
	}
	tr.mu.Lock()
	reason := tr.killReason
	tr.mu.Unlock()
	msg := fmt.Sprintf("Sent interrupt. Waiting %s before force killing", timeout)
	if reason != "" {
		msg = reason + ": " + msg
	}
	tr.update(nil, &structs.TaskEvent{Type: structs.TaskKilling, KillTimeout: timeout, DisplayMessage: msg})
	killEv := &structs.TaskEvent{Type: structs.TaskKilled, DisplayMessage: "Task successfully killed"}
	if tr.cfg.Driver == nil {
		killEv.KillError = fmt.Sprintf("driver %q is not available on this client", task.Driver)
		killEv.DisplayMessage = "Task killed with error: " + killEv.KillError
		tr.markDead(false, killEv)
		return
	}
	if err := tr.cfg.Driver.Stop(tr.id, timeout, task.KillSignal); err != nil {
		killEv.KillError = err.Error()
		killEv.DisplayMessage = "Task killed with error: " + err.Error()
	}
	select {
	case res := <-ch:
		if res != nil {
			tr.update(nil, &structs.TaskEvent{Type: structs.TaskTerminated, ExitCode: res.ExitCode, Signal: res.Signal,
				DisplayMessage: fmt.Sprintf("Exit Code: %d, Signal: %d", res.ExitCode, res.Signal)})
		}
	case <-time.After(timeout + 10*time.Second):
		killEv.KillError = "task did not report its exit"
	}
	tr.destroy("destroying killed task")
	tr.markDead(false, killEv)
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
