package allocrunner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/logs"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// The task hooks every task has. Feature hooks (TaskRunnerConfig.Hooks) run
// between the first two and the last: the task dir and its log collectors
// exist before any feature hook runs, and the shutdown delay passes after
// every feature hook's PreKill (services deregister, then the delay).
func builtinTaskHooksFirst(tr *TaskRunner) []hooks.Hook {
	return []hooks.Hook{&taskDirHook{dir: tr.cfg.AllocDir, task: tr.cfg.Task.Name, events: tr.emit},
		&logsHook{tr: tr}}
}

func builtinTaskHooksLast(tr *TaskRunner) []hooks.Hook {
	if d := tr.cfg.Task.ShutdownDelay; d > 0 {
		return []hooks.Hook{&shutdownDelayHook{delay: d, what: "shutdown_delay", events: tr.emit, logger: tr.logger}}
	}
	return nil
}

// taskDirHook builds the task's directories (if the alloc runner's
// concurrent build has not already) before every start.
type taskDirHook struct {
	dir    *AllocDir
	task   string
	events func(*structs.TaskEvent)
}

func (*taskDirHook) Name() string { return "task_dir" }

func (h *taskDirHook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	if req.Data["built"] == "" {
		// Announced once per task, as Nomad does; later starts reuse it.
		h.events(&structs.TaskEvent{Type: structs.TaskSetup, Message: "Building Task Directory",
			DisplayMessage: "Building Task Directory"})
		resp.Data = map[string]string{"built": "true"}
	}
	if !h.dir.Built(h.task) {
		if err := h.dir.Build([]string{h.task}); err != nil {
			// A directory that cannot be made now will not be made by
			// retrying (a bad name, a read-only or full disk).
			return drivers.NonRecoverable(err)
		}
	}
	return nil
}

// logsHook runs the task's stdout/stderr collectors: the FIFOs the driver
// writes into and the rotators behind them. They live as long as the task
// runner, across restarts of the task.
type logsHook struct {
	tr *TaskRunner

	mu             sync.Mutex
	stdout, stderr *logs.Collector
	rotators       []*logs.Rotator
	// logDir is the log dir's safefs root: FIFOs and log files are
	// reached through it, never by following a link.
	logDir *safefs.Root
}

func (*logsHook) Name() string { return "logs" }

func (h *logsHook) Prestart(_ context.Context, _ *hooks.TaskPrestartRequest, _ *hooks.TaskPrestartResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdout != nil {
		return nil
	}
	tr := h.tr
	maxFiles, maxMB := logs.DefaultMaxFiles, logs.DefaultMaxFileSizeMB
	disabled := false
	if lc := tr.cfg.Task.LogConfig; lc != nil {
		if lc.MaxFiles > 0 {
			maxFiles = lc.MaxFiles
		}
		if lc.MaxFileSizeMB > 0 {
			maxMB = lc.MaxFileSizeMB
		}
		disabled = lc.Disabled
	}
	logDir, err := tr.cfg.AllocDir.OpenLogDir()
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	h.logDir = logDir
	for _, stream := range []string{"stdout", "stderr"} {
		if err := h.startStream(stream, disabled, maxFiles, maxMB); err != nil {
			h.stopLocked(false)
			return drivers.NonRecoverable(err)
		}
	}
	return nil
}

func (h *logsHook) startStream(stream string, disabled bool, maxFiles, maxMB int) error {
	tr := h.tr
	fifo := tr.fifoName(stream)
	if err := logs.MakeFIFO(h.logDir, fifo); err != nil {
		return err
	}
	var c *logs.Collector
	var err error
	if disabled {
		c, err = logs.StartCollector(h.logDir, fifo, discard{}, tr.logger)
	} else {
		r, rerr := logs.NewRotator(h.logDir, tr.cfg.Task.Name+"."+stream, maxFiles, int64(maxMB)<<20, tr.logger)
		if rerr != nil {
			return rerr
		}
		h.rotators = append(h.rotators, r)
		c, err = logs.StartCollector(h.logDir, fifo, r, tr.logger)
	}
	if err != nil {
		return err
	}
	if stream == "stdout" {
		h.stdout = c
	} else {
		h.stderr = c
	}
	return nil
}

// Stop drains what the dead task wrote and closes the files.
func (h *logsHook) Stop(context.Context, *hooks.TaskStopRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(true)
	return nil
}

// Shutdown leaves unread output in the FIFO for the next agent's collector.
func (h *logsHook) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(false)
}

func (h *logsHook) stopLocked(drain bool) {
	for _, c := range []*logs.Collector{h.stdout, h.stderr} {
		if c != nil {
			c.Stop(drain)
		}
	}
	for _, r := range h.rotators {
		r.Close()
	}
	if h.logDir != nil {
		h.logDir.Close()
	}
	h.stdout, h.stderr, h.rotators, h.logDir = nil, nil, nil, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// shutdownDelayHook waits out a task's or group's shutdown_delay once the
// services in front of it are deregistered (the PreKill hooks before it),
// so that clients stop being sent to it before it is killed. A stop with
// no_shutdown_delay skips it.
type shutdownDelayHook struct {
	delay  time.Duration
	what   string // "shutdown_delay" or "group shutdown_delay"
	events func(*structs.TaskEvent)
	logger *slog.Logger
}

func (h *shutdownDelayHook) Name() string { return "shutdown_delay" }

func (h *shutdownDelayHook) wait(ctx context.Context, skip bool) {
	if skip {
		if h.events != nil {
			h.events(&structs.TaskEvent{Type: structs.TaskSkippingShutdownDelay,
				DisplayMessage: fmt.Sprintf("Skipping %s of %s", h.what, h.delay)})
		}
		h.logger.Info("skipping shutdown delay", "which", h.what, "delay", h.delay)
		return
	}
	if h.events != nil {
		h.events(&structs.TaskEvent{Type: structs.TaskWaitingShuttingDownDelay,
			DisplayMessage: fmt.Sprintf("Waiting for %s of %s before killing the task", h.what, h.delay)})
	}
	h.logger.Info("waiting for shutdown delay", "which", h.what, "delay", h.delay)
	t := time.NewTimer(h.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// PreKill is the task-level stage.
func (h *shutdownDelayHook) PreKill(ctx context.Context, req *hooks.TaskPreKillRequest) {
	h.wait(ctx, req.NoShutdownDelay)
}
