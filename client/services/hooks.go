package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// deregisterWait bounds how long a stopping task waits for its services'
// deregistration to reach the servers before its shutdown delay and kill.
const deregisterWait = 5 * time.Second

// Manager is the client-wide part of services: the registrar, the check
// results and the tasks script checks run in. The client builds one and
// lists its hook factories.
type Manager struct {
	Registrar *Registrar
	Checks    *Store
	logger    *slog.Logger

	mu    sync.Mutex
	execs map[string]Exec // "<alloc>/<task>" of running tasks
	// restarts restart running tasks for group checks' check_restart.
	restarts map[string]func(ctx context.Context, why string)
}

// NewManager returns a manager over catalog; run its Registrar.
func NewManager(catalog Catalog, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{Registrar: NewRegistrar(catalog, logger), Checks: NewStore(), logger: logger,
		execs: map[string]Exec{}, restarts: map[string]func(context.Context, string){}}
}

func (m *Manager) setExec(allocID, task string, e Exec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e == nil {
		delete(m.execs, allocID+"/"+task)
	} else {
		m.execs[allocID+"/"+task] = e
	}
}

func (m *Manager) exec(allocID, task string) Exec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.execs[allocID+"/"+task]
}

func (m *Manager) setRestart(allocID, task string, f func(context.Context, string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f == nil {
		delete(m.restarts, allocID+"/"+task)
	} else {
		m.restarts[allocID+"/"+task] = f
	}
}

// restartTask restarts a running task of an allocation (a group check's
// check_restart), or every running task of it when task is "" (a group
// check without a task); a task not running has nothing to restart.
func (m *Manager) restartTask(ctx context.Context, allocID, task, why string) {
	m.mu.Lock()
	var fs []func(context.Context, string)
	for key, f := range m.restarts {
		if task != "" && key == allocID+"/"+task || task == "" && strings.HasPrefix(key, allocID+"/") {
			fs = append(fs, f)
		}
	}
	m.mu.Unlock()
	for _, f := range fs {
		f(ctx, why)
	}
}

// checkSet is the running checks of one owner (a task or the group).
type checkSet struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ids     []string
	regIDs  []string
	allocID string
}

// startChecks starts a runner for every check of insts. restart restarts
// the check's task for check_restart.
func (m *Manager) startChecks(alloc *structs.Allocation, insts []*Instance, node *structs.Node,
	ports []structs.AllocatedPort, allocIP string, restart func(ctx context.Context, task, why string)) (*checkSet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	set := &checkSet{cancel: cancel, allocID: alloc.ID}
	allocChecks := m.Checks.Alloc(alloc.ID)
	var runners []*checkRunner
	for _, inst := range insts {
		set.regIDs = append(set.regIDs, inst.Reg.ID)
		for _, c := range inst.Service.Checks {
			r, err := m.newRunner(alloc, inst, c, node, ports, allocIP, allocChecks, restart)
			if err != nil {
				cancel()
				allocChecks.remove(set.ids)
				return nil, err
			}
			set.ids = append(set.ids, r.id)
			runners = append(runners, r)
		}
	}
	for _, r := range runners {
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			r.run(ctx)
		}()
	}
	return set, nil
}

func (m *Manager) newRunner(alloc *structs.Allocation, inst *Instance, c *structs.ServiceCheck, node *structs.Node,
	ports []structs.AllocatedPort, allocIP string, allocChecks *AllocChecks, restart func(context.Context, string, string)) (*checkRunner, error) {
	check := *c
	check.Name = checkName(c, inst.Service.Name)
	task := checkTask(&check, inst)
	addr := ""
	if check.Type != CheckScript {
		a, err := checkAddress(&check, inst, node, ports, allocIP)
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", check.Name, err)
		}
		addr = a
	}
	p, err := newProbe(&check, addr, func() Exec { return m.exec(alloc.ID, task) })
	if err != nil {
		return nil, err
	}
	mode, ignWarn := checkMode(&check, inst.Service)
	id := CheckID(alloc.ID, alloc.TaskGroup, inst.Task, inst.Service.Name, check.Name)
	r := &checkRunner{
		id: id, check: &check, regID: inst.Reg.ID, ignWarn: ignWarn, probe: p, state: newCheckState(&check),
		allocs: allocChecks, changed: m.healthChanged(allocChecks),
		interval: max(check.Interval, minCheckInterval), timeout: check.Timeout,
		result: structs.CheckQueryResult{ID: id, Mode: mode, Group: alloc.TaskGroup, Task: task,
			Service: inst.Service.Name, Check: check.Name},
	}
	if check.Interval == 0 {
		r.interval = defaultCheckInterval
	}
	if r.timeout <= 0 {
		r.timeout = defaultCheckTimeout
	}
	if cr := check.CheckRestart; cr != nil && cr.Limit > 0 {
		r.restart = &restarter{limit: cr.Limit, grace: cr.Grace, ignoreWarnings: cr.IgnoreWarnings, started: time.Now(),
			restart: func(ctx context.Context, why string) { restart(ctx, task, why) }}
	}
	first := r.result
	first.Status, first.Timestamp = apiStatus(r.state.status), time.Now().Unix()
	allocChecks.add(id, inst.Reg.ID, &first, r.state.status, ignWarn)
	return r, nil
}

// healthChanged refreshes a registration's Status after one of its
// checks changed health.
func (m *Manager) healthChanged(ac *AllocChecks) func(regID string) {
	return func(regID string) {
		reg := m.Registrar.Get(regID)
		if reg == nil {
			return
		}
		if st := ac.serviceHealth(regID); st != reg.Status {
			reg.Status = st
			m.Registrar.Set(reg)
		}
	}
}

// stop ends the checks and forgets their results.
func (s *checkSet) stop(m *Manager) {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	m.Checks.Alloc(s.allocID).remove(s.ids)
}

// register sends insts to the registrar with their checks' current health.
func (m *Manager) register(alloc *structs.Allocation, insts []*Instance) {
	ac := m.Checks.Alloc(alloc.ID)
	regs := make([]*structs.ServiceRegistration, 0, len(insts))
	for _, inst := range insts {
		reg := inst.Reg.Copy()
		reg.Status = ac.serviceHealth(reg.ID)
		regs = append(regs, reg)
	}
	m.Registrar.Set(regs...)
}

// deregister removes instances and waits (bounded) for the servers to
// have dropped them.
func (m *Manager) deregister(ctx context.Context, regIDs []string) {
	if len(regIDs) == 0 {
		return
	}
	m.Registrar.Remove(regIDs...)
	ctx, cancel := context.WithTimeout(ctx, deregisterWait)
	defer cancel()
	if err := m.Registrar.Flush(ctx); err != nil {
		m.logger.Warn("services not yet deregistered from the servers; they will be", "error", err)
	}
}

// checkTask is the task a check runs in and restarts: its service's task
// for a task service; for a group service the check's task, else the
// service's.
func checkTask(c *structs.ServiceCheck, inst *Instance) string {
	switch {
	case inst.Task != "":
		return inst.Task
	case c.TaskName != "":
		return c.TaskName
	}
	return inst.Service.TaskName
}

// ---------------------------------------------------------------------------
// Task services

// TaskHook builds the hook of a task's services and of the group script
// checks that run in it. Every task gets one: an in-place update may give
// a task services (or a group script check to run) it had none of.
func (m *Manager) TaskHook(cfg *hooks.TaskHookConfig) hooks.Hook {
	return &taskHook{m: m, cfg: cfg, services: cfg.Task.Services}
}

// taskHook registers a task's services while it runs, runs their checks,
// and lends the task to script checks.
type taskHook struct {
	m   *Manager
	cfg *hooks.TaskHookConfig

	mu       sync.Mutex
	services []*structs.Service // the task's, as of the latest version
	alloc    *structs.Allocation
	env      *taskenv.Env
	ports    []structs.AllocatedPort
	allocIP  string // the allocation's address (bridge, cni), "" in host mode
	insts    []*Instance
	checks   *checkSet
}

func (h *taskHook) Name() string { return "services" }

// Poststart registers the services of the task now running (or found
// running after an agent restart) and starts their checks.
func (h *taskHook) Poststart(ctx context.Context, req *hooks.TaskPoststartRequest) error {
	if ex, ok := h.cfg.Driver.(drivers.Execer); ok && req.Handle != nil {
		taskID := req.Handle.Config.ID
		h.m.setExec(h.cfg.Alloc.ID, h.cfg.Task.Name, func(ctx context.Context, r *drivers.ExecRequest) (int, error) {
			return ex.ExecTask(ctx, taskID, r)
		})
	}
	h.m.setRestart(h.cfg.Alloc.ID, h.cfg.Task.Name, h.restartSelf)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alloc, h.env, h.ports = req.Alloc, req.TaskEnv, req.Ports
	h.allocIP = ""
	if req.Network != nil {
		h.allocIP = req.Network.Address
	}
	return h.start()
}

// start (re)builds the instances and starts their checks; h.mu held.
func (h *taskHook) start() error {
	node := h.cfg.NodeInfo.Node
	insts, err := Build(h.alloc, h.cfg.Task.Name, h.services, h.env, node, h.ports, h.allocIP)
	if err != nil {
		return err
	}
	checks, err := h.m.startChecks(h.alloc, insts, node, h.ports, h.allocIP, func(ctx context.Context, _, why string) { h.restartSelf(ctx, why) })
	if err != nil {
		return err
	}
	h.insts, h.checks = insts, checks
	h.m.register(h.alloc, insts)
	return nil
}

// restartSelf is check_restart's action: a failure restart through the
// task's restart policy.
func (h *taskHook) restartSelf(ctx context.Context, why string) {
	ev := &structs.TaskEvent{Type: structs.TaskRestartSignal, Time: time.Now().UnixNano(), RestartReason: why,
		DisplayMessage: why}
	if err := h.cfg.Lifecycle.Restart(ctx, ev, true); err != nil && !errors.Is(err, hooks.ErrTaskNotRunning) {
		h.cfg.Logger.Warn("check_restart could not restart the task", "error", err)
	}
}

// Update re-registers with the newer allocation (a canary promoted, a
// service block changed in place).
func (h *taskHook) Update(ctx context.Context, req *hooks.TaskUpdateRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if tg := req.Alloc.Job.LookupTaskGroup(req.Alloc.TaskGroup); tg != nil {
		if t := tg.LookupTask(h.cfg.Task.Name); t != nil {
			h.services = t.Services
		}
	}
	if h.insts == nil {
		return nil // not running: the next start uses the new version
	}
	insts, err := Build(req.Alloc, h.cfg.Task.Name, h.services, req.TaskEnv, h.cfg.NodeInfo.Node, h.ports, h.allocIP)
	if err != nil {
		return err
	}
	h.alloc, h.env = req.Alloc, req.TaskEnv
	if !sameChecks(h.insts, insts) {
		// Instances or checks changed: drop the ones gone, restart the
		// checks with the new set.
		h.checks.stop(h.m)
		h.checks = nil
		h.m.deregister(ctx, goneIDs(h.insts, insts))
		h.insts = nil
		return h.start()
	}
	h.insts = insts
	h.m.register(req.Alloc, insts)
	return nil
}

// sameChecks reports whether two builds of a set of services have the
// same instances with the same checks, so running checks can stay (tags
// and meta may differ).
func sameChecks(a, b []*Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Reg.ID != y.Reg.ID || x.Reg.Address != y.Reg.Address || x.Reg.Port != y.Reg.Port ||
			x.Service.OnUpdate != y.Service.OnUpdate || x.Service.TaskName != y.Service.TaskName ||
			!reflect.DeepEqual(x.Service.Checks, y.Service.Checks) {
			return false
		}
	}
	return true
}

// goneIDs lists the registrations of old that new does not have.
func goneIDs(old, new []*Instance) []string {
	keep := map[string]bool{}
	for _, inst := range new {
		keep[inst.Reg.ID] = true
	}
	var gone []string
	for _, inst := range old {
		if !keep[inst.Reg.ID] {
			gone = append(gone, inst.Reg.ID)
		}
	}
	return gone
}

// Exited deregisters the task's services when its process ends; they come
// back with its next start.
func (h *taskHook) Exited(ctx context.Context, req *hooks.TaskExitedRequest) error {
	h.m.setExec(h.cfg.Alloc.ID, h.cfg.Task.Name, nil)
	h.m.setRestart(h.cfg.Alloc.ID, h.cfg.Task.Name, nil)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(ctx, true)
	return nil
}

// PreKill deregisters before the task's shutdown delay and kill.
func (h *taskHook) PreKill(ctx context.Context, req *hooks.TaskPreKillRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(ctx, true)
}

// Stop is the end of the task.
func (h *taskHook) Stop(ctx context.Context, req *hooks.TaskStopRequest) error {
	h.m.setExec(h.cfg.Alloc.ID, h.cfg.Task.Name, nil)
	h.m.setRestart(h.cfg.Alloc.ID, h.cfg.Task.Name, nil)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(ctx, true)
	return nil
}

// Shutdown leaves the task running for the next agent: checks stop here,
// registrations stay; the next agent re-registers on re-attach.
func (h *taskHook) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked(context.Background(), false)
}

func (h *taskHook) stopLocked(ctx context.Context, deregister bool) {
	h.checks.stop(h.m)
	h.checks = nil
	if deregister && h.insts != nil {
		ids := make([]string, 0, len(h.insts))
		for _, inst := range h.insts {
			ids = append(ids, inst.Reg.ID)
		}
		h.m.deregister(ctx, ids)
	}
	h.insts = nil
}

// ---------------------------------------------------------------------------
// Group services

// AllocHook builds the hook of a group's services. Every allocation gets
// one: an in-place update may give a group services it had none of.
func (m *Manager) AllocHook(cfg *hooks.AllocHookConfig) hooks.Hook {
	return &groupHook{m: m, cfg: cfg}
}

// groupHook registers a group's services for the allocation's life, from
// before its tasks start (as Nomad does) until it stops.
type groupHook struct {
	m   *Manager
	cfg *hooks.AllocHookConfig

	mu      sync.Mutex
	running bool   // between Prerun and the stop
	allocIP string // the allocation's address (bridge, cni), "" in host mode
	insts   []*Instance
	checks  *checkSet
}

func (h *groupHook) Name() string { return "group_services" }

func (h *groupHook) build(alloc *structs.Allocation) ([]*Instance, error) {
	tg := alloc.Job.LookupTaskGroup(alloc.TaskGroup)
	if tg == nil || len(tg.Services) == 0 {
		return nil, nil
	}
	env := taskenv.Build(h.cfg.NodeInfo, alloc, &structs.Task{}, taskenv.Dirs{})
	return Build(alloc, "", tg.Services, env, h.cfg.NodeInfo.Node, allocPorts(alloc), h.allocIP)
}

func allocPorts(a *structs.Allocation) []structs.AllocatedPort {
	if a.AllocatedResources == nil {
		return nil
	}
	return a.AllocatedResources.Shared.Ports
}

// Prerun registers the group's services and starts their checks.
func (h *groupHook) Prerun(ctx context.Context, req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running = true
	if req.Network != nil {
		h.allocIP = req.Network.Address
	}
	return h.start(req.Alloc)
}

// start builds the instances and starts their checks; h.mu held.
func (h *groupHook) start(alloc *structs.Allocation) error {
	insts, err := h.build(alloc)
	if err != nil {
		return err
	}
	allocID := alloc.ID
	checks, err := h.m.startChecks(alloc, insts, h.cfg.NodeInfo.Node, allocPorts(alloc), h.allocIP,
		func(ctx context.Context, task, why string) { h.m.restartTask(ctx, allocID, task, why) })
	if err != nil {
		return err
	}
	h.insts, h.checks = insts, checks
	h.m.register(alloc, insts)
	return nil
}

// Update re-registers with the newer allocation (a canary promoted, a
// service block changed in place).
func (h *groupHook) Update(ctx context.Context, req *hooks.AllocUpdateRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return nil
	}
	insts, err := h.build(req.Alloc)
	if err != nil {
		return err
	}
	if !sameChecks(h.insts, insts) {
		h.checks.stop(h.m)
		h.checks = nil
		h.m.deregister(ctx, goneIDs(h.insts, insts))
		h.insts = nil
		return h.start(req.Alloc)
	}
	h.insts = insts
	h.m.register(req.Alloc, insts)
	return nil
}

// PreKill deregisters before the group's shutdown delay and the kill.
func (h *groupHook) PreKill(ctx context.Context, req *hooks.AllocPreKillRequest) {
	h.stop(ctx)
}

// Postrun deregisters once every task is dead (if PreKill did not).
func (h *groupHook) Postrun(ctx context.Context, req *hooks.AllocPostrunRequest) error {
	h.stop(ctx)
	return nil
}

// Destroy forgets the allocation's check results.
func (h *groupHook) Destroy(ctx context.Context) error {
	h.stop(ctx)
	h.m.Checks.Forget(h.cfg.Alloc.ID)
	return nil
}

func (h *groupHook) stop(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running = false
	h.checks.stop(h.m)
	h.checks = nil
	if h.insts == nil {
		return
	}
	ids := make([]string, 0, len(h.insts))
	for _, inst := range h.insts {
		ids = append(ids, inst.Reg.ID)
	}
	h.insts = nil
	h.m.deregister(ctx, ids)
}
