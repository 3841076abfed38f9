package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// recorder collects the stages hooks saw, across hooks, in call order.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) count(s string) int {
	n := 0
	for _, c := range r.list() {
		if c == s {
			n++
		}
	}
	return n
}

// stageHook implements every task stage and records each call; its
// Prestart behaviour is configurable.
type stageHook struct {
	name     string
	rec      *recorder
	prestart func(req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error
	cfg      *hooks.TaskHookConfig
	started  chan *hooks.TaskPoststartRequest
}

func (h *stageHook) Name() string { return h.name }

func (h *stageHook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	h.rec.add(h.name + ".prestart")
	if h.prestart != nil {
		return h.prestart(req, resp)
	}
	return nil
}

func (h *stageHook) Poststart(_ context.Context, req *hooks.TaskPoststartRequest) error {
	h.rec.add(h.name + ".poststart")
	if h.started != nil {
		h.started <- req
	}
	return nil
}

func (h *stageHook) Exited(context.Context, *hooks.TaskExitedRequest) error {
	h.rec.add(h.name + ".exited")
	return nil
}

func (h *stageHook) PreKill(context.Context, *hooks.TaskPreKillRequest) {
	h.rec.add(h.name + ".prekill")
}

func (h *stageHook) Stop(context.Context, *hooks.TaskStopRequest) error {
	h.rec.add(h.name + ".stop")
	return nil
}

func (h *stageHook) Shutdown() { h.rec.add(h.name + ".shutdown") }

func (h *stageHook) Update(context.Context, *hooks.TaskUpdateRequest) error {
	h.rec.add(h.name + ".update")
	return nil
}

func factoryOf(h *stageHook) hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		h.cfg = cfg
		return h
	}
}

func newTRHooks(t *testing.T, alloc *structs.Allocation, d drivers.Driver, db *state.DB, root string,
	restored *state.TaskLocal, hs ...hooks.TaskHookFactory) *trFixture {
	t.Helper()
	changed := make(chan struct{}, 1)
	dir := NewAllocDir(root, alloc.ID)
	tr := NewTaskRunner(TaskRunnerConfig{
		Alloc: alloc, Task: alloc.Job.TaskGroups[0].Tasks[0], Driver: d, AllocDir: dir,
		NodeInfo: testNodeInfo(), DB: db, Restored: restored, Hooks: hs,
		OnStateChange: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	go tr.Run(ctx)
	f := &trFixture{tr: tr, changed: changed, dir: dir, cancel: cancel}
	t.Cleanup(func() {
		tr.Kill("test over")
		<-tr.Done()
		cancel()
	})
	return f
}

func waitDead(t *testing.T, f *trFixture) *structs.TaskState {
	t.Helper()
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	<-f.tr.Done()
	return f.tr.State()
}

func noRestarts() *structs.RestartPolicy {
	return &structs.RestartPolicy{Attempts: 0, Interval: time.Hour, Mode: structs.RestartPolicyModeFail}
}

// TestTaskHookStagesInOrder: a batch task that exits runs Prestart,
// Poststart, Exited, Stop; a service task that is killed also runs
// PreKill before it dies.
func TestTaskHookStagesInOrder(t *testing.T) {
	rec := &recorder{}
	a := &stageHook{name: "a", rec: rec}
	b := &stageHook{name: "b", rec: rec}
	alloc := testAlloc(structs.JobTypeBatch, nil, shTask("t", "exit 0"))
	f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(a), factoryOf(b))
	if st := waitDead(t, f); st.Failed {
		t.Fatalf("state %+v", st)
	}
	want := []string{"a.prestart", "b.prestart", "a.poststart", "b.poststart", "a.exited", "b.exited", "a.stop", "b.stop"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Fatalf("stages %v, want %v", got, want)
	}

	rec2 := &recorder{}
	c := &stageHook{name: "c", rec: rec2, started: make(chan *hooks.TaskPoststartRequest, 1)}
	svc := testAlloc(structs.JobTypeService, noRestarts(), shTask("svc", "while :; do sleep 0.05; done"))
	f2 := newTRHooks(t, svc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(c))
	req := <-c.started
	if req.Handle == nil || req.Reattached || req.TaskEnv == nil {
		t.Fatalf("poststart request %+v", req)
	}
	f2.tr.Kill("test")
	waitDead(t, f2)
	want = []string{"c.prestart", "c.poststart", "c.prekill", "c.exited", "c.stop"}
	if got := rec2.list(); !slices.Equal(got, want) {
		t.Fatalf("stages %v, want %v", got, want)
	}
}

// TestTaskHookEnvReachesTask: a Prestart hook's Env is in the task's
// environment, overrides the job's env block, is visible to later hooks
// and interpolates into the driver config.
func TestTaskHookEnvReachesTask(t *testing.T) {
	rec := &recorder{}
	first := &stageHook{name: "first", rec: rec, prestart: func(_ *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
		resp.Env = map[string]string{"FROM_HOOK": "hooked", "OVERRIDDEN": "by-hook"}
		return nil
	}}
	var seen string
	second := &stageHook{name: "second", rec: rec, prestart: func(req *hooks.TaskPrestartRequest, _ *hooks.TaskPrestartResponse) error {
		seen, _ = req.TaskEnv.Get("FROM_HOOK")
		return nil
	}}
	task := shTask("t", `echo "$FROM_HOOK $OVERRIDDEN $1"`)
	task.Config["args"] = []any{"-c", `echo "$FROM_HOOK $OVERRIDDEN $0"`, "${FROM_HOOK}-arg"}
	task.Env = map[string]string{"OVERRIDDEN": "by-job"}
	alloc := testAlloc(structs.JobTypeBatch, nil, task)
	f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(first), factoryOf(second))
	if st := waitDead(t, f); st.Failed {
		t.Fatalf("state %+v", st)
	}
	if got, want := readLog(t, f.dir.LogDir(), "t.stdout.0"), "hooked by-hook hooked-arg\n"; got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if seen != "hooked" {
		t.Fatalf("later hook saw FROM_HOOK=%q", seen)
	}
}

// TestTaskHookDoneSurvivesAgentRestart: a hook that marked itself done is
// not called again by the next agent, and what it contributed still
// reaches the task; its data is persisted too.
func TestTaskHookDoneSurvivesAgentRestart(t *testing.T) {
	db, root := openDB(t)
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 500 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	out := filepath.Join(t.TempDir(), "out")
	alloc := testAlloc(structs.JobTypeService, policy, shTask("t", fmt.Sprintf(`echo "$FETCHED" >> %s; exit 1`, out)))
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	fetch := func() *stageHook {
		return &stageHook{name: "fetch", rec: rec, prestart: func(req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
			resp.Env = map[string]string{"FETCHED": "once"}
			resp.Data = map[string]string{"etag": "v1"}
			resp.Done = true
			return nil
		}}
	}
	allocRoot, stateDir := filepath.Join(root, "alloc"), filepath.Join(root, "drivers")
	f1 := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), db, allocRoot, nil, factoryOf(fetch()))
	waitUntil(t, "restart pending", f1.changed, func() bool {
		s := f1.tr.State()
		return s.State == structs.TaskStatePending && s.Restarts == 1
	})
	f1.cancel()
	<-f1.tr.Done()
	if n := rec.count("fetch.prestart"); n != 1 {
		t.Fatalf("prestart called %d times before the restart", n)
	}
	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 {
		t.Fatalf("allocs %v %v", allocs, err)
	}
	tl := allocs[0].Tasks["t"]
	hs := tl.Hooks["fetch"]
	if hs == nil || !hs.Done || hs.Data["etag"] != "v1" || hs.Env["FETCHED"] != "once" {
		t.Fatalf("persisted hook state %+v", hs)
	}
	f2 := newTRHooks(t, allocs[0].Alloc, rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), db, allocRoot, tl, factoryOf(fetch()))
	waitDead(t, f2)
	if n := rec.count("fetch.prestart"); n != 1 {
		t.Fatalf("done hook's prestart called %d times in all", n)
	}
	b, _ := os.ReadFile(out)
	if got := string(b); got != "once\nonce\n" {
		t.Fatalf("task output over both runs %q", got)
	}
}

// TestTaskHookErrors: a recoverable Prestart error goes through the
// restart policy; a non-recoverable one fails the task at once.
func TestTaskHookErrors(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 2, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	for _, tc := range []struct {
		name         string
		err          error
		restarts     uint64
		prestarts    int
		wantFinalMsg string
	}{
		{"recoverable", errors.New("source unreachable"), 2, 3, "Exceeded allowed attempts 2"},
		{"non-recoverable", drivers.NonRecoverable(errors.New("checksum mismatch")), 0, 1, "Error was unrecoverable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := &stageHook{name: "fetch", rec: rec, prestart: func(*hooks.TaskPrestartRequest, *hooks.TaskPrestartResponse) error {
				return tc.err
			}}
			alloc := testAlloc(structs.JobTypeService, policy, shTask("t", "exit 0"))
			f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(h))
			st := waitDead(t, f)
			if !st.Failed || st.Restarts != tc.restarts || !st.StartedAt.IsZero() {
				t.Fatalf("state %+v events %s", st, eventTypes(st))
			}
			if n := rec.count("fetch.prestart"); n != tc.prestarts {
				t.Fatalf("prestart ran %d times, want %d", n, tc.prestarts)
			}
			last := st.Events[len(st.Events)-1]
			if last.Type != structs.TaskNotRestarting || !strings.Contains(last.DisplayMessage, tc.wantFinalMsg) {
				t.Fatalf("last event %+v", last)
			}
			var setup *structs.TaskEvent
			for _, e := range st.Events {
				if e.Type == structs.TaskSetupFailure {
					setup = e
				}
			}
			if setup == nil || !strings.Contains(setup.DisplayMessage, `prestart hook "fetch" failed: `+tc.err.Error()) {
				t.Fatalf("setup failure event %+v (events %s)", setup, eventTypes(st))
			}
		})
	}
}

// refusingDriver is raw_exec whose Start refuses with a given error, as a
// driver's host policy check does.
type refusingDriver struct {
	*rawexec.Driver
	err    error
	starts int
	mu     sync.Mutex
}

func (d *refusingDriver) Start(context.Context, *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	d.mu.Lock()
	d.starts++
	d.mu.Unlock()
	return nil, d.err
}

// TestDriverNonRecoverableFailsAtOnce: a driver's non-recoverable refusal
// fails the task without a restart; any other start error is retried.
func TestDriverNonRecoverableFailsAtOnce(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 2, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	for _, tc := range []struct {
		err    error
		starts int
	}{
		{drivers.NonRecoverable(errors.New("user root is denied")), 1},
		{errors.New("image pull timed out"), 3},
	} {
		d := &refusingDriver{Driver: rawexec.New(rawexec.Config{Enabled: true}), err: tc.err}
		alloc := testAlloc(structs.JobTypeService, policy, shTask("t", "exit 0"))
		f := newTRHooks(t, alloc, d, nil, t.TempDir(), nil)
		st := waitDead(t, f)
		d.mu.Lock()
		starts := d.starts
		d.mu.Unlock()
		if !st.Failed || starts != tc.starts {
			t.Fatalf("%v: failed=%v after %d starts, want %d (events %s)", tc.err, st.Failed, starts, tc.starts, eventTypes(st))
		}
	}
}

// TestTaskLifecycleRestartSignalKill: hooks restart the running task (at
// once, not counted by the policy, unless it is a failure restart), signal
// it, and kill it as failed.
func TestTaskLifecycleRestartSignalKill(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "hup")
	runs := filepath.Join(dir, "runs")
	script := fmt.Sprintf(`trap 'echo hup > %s' HUP; echo run >> %s; while :; do sleep 0.05; done`, marker, runs)
	// A restart policy with an hour's delay: a non-failure restart must
	// not wait for it.
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: time.Hour, Mode: structs.RestartPolicyModeFail}
	rec := &recorder{}
	h := &stageHook{name: "tmpl", rec: rec, started: make(chan *hooks.TaskPoststartRequest, 4)}
	alloc := testAlloc(structs.JobTypeService, policy, shTask("t", script))
	f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(h))
	<-h.started
	// The first run must be under way before it is restarted.
	waitUntil(t, "first run", f.changed, func() bool {
		b, _ := os.ReadFile(runs)
		return string(b) == "run\n"
	})
	ctx := context.Background()
	if err := h.cfg.Lifecycle.Restart(ctx, &structs.TaskEvent{Type: structs.TaskRestartSignal,
		DisplayMessage: "Template with change_mode restart re-rendered"}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.started:
	case <-time.After(15 * time.Second):
		t.Fatalf("not restarted; events %s", eventTypes(f.tr.State()))
	}
	st := f.tr.State()
	if st.Restarts != 1 || st.State != structs.TaskStateRunning {
		t.Fatalf("after restart: %+v events %s", st, eventTypes(st))
	}
	if !strings.Contains(eventTypes(st), "Restart Signaled") {
		t.Fatalf("events %s", eventTypes(st))
	}
	if n := rec.count("tmpl.prekill"); n != 1 {
		t.Fatalf("prekill ran %d times for the restart", n)
	}
	waitUntil(t, "second run", f.changed, func() bool {
		b, _ := os.ReadFile(runs)
		return string(b) == "run\nrun\n"
	})

	if err := h.cfg.Lifecycle.Signal(nil, "SIGHUP"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "signal handled", f.changed, func() bool {
		b, _ := os.ReadFile(marker)
		return string(b) == "hup\n"
	})

	h.cfg.Lifecycle.Kill(&structs.TaskEvent{Type: structs.TaskKilling, FailsTask: true,
		DisplayMessage: "Template failed: missing key"})
	st = waitDead(t, f)
	if !st.Failed {
		t.Fatalf("killed as failed but state %+v events %s", st, eventTypes(st))
	}
	if err := h.cfg.Lifecycle.Restart(ctx, nil, false); !errors.Is(err, hooks.ErrTaskNotRunning) {
		t.Fatalf("restart of a dead task: %v", err)
	}
}

// TestTaskLifecycleFailureRestartCounts: a failure restart (check_restart)
// counts against the restart policy and fails the task when exhausted.
func TestTaskLifecycleFailureRestartCounts(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	rec := &recorder{}
	h := &stageHook{name: "check", rec: rec, started: make(chan *hooks.TaskPoststartRequest, 4)}
	alloc := testAlloc(structs.JobTypeService, policy, shTask("t", "while :; do sleep 0.05; done"))
	f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil, factoryOf(h))
	for i := 0; i < 2; i++ {
		select {
		case <-h.started:
		case <-time.After(15 * time.Second):
			t.Fatalf("start %d missing; events %s", i, eventTypes(f.tr.State()))
		}
		if err := h.cfg.Lifecycle.Restart(context.Background(), nil, true); err != nil {
			t.Fatal(err)
		}
	}
	st := waitDead(t, f)
	if !st.Failed || st.Restarts != 1 {
		t.Fatalf("state %+v events %s", st, eventTypes(st))
	}
}

// TestTaskShutdownDelay: a killed task gets its PreKill hooks first, then
// its shutdown_delay, then its kill signal; a stop asking for no delay
// skips it.
func TestTaskShutdownDelay(t *testing.T) {
	const delay = 700 * time.Millisecond
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			dir := t.TempDir()
			termAt, ready := filepath.Join(dir, "term"), filepath.Join(dir, "ready")
			task := shTask("t", fmt.Sprintf(`trap 'date +%%s%%N > %s; exit 0' TERM; touch %s; while :; do sleep 0.02; done`, termAt, ready))
			task.ShutdownDelay = delay
			alloc := testAlloc(structs.JobTypeService, noRestarts(), task)
			rec := &recorder{}
			var prekillAt time.Time
			h := &stageHook{name: "services", rec: rec, started: make(chan *hooks.TaskPoststartRequest, 1)}
			pk := &preKillClock{stageHook: h, at: &prekillAt}
			f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil,
				func(cfg *hooks.TaskHookConfig) hooks.Hook { h.cfg = cfg; return pk })
			<-h.started
			waitUntil(t, "trap set", f.changed, func() bool { _, err := os.Stat(ready); return err == nil })
			if skip {
				f.tr.noShutdownDelay.Store(true)
			}
			f.tr.Kill("stop")
			st := waitDead(t, f)
			b, err := os.ReadFile(termAt)
			if err != nil {
				t.Fatalf("task never got its signal: %v", err)
			}
			var ns int64
			fmt.Sscan(string(b), &ns)
			gap := time.Unix(0, ns).Sub(prekillAt)
			types := eventTypes(st)
			if skip {
				if gap >= delay || !strings.Contains(types, structs.TaskSkippingShutdownDelay) {
					t.Fatalf("delay not skipped: signal %s after prekill; events %s", gap, types)
				}
				return
			}
			if gap < delay {
				t.Fatalf("signal %s after the prekill hook, want >= %s", gap, delay)
			}
			if !strings.Contains(types, structs.TaskWaitingShuttingDownDelay) {
				t.Fatalf("events %s", types)
			}
		})
	}
}

// preKillClock records when its PreKill ran.
type preKillClock struct {
	*stageHook
	at *time.Time
}

func (p *preKillClock) PreKill(ctx context.Context, req *hooks.TaskPreKillRequest) {
	*p.at = time.Now()
	p.stageHook.PreKill(ctx, req)
}
