package health

import (
	"context"
	"sync"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

// ChecksFor returns the check results of an allocation's services, for
// health_check = "checks"; nil when it has none to offer. The client's
// service check runner provides it; without one, "checks" judges by task
// states alone, as Nomad does for a group without checks.
type ChecksFor func(alloc *structs.Allocation) Checks

// HookFactory returns the alloc hook that judges a service allocation's
// health and reports it to the servers (through AllocLifecycle.SetHealth):
// inside a deployment by the group's update block, outside one by its
// migrate block, so the node drainer can wait for replacements to settle.
// health_check = "manual" is left to operators. checks may be nil.
func HookFactory(checks ChecksFor) hooks.AllocHookFactory {
	return func(cfg *hooks.AllocHookConfig) hooks.Hook {
		a := cfg.Alloc
		if a.Job == nil || a.Job.Type != structs.JobTypeService {
			return nil
		}
		tg := a.Job.LookupTaskGroup(a.TaskGroup)
		if tg == nil || (tg.Update == nil && tg.Migrate == nil) {
			return nil
		}
		return &hook{lc: cfg.Lifecycle, checks: checks}
	}
}

// hook runs one Watcher at a time: for the deployment the allocation
// currently belongs to, until it decides or the allocation moves on.
type hook struct {
	lc     hooks.AllocLifecycle
	checks ChecksFor

	mu       sync.Mutex
	tracking string // deployment being judged ("" outside one)
	watcher  *Watcher
	cancel   context.CancelFunc
	states   map[string]*structs.TaskState
}

func (*hook) Name() string { return "deployment_health" }

func (h *hook) Prerun(ctx context.Context, req *hooks.AllocPrerunRequest, _ *hooks.AllocPrerunResponse) error {
	h.track(ctx, req.Alloc)
	return nil
}

func (h *hook) Update(ctx context.Context, req *hooks.AllocUpdateRequest) error {
	h.track(ctx, req.Alloc)
	return nil
}

func (h *hook) TaskStatesChanged(states map[string]*structs.TaskState) {
	h.mu.Lock()
	h.states = states
	w, deployment := h.watcher, h.tracking
	h.mu.Unlock()
	if w == nil {
		return
	}
	// A failed task decides at once, on the runner's goroutine: the
	// allocation may be finishing, and its last report must carry the
	// verdict.
	if failed, _ := w.judge(states); failed {
		h.stop()
		h.lc.SetHealth(deployment, false)
		return
	}
	w.Update(states)
}

func (h *hook) Postrun(context.Context, *hooks.AllocPostrunRequest) error {
	h.stop()
	return nil
}

func (h *hook) Destroy(context.Context) error {
	h.stop()
	return nil
}

func (h *hook) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
	h.watcher, h.cancel = nil, nil
}

// track (re)starts judging when the allocation joined another deployment,
// and stops when there is nothing to judge: the servers already know its
// health, it is being stopped, or its block says health is manual.
func (h *hook) track(ctx context.Context, a *structs.Allocation) {
	cfg, ok := configFor(a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watcher != nil && h.tracking == a.DeploymentID && ok {
		return
	}
	if h.cancel != nil {
		h.cancel()
		h.watcher, h.cancel = nil, nil
	}
	if !ok {
		return
	}
	var checks Checks
	if h.checks != nil && cfg.Mode == ModeChecks {
		checks = h.checks(a)
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	w := New(cfg, tg.Tasks, checks)
	wctx, cancel := context.WithCancel(ctx)
	h.tracking, h.watcher, h.cancel = a.DeploymentID, w, cancel
	if h.states != nil {
		w.Update(h.states)
	}
	deployment := a.DeploymentID
	go w.Run(wctx)
	go func() {
		select {
		case healthy := <-w.Result():
			h.lc.SetHealth(deployment, healthy)
		case <-wctx.Done():
		}
	}()
}

// configFor returns how to judge a's health, false when it is not to be
// judged.
func configFor(a *structs.Allocation) (Config, bool) {
	if a.DesiredStatus != structs.AllocDesiredStatusRun || a.DeploymentStatus.HealthSet() || a.Job == nil {
		return Config{}, false
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil {
		return Config{}, false
	}
	var cfg Config
	switch {
	case a.DeploymentID != "" && tg.Update != nil:
		cfg = FromUpdate(tg.Update)
	case a.DeploymentID == "" && tg.Migrate != nil:
		cfg = FromMigrate(tg.Migrate)
	default:
		return Config{}, false
	}
	if cfg.Mode != ModeTaskStates && cfg.Mode != ModeChecks {
		return Config{}, false
	}
	return cfg, true
}
