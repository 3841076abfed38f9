package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// prepared is what one Prestart pass produced for the driver.
type prepared struct {
	// env is the base environment with every hook's Env applied.
	env *taskenv.Env
	// hookEnv is what the hooks added, to re-apply on a rebuilt base.
	hookEnv map[string]string
	// hookInterp is what the hooks added for interpolation only.
	hookInterp map[string]string
	mounts     []*drivers.MountConfig
	devices    []*drivers.DeviceConfig
	netIso     *drivers.NetworkIsolationSpec
}

func (p *prepared) add(env map[string]string, mounts []*drivers.MountConfig, devices []*drivers.DeviceConfig,
	netIso *drivers.NetworkIsolationSpec) {
	if len(env) > 0 {
		if p.hookEnv == nil {
			p.hookEnv = map[string]string{}
		}
		maps.Copy(p.hookEnv, env)
	}
	p.mounts = append(p.mounts, mounts...)
	p.devices = append(p.devices, devices...)
	if netIso != nil {
		p.netIso = netIso
	}
}

// allocNetwork is what the alloc hooks set up for every task.
type allocNetwork struct {
	isolation *drivers.NetworkIsolationSpec
	status    *hooks.AllocNetworkStatus
}

func (tr *TaskRunner) setAllocNetwork(n allocNetwork) {
	tr.mu.Lock()
	tr.allocNet = n
	tr.mu.Unlock()
}

func (tr *TaskRunner) latestAlloc() *structs.Allocation {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.alloc
}

// buildHooks builds the built-in and feature hooks, in their order.
func (tr *TaskRunner) buildHooks() []hooks.Hook {
	ad := tr.cfg.AllocDir
	td := ad.TaskDir(tr.cfg.Task.Name)
	hc := &hooks.TaskHookConfig{
		Alloc: tr.cfg.Alloc, Task: tr.cfg.Task,
		AllocDir: hooks.AllocDir{Root: ad.Root, SharedDir: ad.SharedDir(), LogDir: ad.LogDir()},
		TaskDir:  hooks.TaskDir{Dir: td, LocalDir: td + "/local", SecretsDir: td + "/secrets", TmpDir: td + "/tmp"},
		Driver:   tr.cfg.Driver, NodeInfo: tr.cfg.NodeInfo, Logger: tr.logger,
		Events: tr.emit, Lifecycle: taskLifecycle{tr},
	}
	hs := builtinTaskHooksFirst(tr)
	for _, f := range tr.cfg.Hooks {
		if h := f(hc); h != nil {
			hs = append(hs, h)
		}
	}
	return append(hs, builtinTaskHooksLast(tr)...)
}

// killContext is ctx, also ended by a kill of the task.
func (tr *TaskRunner) killContext(ctx context.Context) (context.Context, context.CancelFunc) {
	kctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-tr.killCh:
			cancel()
		case <-kctx.Done():
		}
	}()
	return kctx, cancel
}

// prestart runs the Prestart hooks in order and keeps what they
// contribute for the driver's config. A Done hook is not called; what it
// contributed is re-applied from its saved state.
func (tr *TaskRunner) prestart(ctx context.Context, reattach bool) error {
	hctx, cancel := tr.killContext(ctx)
	defer cancel()
	env := tr.baseEnv()
	p := &prepared{}
	defer tr.persist()
	for _, h := range tr.hooks {
		ph, ok := h.(hooks.TaskPrestartHook)
		if !ok {
			continue
		}
		name := h.Name()
		tr.mu.Lock()
		st := tr.hookStates[name]
		tr.mu.Unlock()
		if st != nil && st.Done {
			p.add(st.Env, st.Mounts, st.Devices, st.NetworkIsolation)
			env = env.WithVars(st.Env)
			continue
		}
		req := &hooks.TaskPrestartRequest{Alloc: tr.latestAlloc(), Task: tr.cfg.Task, TaskEnv: env, Reattach: reattach}
		if st != nil {
			req.Data = maps.Clone(st.Data)
		}
		resp := &hooks.TaskPrestartResponse{}
		if err := ph.Prestart(hctx, req, resp); err != nil {
			return fmt.Errorf("prestart hook %q failed: %w", name, err)
		}
		p.add(resp.Env, resp.Mounts, resp.Devices, resp.NetworkIsolation)
		env = env.WithVars(resp.Env).WithInterp(resp.Interp)
		if len(resp.Interp) > 0 {
			if p.hookInterp == nil {
				p.hookInterp = map[string]string{}
			}
			maps.Copy(p.hookInterp, resp.Interp)
		}
		tr.saveHookState(name, st, resp)
	}
	p.env = env
	tr.mu.Lock()
	tr.prepared = p
	tr.mu.Unlock()
	return nil
}

// saveHookState records a Prestart response's Data and Done (with the
// contributions a Done hook will not be asked for again).
func (tr *TaskRunner) saveHookState(name string, old *hooks.TaskHookState, resp *hooks.TaskPrestartResponse) {
	st := &hooks.TaskHookState{}
	if old != nil {
		st.Data = old.Data
	}
	if resp.Data != nil {
		st.Data = maps.Clone(resp.Data)
	}
	if resp.Done {
		st.Done = true
		st.Env, st.Mounts, st.Devices, st.NetworkIsolation = maps.Clone(resp.Env), resp.Mounts, resp.Devices, resp.NetworkIsolation
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !st.Done && st.Data == nil {
		delete(tr.hookStates, name)
		return
	}
	tr.hookStates[name] = st
}

// currentEnv is the task's environment for the latest allocation with the
// hooks' additions.
func (tr *TaskRunner) currentEnv() *taskenv.Env {
	tr.mu.Lock()
	p := tr.prepared
	tr.mu.Unlock()
	env := tr.baseEnv()
	if p != nil {
		env = env.WithVars(p.hookEnv).WithInterp(p.hookInterp)
	}
	return env
}

// poststart runs the Poststart hooks; a failure is recorded, not fatal:
// the task already runs.
func (tr *TaskRunner) poststart(ctx context.Context, reattached bool) {
	alloc := tr.latestAlloc()
	tr.mu.Lock()
	status := tr.allocNet.status
	tr.mu.Unlock()
	var ports []structs.AllocatedPort
	if ar := alloc.AllocatedResources; ar != nil {
		ports = ar.Shared.Ports
	}
	req := &hooks.TaskPoststartRequest{Alloc: alloc, Task: tr.cfg.Task, TaskEnv: tr.currentEnv(),
		Handle: tr.Handle(), Ports: ports, Network: status, Reattached: reattached}
	for _, h := range tr.hooks {
		if ph, ok := h.(hooks.TaskPoststartHook); ok {
			if err := ph.Poststart(ctx, req); err != nil {
				tr.hookFailed("poststart", h.Name(), err)
			}
		}
	}
}

func (tr *TaskRunner) hookFailed(stage, name string, err error) {
	tr.logger.Warn("task hook failed", "stage", stage, "hook", name, "error", err)
	tr.emit(&structs.TaskEvent{Type: structs.TaskHookFailed, Message: err.Error(),
		DisplayMessage: fmt.Sprintf("%s hook %q failed: %v", stage, name, err)})
}

// runExited tells the Exited hooks how the task's process ended.
func (tr *TaskRunner) runExited(ctx context.Context, res *drivers.ExitResult) {
	req := &hooks.TaskExitedRequest{Result: res}
	for _, h := range tr.hooks {
		if eh, ok := h.(hooks.TaskExitedHook); ok {
			if err := eh.Exited(context.WithoutCancel(ctx), req); err != nil {
				tr.hookFailed("exited", h.Name(), err)
			}
		}
	}
}

// preKill runs the PreKill hooks before the running task is killed. If the
// task exits meanwhile the hooks are cut short and its exit is returned.
func (tr *TaskRunner) preKill(ctx context.Context, ch <-chan *drivers.ExitResult) (*drivers.ExitResult, bool) {
	var pk []hooks.TaskPreKillHook
	for _, h := range tr.hooks {
		if p, ok := h.(hooks.TaskPreKillHook); ok {
			pk = append(pk, p)
		}
	}
	if len(pk) == 0 {
		return nil, false
	}
	alloc := tr.latestAlloc()
	req := &hooks.TaskPreKillRequest{Alloc: alloc,
		NoShutdownDelay: tr.noShutdownDelay.Load() || alloc.DesiredTransition.ShouldIgnoreShutdownDelay()}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, h := range pk {
			h.PreKill(pctx, req)
		}
	}()
	select {
	case <-done:
		return nil, false
	case res, ok := <-ch:
		cancel()
		<-done
		if !ok || res == nil {
			return nil, false
		}
		return res, true
	}
}

// finishHooks runs Stop hooks once the task is dead for good, or Shutdown
// hooks when the agent stops and leaves it running.
func (tr *TaskRunner) finishHooks(ctx context.Context, detached bool) {
	if detached {
		for _, h := range tr.hooks {
			if sh, ok := h.(hooks.TaskShutdownHook); ok {
				sh.Shutdown()
			}
		}
		return
	}
	req := &hooks.TaskStopRequest{Alloc: tr.latestAlloc(), State: tr.State()}
	for _, h := range tr.hooks {
		if sh, ok := h.(hooks.TaskStopHook); ok {
			if err := sh.Stop(context.WithoutCancel(ctx), req); err != nil {
				tr.hookFailed("stop", h.Name(), err)
			}
		}
	}
}

// Update takes a newer version of the allocation and runs the Update hooks.
func (tr *TaskRunner) Update(ctx context.Context, a *structs.Allocation) {
	tr.mu.Lock()
	tr.alloc = a
	tr.mu.Unlock()
	if tr.cfg.Driver == nil {
		return
	}
	req := &hooks.TaskUpdateRequest{Alloc: a, TaskEnv: tr.currentEnv()}
	for _, h := range tr.hooks {
		if uh, ok := h.(hooks.TaskUpdateHook); ok {
			if err := uh.Update(ctx, req); err != nil {
				tr.hookFailed("update", h.Name(), err)
			}
		}
	}
}

// restartRequest is a hook's request to restart the running task.
type restartRequest struct {
	ev      *structs.TaskEvent
	failure bool
}

// restartRunning stops the task for a restart a hook asked for and
// returns its exit. A failure restart's exit always counts as a failure.
func (tr *TaskRunner) restartRunning(ctx context.Context, ch <-chan *drivers.ExitResult, rr restartRequest) *drivers.ExitResult {
	ev := rr.ev
	if ev == nil {
		ev = &structs.TaskEvent{Type: structs.TaskRestartSignal, DisplayMessage: "Restart requested"}
	}
	tr.emit(ev)
	res, exitedEarly := tr.preKill(ctx, ch)
	if !exitedEarly {
		timeout := tr.killTimeout()
		if err := tr.cfg.Driver.Stop(tr.id, timeout, tr.cfg.Task.KillSignal); err != nil &&
			!errors.Is(err, drivers.ErrTaskNotFound) {
			tr.logger.Warn("stopping task for a restart", "error", err)
		}
		select {
		case r, ok := <-ch:
			if ok && r != nil {
				res = r
			}
		case <-time.After(timeout + 10*time.Second):
		}
		if res == nil {
			res = &drivers.ExitResult{ExitCode: -1, Err: errors.New("task did not report its exit")}
		}
	}
	tr.exited(ctx, res)
	if rr.failure {
		if res.Successful() {
			c := *res
			c.Err = errors.New("restarted: " + ev.DisplayMessage)
			res = &c
		}
	} else {
		tr.mu.Lock()
		tr.requestedRestart = true
		tr.mu.Unlock()
	}
	return res
}

// takeRequestedRestart reports (once) that the last exit was a restart a
// hook asked for without counting it as a failure.
func (tr *TaskRunner) takeRequestedRestart() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.requestedRestart
	tr.requestedRestart = false
	return r
}

// taskLifecycle is what hooks may do to their task.
type taskLifecycle struct{ tr *TaskRunner }

func (l taskLifecycle) Restart(ctx context.Context, ev *structs.TaskEvent, failure bool) error {
	if l.tr.Handle() == nil {
		return hooks.ErrTaskNotRunning
	}
	select {
	case l.tr.restartCh <- restartRequest{ev: ev, failure: failure}:
	case <-ctx.Done():
		return ctx.Err()
	default:
		// A restart is pending already; it serves this request too.
	}
	return nil
}

func (l taskLifecycle) Signal(ev *structs.TaskEvent, sig string) error {
	if l.tr.Handle() == nil {
		return hooks.ErrTaskNotRunning
	}
	if ev == nil {
		ev = &structs.TaskEvent{Type: structs.TaskSignaling, DisplayMessage: "Task being sent signal " + sig}
	}
	l.tr.emit(ev)
	return l.tr.cfg.Driver.Signal(l.tr.id, sig)
}

func (l taskLifecycle) Kill(ev *structs.TaskEvent) {
	reason, failed := "", false
	if ev != nil {
		l.tr.emit(ev)
		reason, failed = ev.DisplayMessage, ev.FailsTask
	}
	l.tr.kill(reason, failed)
}
