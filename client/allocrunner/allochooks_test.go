package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// newARWith runs an alloc runner built from cfg, filling in the test
// defaults (raw_exec, a temp alloc root, status capture).
func newARWith(t *testing.T, cfg Config) *arFixture {
	t.Helper()
	f := &arFixture{changed: make(chan struct{}, 1)}
	if cfg.AllocRoot == "" {
		cfg.AllocRoot = t.TempDir()
	}
	if cfg.Drivers == nil {
		cfg.Drivers = map[string]drivers.Driver{"raw_exec": rawexec.New(rawexec.Config{Enabled: true})}
	}
	cfg.NodeInfo = testNodeInfo()
	cfg.OnUpdate = func(a *structs.Allocation) {
		f.mu.Lock()
		f.updates = append(f.updates, a)
		f.mu.Unlock()
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
	ar, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.ar = ar
	ctx, cancel := context.WithCancel(context.Background())
	go ar.Run(ctx)
	t.Cleanup(func() {
		ar.KillNoDelay()
		<-ar.Done()
		cancel()
	})
	return f
}

func (f *arFixture) waitStatus(t *testing.T, status string) *structs.Allocation {
	t.Helper()
	waitUntil(t, "alloc "+status, f.changed, func() bool {
		a := f.last()
		return a != nil && a.ClientStatus == status
	})
	return f.last()
}

func waitDone(t *testing.T, ar *AllocRunner) {
	t.Helper()
	select {
	case <-ar.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("alloc runner did not finish")
	}
}

// allocStageHook records every alloc stage.
type allocStageHook struct {
	name   string
	rec    *recorder
	prerun func(req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error
	cfg    *hooks.AllocHookConfig
}

func (h *allocStageHook) Name() string { return h.name }

func (h *allocStageHook) Prerun(_ context.Context, req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
	h.rec.add(h.name + ".prerun")
	if h.prerun != nil {
		return h.prerun(req, resp)
	}
	return nil
}

func (h *allocStageHook) Update(_ context.Context, req *hooks.AllocUpdateRequest) error {
	h.rec.add(h.name + ".update:" + req.Alloc.DesiredDescription)
	return nil
}

func (h *allocStageHook) PreKill(context.Context, *hooks.AllocPreKillRequest) {
	h.rec.add(h.name + ".prekill")
}

func (h *allocStageHook) Postrun(_ context.Context, req *hooks.AllocPostrunRequest) error {
	h.rec.add(h.name + ".postrun:" + req.ClientStatus)
	return nil
}

func (h *allocStageHook) Destroy(context.Context) error {
	h.rec.add(h.name + ".destroy")
	return nil
}

func allocFactory(h *allocStageHook) hooks.AllocHookFactory {
	return func(cfg *hooks.AllocHookConfig) hooks.Hook {
		h.cfg = cfg
		return h
	}
}

// TestAllocHookStagesInOrder: Prerun before any task hook, Update on a
// newer allocation (for the task hooks too), PreKill before the tasks'
// PreKill, Postrun once they are dead, Destroy last; and the alloc dir is
// gone after Destroy.
func TestAllocHookStagesInOrder(t *testing.T) {
	rec := &recorder{}
	ah := &allocStageHook{name: "alloc", rec: rec}
	th := &stageHook{name: "task", rec: rec, started: make(chan *hooks.TaskPoststartRequest, 1)}
	alloc := testAlloc(structs.JobTypeService, noRestarts(), shTask("svc", "while :; do sleep 0.05; done"))
	f := newARWith(t, Config{Alloc: alloc, AllocHooks: []hooks.AllocHookFactory{allocFactory(ah)},
		TaskHooks: []hooks.TaskHookFactory{factoryOf(th)}})
	<-th.started
	upd := alloc.Copy()
	upd.DesiredDescription = "v2"
	f.ar.Update(upd)
	waitUntil(t, "update hooks", f.changed, func() bool { return rec.count("task.update") == 1 })
	stop := upd.Copy()
	stop.DesiredStatus = structs.AllocDesiredStatusStop
	stop.DesiredDescription = "stop"
	f.ar.Update(stop)
	waitDone(t, f.ar)
	if _, err := os.Stat(f.ar.Dir()); err != nil {
		t.Fatalf("alloc dir before destroy: %v", err)
	}
	if err := f.ar.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.ar.Dir()); !os.IsNotExist(err) {
		t.Fatalf("alloc dir after destroy: %v", err)
	}
	got := rec.list()
	// Updates run off the runner's goroutine; check them apart.
	var main []string
	for _, c := range got {
		if !strings.Contains(c, "update") {
			main = append(main, c)
		}
	}
	want := []string{"alloc.prerun", "task.prestart", "task.poststart", "alloc.prekill", "task.prekill", "task.exited",
		"task.stop", "alloc.postrun:complete", "alloc.destroy"}
	if !slices.Equal(main, want) {
		t.Fatalf("stages %v, want %v (all: %v)", main, want, got)
	}
	if !slices.Contains(got, "alloc.update:v2") {
		t.Fatalf("alloc update hook missed v2: %v", got)
	}
}

// TestAllocPrerunFailureFailsAlloc: a failed Prerun hook fails the
// allocation with its reason, and no task starts.
func TestAllocPrerunFailureFailsAlloc(t *testing.T) {
	rec := &recorder{}
	ah := &allocStageHook{name: "net", rec: rec, prerun: func(*hooks.AllocPrerunRequest, *hooks.AllocPrerunResponse) error {
		return errors.New("no bridge")
	}}
	th := &stageHook{name: "task", rec: rec}
	alloc := testAlloc(structs.JobTypeService, nil, shTask("a", "exit 0"), shTask("b", "exit 0"))
	f := newARWith(t, Config{Alloc: alloc, AllocHooks: []hooks.AllocHookFactory{allocFactory(ah)},
		TaskHooks: []hooks.TaskHookFactory{factoryOf(th)}})
	waitDone(t, f.ar)
	final := f.last()
	if final.ClientStatus != structs.AllocClientStatusFailed {
		t.Fatalf("status %s", final.ClientStatus)
	}
	for _, n := range []string{"a", "b"} {
		st := final.TaskStates[n]
		last := st.Events[len(st.Events)-1]
		if !st.Failed || !st.StartedAt.IsZero() || last.Type != structs.TaskSetupFailure ||
			!strings.Contains(last.DisplayMessage, `prerun hook "net" failed: no bridge`) {
			t.Fatalf("task %s: %+v last event %+v", n, st, last)
		}
	}
	if n := rec.count("task.prestart"); n != 0 {
		t.Fatalf("task hooks ran %d times", n)
	}
	if !slices.Contains(rec.list(), "net.postrun:failed") {
		t.Fatalf("postrun did not run: %v", rec.list())
	}
}

// capturingDriver is raw_exec that keeps the TaskConfig it was given.
type capturingDriver struct {
	*rawexec.Driver
	mu  sync.Mutex
	cfg *drivers.TaskConfig
}

func (d *capturingDriver) Start(ctx context.Context, cfg *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	// raw_exec refuses a bind mount and cannot join the fake namespace:
	// this checks only what reaches the driver, so it runs the task plain.
	plain := *cfg
	plain.Mounts, plain.Devices, plain.NetworkIsolation = nil, nil, nil
	return d.Driver.Start(ctx, &plain)
}

// TestHookContributionsReachDriver: an alloc hook's network namespace and
// a task hook's mounts, devices and env arrive in the driver's TaskConfig,
// and the alloc's address reaches Poststart.
func TestHookContributionsReachDriver(t *testing.T) {
	rec := &recorder{}
	spec := &drivers.NetworkIsolationSpec{Mode: drivers.NetIsolationModeGroup, Path: "/var/run/netns/test"}
	ah := &allocStageHook{name: "network", rec: rec, prerun: func(_ *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
		resp.NetworkIsolation = spec
		resp.Network = &hooks.AllocNetworkStatus{InterfaceName: "eth0", Address: "172.26.64.2"}
		return nil
	}}
	mount := &drivers.MountConfig{TaskPath: "/srv", HostPath: "/data/srv", Readonly: true}
	dev := &drivers.DeviceConfig{HostPath: "/dev/null", Permissions: "rw"}
	th := &stageHook{name: "volumes", rec: rec, started: make(chan *hooks.TaskPoststartRequest, 1),
		prestart: func(_ *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
			resp.Mounts = []*drivers.MountConfig{mount}
			resp.Devices = []*drivers.DeviceConfig{dev}
			resp.Env = map[string]string{"DEVICE_IDS": "GPU-1"}
			return nil
		}}
	d := &capturingDriver{Driver: rawexec.New(rawexec.Config{Enabled: true})}
	alloc := testAlloc(structs.JobTypeBatch, nil, shTask("t", "exit 0"))
	f := newARWith(t, Config{Alloc: alloc, Drivers: map[string]drivers.Driver{"raw_exec": d},
		AllocHooks: []hooks.AllocHookFactory{allocFactory(ah)}, TaskHooks: []hooks.TaskHookFactory{factoryOf(th)}})
	req := <-th.started
	waitDone(t, f.ar)
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if cfg.NetworkIsolation != spec || len(cfg.Mounts) != 1 || cfg.Mounts[0] != mount ||
		len(cfg.Devices) != 1 || cfg.Devices[0] != dev || cfg.Env["DEVICE_IDS"] != "GPU-1" {
		t.Fatalf("task config %+v", cfg)
	}
	if req.Network == nil || req.Network.Address != "172.26.64.2" {
		t.Fatalf("poststart network %+v", req.Network)
	}
}

// TestGroupShutdownDelay: a stopped allocation deregisters (PreKill hooks),
// waits its group shutdown_delay and only then signals its tasks; a stop
// with NoShutdownDelay does not wait.
func TestGroupShutdownDelay(t *testing.T) {
	const delay = 700 * time.Millisecond
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("no_shutdown_delay=%v", skip), func(t *testing.T) {
			dir := t.TempDir()
			termAt, ready := filepath.Join(dir, "term"), filepath.Join(dir, "ready")
			task := shTask("web", fmt.Sprintf(`trap 'date +%%s%%N > %s; exit 0' TERM; touch %s; while :; do sleep 0.02; done`, termAt, ready))
			alloc := testAlloc(structs.JobTypeService, noRestarts(), task)
			d := delay
			alloc.Job.TaskGroups[0].ShutdownDelay = &d
			var deregAt time.Time
			var mu sync.Mutex
			dereg := &allocPreKillClock{at: &deregAt, mu: &mu}
			f := newARWith(t, Config{Alloc: alloc, AllocHooks: []hooks.AllocHookFactory{
				func(*hooks.AllocHookConfig) hooks.Hook { return dereg }}})
			f.waitStatus(t, structs.AllocClientStatusRunning)
			waitUntil(t, "trap set", f.changed, func() bool { _, err := os.Stat(ready); return err == nil })
			stop := alloc.Copy()
			stop.DesiredStatus = structs.AllocDesiredStatusStop
			if skip {
				yes := true
				stop.DesiredTransition.NoShutdownDelay = &yes
			}
			f.ar.Update(stop)
			waitDone(t, f.ar)
			b, err := os.ReadFile(termAt)
			if err != nil {
				t.Fatalf("task never got its signal: %v", err)
			}
			var ns int64
			fmt.Sscan(string(b), &ns)
			mu.Lock()
			gap := time.Unix(0, ns).Sub(deregAt)
			mu.Unlock()
			if skip && gap >= delay || !skip && gap < delay {
				t.Fatalf("signal %s after deregistration (delay %s, skipped %v)", gap, delay, skip)
			}
			if st := f.last(); st.ClientStatus != structs.AllocClientStatusComplete {
				t.Fatalf("status %s", st.ClientStatus)
			}
		})
	}
}

type allocPreKillClock struct {
	mu *sync.Mutex
	at *time.Time
}

func (*allocPreKillClock) Name() string { return "services" }

func (c *allocPreKillClock) PreKill(context.Context, *hooks.AllocPreKillRequest) {
	c.mu.Lock()
	*c.at = time.Now()
	c.mu.Unlock()
}

// TestMaxRunDuration: an allocation still running at its group's
// max_run_duration is killed and fails with the reason; one that finishes
// in time completes.
func TestMaxRunDuration(t *testing.T) {
	limit := 400 * time.Millisecond
	long := testAlloc(structs.JobTypeBatch, nil, shTask("long", "exec sleep 60"), shTask("quick", "exit 0"))
	long.Job.TaskGroups[0].MaxRunDuration = &limit
	begin := time.Now()
	f := newARWith(t, Config{Alloc: long})
	waitDone(t, f.ar)
	took := time.Since(begin)
	final := f.last()
	if final.ClientStatus != structs.AllocClientStatusFailed || took < limit || took > 15*time.Second {
		t.Fatalf("status %s after %s", final.ClientStatus, took)
	}
	st := final.TaskStates["long"]
	last := st.Events[len(st.Events)-1]
	if !st.Failed || last.Type != structs.TaskKilled || !strings.Contains(last.DisplayMessage, "max_run_duration of 400ms") {
		t.Fatalf("long task %+v, last event %+v", st, last)
	}
	if q := final.TaskStates["quick"]; q.Failed {
		t.Fatalf("task done in time marked failed: %+v", q)
	}

	short := testAlloc(structs.JobTypeBatch, nil, shTask("t", "exit 0"))
	ample := time.Minute
	short.Job.TaskGroups[0].MaxRunDuration = &ample
	f2 := newARWith(t, Config{Alloc: short})
	waitDone(t, f2.ar)
	if s := f2.last().ClientStatus; s != structs.AllocClientStatusComplete {
		t.Fatalf("in-time alloc %s", s)
	}
}

// TestMaxRunDurationCountsAcrossAgentRestart: the limit counts from when
// the allocation first ran, kept in the hook's persisted state, not from
// the restart of the agent.
func TestMaxRunDurationCountsAcrossAgentRestart(t *testing.T) {
	db, _ := openDB(t)
	limit := time.Minute
	alloc := testAlloc(structs.JobTypeBatch, nil, shTask("t", "exec sleep 60"))
	alloc.Job.TaskGroups[0].MaxRunDuration = &limit
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Hour).Format(time.RFC3339Nano)
	f := newARWith(t, Config{Alloc: alloc, DB: db, Restored: map[string]*state.TaskLocal{},
		RestoredHooks: map[string]*hooks.AllocHookState{"max_run_duration": {Data: map[string]string{"started": started}}}})
	waitDone(t, f.ar)
	if s := f.last().ClientStatus; s != structs.AllocClientStatusFailed {
		t.Fatalf("status %s", s)
	}
	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 || allocs[0].Hooks["max_run_duration"].Data["started"] != started {
		t.Fatalf("persisted hook state %+v %v", allocs, err)
	}
}

// TestRestoredStoppedAllocIsStopped: the agent died while stopping an
// allocation (its task still ran). The next agent restores it with the
// servers' stop already recorded: it kills the task instead of re-attaching
// and keeping it, and never starts it again.
func TestRestoredStoppedAllocIsStopped(t *testing.T) {
	db, root := openDB(t)
	allocRoot, stateDir := filepath.Join(root, "alloc"), filepath.Join(root, "drivers")
	al, pid := detachRunning(t, db, allocRoot, stateDir)
	stopped := al.Alloc.Copy()
	stopped.DesiredStatus = structs.AllocDesiredStatusStop
	if err := db.PutAlloc(stopped); err != nil {
		t.Fatal(err)
	}
	f := newARWith(t, Config{Alloc: stopped, AllocRoot: allocRoot, DB: db, Restored: al.Tasks,
		Drivers: map[string]drivers.Driver{"raw_exec": rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir})}})
	waitDone(t, f.ar)
	st := f.last().TaskStates["svc"]
	started := strings.Count(eventTypes(st), structs.TaskStarted)
	if st.State != structs.TaskStateDead || started != 1 || st.Restarts != 0 {
		t.Fatalf("task %+v, %d starts in all (events %s)", st, started, eventTypes(st))
	}
	if p, _ := strconv.Atoi(pid); p <= 0 || syscall.Kill(p, 0) == nil {
		t.Fatalf("task process %s of the stopped alloc still runs", pid)
	}
}
