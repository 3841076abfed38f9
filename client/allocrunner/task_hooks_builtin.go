package allocrunner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
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
