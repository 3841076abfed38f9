package allocrunner

import (
	"context"
	"errors"
	"fmt"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Operators' actions on a running allocation (`alloc restart`, `alloc
// signal`, `alloc exec`). They go through the same task lifecycle the
// hooks use, so a restart an operator asks for is not counted against the
// restart policy and a signal is recorded as a task event.

// Restart events, as Nomad words them.
const userRestart = "User requested restart"

// task returns the named task's runner.
func (ar *AllocRunner) task(name string) (*TaskRunner, error) {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	tr := ar.byName[name]
	if tr == nil {
		return nil, fmt.Errorf("%w %q in allocation %q", structs.ErrUnknownTask, name, ar.ID())
	}
	return tr, nil
}

// runningTasks returns the runners of every task that runs now.
func (ar *AllocRunner) runningTasks() []*TaskRunner {
	ar.mu.Lock()
	trs := append([]*TaskRunner(nil), ar.tasks...)
	ar.mu.Unlock()
	var out []*TaskRunner
	for _, tr := range trs {
		if tr.Handle() != nil && tr.State().State == structs.TaskStateRunning {
			out = append(out, tr)
		}
	}
	return out
}

// RestartTasks restarts task, or every running task when task is "". A
// named task that does not run is an error (hooks.ErrTaskNotRunning).
func (ar *AllocRunner) RestartTasks(ctx context.Context, task string) error {
	trs, err := ar.targets(task)
	if err != nil {
		return err
	}
	var errs []error
	for _, tr := range trs {
		ev := &structs.TaskEvent{Type: structs.TaskRestartSignal, RestartReason: userRestart, DisplayMessage: userRestart}
		if err := (taskLifecycle{tr}).Restart(ctx, ev, false); err != nil {
			errs = append(errs, fmt.Errorf("task %q: %w", tr.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// SignalTasks sends sig to task, or to every running task when task is "".
func (ar *AllocRunner) SignalTasks(task, sig string) error {
	trs, err := ar.targets(task)
	if err != nil {
		return err
	}
	var errs []error
	for _, tr := range trs {
		ev := &structs.TaskEvent{Type: structs.TaskSignaling, Details: map[string]string{"signal": sig},
			DisplayMessage: "Task being sent a signal of type " + sig}
		if err := (taskLifecycle{tr}).Signal(ev, sig); err != nil {
			errs = append(errs, fmt.Errorf("task %q: %w", tr.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// targets are the tasks an action names: one (which must run), or all
// running ones.
func (ar *AllocRunner) targets(task string) ([]*TaskRunner, error) {
	if task == "" {
		return ar.runningTasks(), nil
	}
	tr, err := ar.task(task)
	if err != nil {
		return nil, err
	}
	if tr.Handle() == nil || tr.State().State != structs.TaskStateRunning {
		return nil, fmt.Errorf("task %q: %w", task, hooks.ErrTaskNotRunning)
	}
	return []*TaskRunner{tr}, nil
}

// ExecTask runs a command inside a running task (drivers.Execer).
func (ar *AllocRunner) ExecTask(ctx context.Context, task string, req *drivers.ExecRequest) (int, error) {
	tr, err := ar.execTarget(task)
	if err != nil {
		return 0, err
	}
	ex, ok := tr.cfg.Driver.(drivers.Execer)
	if !ok {
		return 0, fmt.Errorf("driver %q cannot run commands in its tasks", tr.cfg.Task.Driver)
	}
	return ex.ExecTask(ctx, tr.id, req)
}

// ExecRunsOnHost reports whether a command run in task runs on the host,
// without isolation (drivers.HostExecer).
func (ar *AllocRunner) ExecRunsOnHost(task string) (bool, error) {
	tr, err := ar.task(task)
	if err != nil {
		return false, err
	}
	if h, ok := tr.cfg.Driver.(drivers.HostExecer); ok {
		return h.ExecRunsOnHost(tr.id), nil
	}
	return false, nil
}

func (ar *AllocRunner) execTarget(task string) (*TaskRunner, error) {
	tr, err := ar.task(task)
	if err != nil {
		return nil, err
	}
	if tr.cfg.Driver == nil || tr.Handle() == nil || tr.State().State != structs.TaskStateRunning {
		return nil, fmt.Errorf("task %q: %w", task, hooks.ErrTaskNotRunning)
	}
	return tr, nil
}
