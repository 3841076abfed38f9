package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// buildAllocHooks builds the built-in and feature alloc hooks in order: the
// alloc dir first; the group shutdown delay after every feature hook's
// PreKill (group services deregister, then the delay); max_run_duration.
func (ar *AllocRunner) buildAllocHooks() []hooks.Hook {
	a := ar.cfg.Alloc
	hc := &hooks.AllocHookConfig{
		Alloc: a, NodeInfo: ar.cfg.NodeInfo, Logger: ar.logger, Lifecycle: allocLifecycle{ar},
		Dir: hooks.AllocDir{Root: ar.dir.Root, SharedDir: ar.dir.SharedDir(), LogDir: ar.dir.LogDir()},
	}
	hs := []hooks.Hook{&allocDirHook{ar: ar}}
	for _, f := range ar.cfg.AllocHooks {
		if h := f(hc); h != nil {
			hs = append(hs, h)
		}
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if d := tg.ShutdownDelay; d != nil && *d > 0 {
		hs = append(hs, &groupShutdownDelayHook{shutdownDelayHook{delay: *d, what: "group shutdown_delay", logger: ar.logger}})
	}
	if d := tg.MaxRunDuration; d != nil && *d > 0 {
		hs = append(hs, &maxRunDurationHook{limit: *d, lc: hc.Lifecycle, now: time.Now})
	}
	return hs
}

// prerun runs the Prerun hooks in order and gives every task what they set
// up for it. A Done hook is not called again; its saved contribution is
// used.
func (ar *AllocRunner) prerun(ctx context.Context) error {
	var net allocNetwork
	defer func() {
		for _, tr := range ar.tasks {
			tr.setAllocNetwork(net)
		}
		ar.persistHookStates()
	}()
	for _, h := range ar.hooks {
		ph, ok := h.(hooks.AllocPrerunHook)
		if !ok {
			continue
		}
		name := h.Name()
		st := ar.hookStates[name]
		if st != nil && st.Done {
			net.merge(st.NetworkIsolation, st.Network)
			continue
		}
		req := &hooks.AllocPrerunRequest{Alloc: ar.Alloc(), Restored: ar.cfg.Restored != nil, Network: net.status}
		if st != nil {
			req.Data = maps.Clone(st.Data)
		}
		resp := &hooks.AllocPrerunResponse{}
		if err := ph.Prerun(ctx, req, resp); err != nil {
			return fmt.Errorf("prerun hook %q failed: %w", name, err)
		}
		net.merge(resp.NetworkIsolation, resp.Network)
		ns := &hooks.AllocHookState{}
		if st != nil {
			ns.Data = st.Data
		}
		if resp.Data != nil {
			ns.Data = maps.Clone(resp.Data)
		}
		if resp.Done {
			ns.Done, ns.NetworkIsolation, ns.Network = true, resp.NetworkIsolation, resp.Network
		}
		if ns.Done || ns.Data != nil {
			ar.hookStates[name] = ns
		} else {
			delete(ar.hookStates, name)
		}
	}
	return nil
}

func (n *allocNetwork) merge(iso *drivers.NetworkIsolationSpec, status *hooks.AllocNetworkStatus) {
	if iso != nil {
		n.isolation = iso
	}
	if status != nil {
		n.status = status
	}
}

func (ar *AllocRunner) persistHookStates() {
	if ar.cfg.DB == nil {
		return
	}
	if len(ar.hookStates) == 0 && ar.cfg.Restored == nil {
		return
	}
	if err := ar.cfg.DB.PutAllocHooks(ar.ID(), ar.hookStates); err != nil {
		ar.logger.Error("persisting alloc hook state", "error", err)
	}
}

// preKill runs the PreKill hooks once, before the allocation's tasks are
// killed; the runner waits for it (it holds the group's shutdown delay).
func (ar *AllocRunner) preKill(ctx context.Context) {
	ar.mu.Lock()
	alloc := ar.alloc
	ar.mu.Unlock()
	req := &hooks.AllocPreKillRequest{Alloc: alloc,
		NoShutdownDelay: ar.noShutdownDelay.Load() || alloc.DesiredTransition.ShouldIgnoreShutdownDelay()}
	for _, h := range ar.hooks {
		if ph, ok := h.(hooks.AllocPreKillHook); ok {
			ph.PreKill(ctx, req)
		}
	}
}

// postrun runs the Postrun hooks once every task is dead for good.
func (ar *AllocRunner) postrun(ctx context.Context) {
	req := &hooks.AllocPostrunRequest{Alloc: ar.Alloc(), ClientStatus: ar.ClientStatus()}
	for _, h := range ar.hooks {
		if ph, ok := h.(hooks.AllocPostrunHook); ok {
			if err := ph.Postrun(ctx, req); err != nil {
				ar.logger.Warn("alloc hook failed", "stage", "postrun", "hook", h.Name(), "error", err)
			}
		}
	}
}

// updateHooks runs the alloc and task Update hooks for a newer allocation.
func (ar *AllocRunner) updateHooks(ctx context.Context, a *structs.Allocation) {
	req := &hooks.AllocUpdateRequest{Alloc: a}
	for _, h := range ar.hooks {
		if uh, ok := h.(hooks.AllocUpdateHook); ok {
			if err := uh.Update(ctx, req); err != nil {
				ar.logger.Warn("alloc hook failed", "stage", "update", "hook", h.Name(), "error", err)
			}
		}
	}
	for _, tr := range ar.tasks {
		tr.Update(ctx, a)
	}
}

// allocLifecycle is what alloc hooks may do to their allocation.
type allocLifecycle struct{ ar *AllocRunner }

func (l allocLifecycle) Kill(reason string, failed bool) { l.ar.kill(reason, failed, false) }

func (l allocLifecycle) TaskStates() map[string]*structs.TaskState { return l.ar.taskStates() }

func (l allocLifecycle) SetHealth(deploymentID string, healthy bool) {
	l.ar.setHealth(deploymentID, healthy)
}

func (l allocLifecycle) Event(ev *structs.TaskEvent) {
	for _, tr := range l.ar.tasks {
		c := *ev
		tr.emit(&c)
	}
}

// taskStatesChanged tells the AllocTaskStateHooks the current task states.
func (ar *AllocRunner) taskStatesChanged() {
	var states map[string]*structs.TaskState
	for _, h := range ar.hooks {
		if th, ok := h.(hooks.AllocTaskStateHook); ok {
			if states == nil {
				states = ar.taskStates()
			}
			th.TaskStatesChanged(states)
		}
	}
}

// allocDirHook builds the allocation's directory tree before any task runs
// and removes it when the allocation is destroyed. Directory creation is a
// large part of the time from placement to a running task, so every task's
// directories are made here at once, concurrently.
type allocDirHook struct{ ar *AllocRunner }

func (*allocDirHook) Name() string { return "alloc_dir" }

func (h *allocDirHook) Prerun(context.Context, *hooks.AllocPrerunRequest, *hooks.AllocPrerunResponse) error {
	names := make([]string, len(h.ar.tasks))
	for i, tr := range h.ar.tasks {
		names[i] = tr.Name()
	}
	if err := h.ar.dir.Build(names); err != nil {
		// Each task's own task_dir hook fails that task with the reason
		// (a bad task name fails only its task).
		h.ar.logger.Error("building alloc dir", "error", err)
		return nil
	}
	for _, tr := range h.ar.tasks {
		if r := tr.cfg.Task.Resources; r != nil && r.SecretsMB != nil {
			if err := h.ar.dir.MountSecrets(tr.Name(), *r.SecretsMB); err != nil {
				return err
			}
		}
	}
	return nil
}

// Destroy unmounts the tasks' secrets tmpfs, then removes the tree (which
// never descends into a mount).
func (h *allocDirHook) Destroy(context.Context) error {
	var errs []error
	for _, tr := range h.ar.tasks {
		errs = append(errs, h.ar.dir.UnmountSecrets(tr.Name()))
	}
	errs = append(errs, h.ar.dir.Destroy())
	return errors.Join(errs...)
}

// groupShutdownDelayHook waits out the group's shutdown_delay after the
// group's services are deregistered and before any task is killed.
type groupShutdownDelayHook struct{ shutdownDelayHook }

func (h *groupShutdownDelayHook) Name() string { return "group_shutdown_delay" }

func (h *groupShutdownDelayHook) PreKill(ctx context.Context, req *hooks.AllocPreKillRequest) {
	h.wait(ctx, req.NoShutdownDelay)
}

// maxRunDurationHook kills the allocation and marks it failed once it has
// run for the group's max_run_duration, counted from the first time the
// client ran it (kept across agent restarts).
type maxRunDurationHook struct {
	limit time.Duration
	lc    hooks.AllocLifecycle
	now   func() time.Time

	timer *time.Timer
}

func (*maxRunDurationHook) Name() string { return "max_run_duration" }

func (h *maxRunDurationHook) Prerun(_ context.Context, req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
	start := h.now()
	if s := req.Data["started"]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			start = t
		}
	}
	resp.Data = map[string]string{"started": start.Format(time.RFC3339Nano)}
	left := start.Add(h.limit).Sub(h.now())
	reason := fmt.Sprintf("Allocation exceeded its max_run_duration of %s", h.limit)
	h.timer = time.AfterFunc(max(left, 0), func() { h.lc.Kill(reason, true) })
	return nil
}

func (h *maxRunDurationHook) Postrun(context.Context, *hooks.AllocPostrunRequest) error {
	if h.timer != nil {
		h.timer.Stop()
	}
	return nil
}
