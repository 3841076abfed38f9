package template

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// serverSource is the watcher's Source straight on a real server, for the
// node nodeID (the control channel adds only transport and node auth).
type serverSource struct {
	srv    *server.Server
	nodeID string
	calls  sync.Map
}

func (s *serverSource) WatchTemplateData(ctx context.Context, req *structs.TemplateWatchRequest) (*structs.TemplateWatchResponse, error) {
	return s.srv.WatchTemplateData(ctx, s.nodeID, req)
}

// world is a real server with a node and an allocation of job "app" on it.
type world struct {
	srv   *server.Server
	node  *structs.Node
	alloc *structs.Allocation
	w     *Watcher
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := servertest.Server(t)
	node := httpapitest.TestNode("n1", "")
	ctx := context.Background()
	if _, err := srv.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: "app", Name: "app", Namespace: "default", Region: "global", Type: structs.JobTypeService,
		Priority: 50, Datacenters: []string{"dc1"}, TaskGroups: []*structs.TaskGroup{{
			Name: "web", Count: 1, EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10},
			RestartPolicy:    &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: "fail"},
			ReschedulePolicy: &structs.ReschedulePolicy{},
			Tasks: []*structs.Task{{Name: "srv", Driver: "raw_exec", Config: map[string]any{"command": "/bin/sleep", "args": []any{"60"}},
				Resources: &structs.Resources{CPU: 10, MemoryMB: 10}}},
		}}}
	if _, err := srv.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	var alloc *structs.Allocation
	deadline := time.Now().Add(10 * time.Second)
	for alloc == nil {
		if allocs, _ := srv.State().AllocsByJob(nil, "default", "app"); len(allocs) == 1 {
			alloc = allocs[0]
		} else if time.Now().After(deadline) {
			t.Fatal("not placed")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	w := NewWatcher(&serverSource{srv: srv, nodeID: node.ID}, nil)
	wctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go w.Run(wctx)
	return &world{srv: srv, node: node, alloc: alloc, w: w}
}

func (wd *world) putVar(t *testing.T, path string, items map[string]string) {
	t.Helper()
	v := &structs.VariableDecrypted{Items: items}
	v.Namespace, v.Path = "default", path
	if _, _, err := wd.srv.WriteVariable(context.Background(), &structs.VariableWriteRequest{Op: structs.VarOpSet, Var: v}); err != nil {
		t.Fatal(err)
	}
}

func (wd *world) putService(t *testing.T, id string, port int) {
	t.Helper()
	reg := &structs.ServiceRegistration{ID: id, ServiceName: "db", Namespace: "default", NodeID: wd.node.ID,
		JobID: "app", AllocID: wd.alloc.ID, Address: "10.0.0.9", Port: port}
	if _, err := wd.srv.UpsertServiceRegistrations(context.Background(), wd.node.ID, []*structs.ServiceRegistration{reg}); err != nil {
		t.Fatal(err)
	}
}

// lifecycle records what the hook asks of its task.
type lifecycle struct {
	mu       sync.Mutex
	restarts []string
	signals  []string
	killed   *structs.TaskEvent
}

func (l *lifecycle) Restart(ctx context.Context, ev *structs.TaskEvent, failure bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restarts = append(l.restarts, ev.DisplayMessage)
	return nil
}

func (l *lifecycle) Signal(ev *structs.TaskEvent, sig string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signals = append(l.signals, sig)
	return nil
}

func (l *lifecycle) Kill(ev *structs.TaskEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killed = ev
}

func (l *lifecycle) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.restarts), len(l.signals)
}

type taskSetup struct {
	hook *Hook
	lc   *lifecycle
	dir  string
	env  *taskenv.Env
}

func newTaskHook(t *testing.T, wd *world, templates []*structs.Template, driver drivers.Driver) *taskSetup {
	t.Helper()
	root := t.TempDir()
	taskDir := filepath.Join(root, "srv")
	for _, d := range []string{"local", "secrets", "tmp"} {
		if err := os.MkdirAll(filepath.Join(taskDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "alloc"), 0o755); err != nil {
		t.Fatal(err)
	}
	task := &structs.Task{Name: "srv", Driver: "raw_exec", Templates: templates}
	lc := &lifecycle{}
	if driver == nil {
		driver = rawexec.New(rawexec.Config{Enabled: true})
	}
	cfg := &hooks.TaskHookConfig{
		Alloc: wd.alloc, Task: task, Driver: driver, Lifecycle: lc,
		AllocDir: hooks.AllocDir{Root: root, SharedDir: filepath.Join(root, "alloc")},
		TaskDir:  hooks.TaskDir{Dir: taskDir, LocalDir: filepath.Join(taskDir, "local"), SecretsDir: filepath.Join(taskDir, "secrets")},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)), Events: func(*structs.TaskEvent) {},
	}
	m := &Manager{Watcher: wd.w, Region: "global"}
	h := m.TaskHook(cfg).(*Hook)
	t.Cleanup(h.shutdown)
	env := taskenv.Build(taskenv.NodeInfo{Node: wd.node}, wd.alloc, task, taskenv.Dirs{TaskDir: filepath.Join(taskDir, "local"), SecretsDir: filepath.Join(taskDir, "secrets")})
	return &taskSetup{hook: h, lc: lc, dir: taskDir, env: env}
}

func (ts *taskSetup) prestart(t *testing.T, ctx context.Context) (*hooks.TaskPrestartResponse, error) {
	t.Helper()
	resp := &hooks.TaskPrestartResponse{}
	err := ts.hook.Prestart(ctx, &hooks.TaskPrestartRequest{Alloc: ts.hook.cfg.Alloc, Task: ts.hook.cfg.Task, TaskEnv: ts.env}, resp)
	return resp, err
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q", path, b, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTemplateRendersWaitsAndFollowsData(t *testing.T) {
	wd := newWorld(t)
	wd.putService(t, "db-1", 5432)
	ts := newTaskHook(t, wd, []*structs.Template{
		{DestPath: "local/db.conf", ChangeMode: ChangeModeSignal, ChangeSignal: "SIGHUP", Perms: "0640",
			EmbeddedTmpl: `{{ range nomadService "db" }}{{ .Address }}:{{ .Port }} {{ end }}`},
		{DestPath: "${NOMAD_SECRETS_DIR}/env", Envvars: true, ChangeMode: ChangeModeRestart,
			EmbeddedTmpl: `DB_PASSWORD={{ with nomadVar "nomad/jobs/app" }}{{ .db_password }}{{ end }}`},
	}, nil)
	// The variable does not exist yet: the task waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan *hooks.TaskPrestartResponse, 1)
	go func() {
		resp, err := ts.prestart(t, ctx)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	select {
	case <-done:
		t.Fatal("prestart did not wait for the missing variable")
	case <-time.After(300 * time.Millisecond):
	}
	wd.putVar(t, "nomad/jobs/app", map[string]string{"db_password": "s3cret"})
	resp := <-done
	if resp.Env["DB_PASSWORD"] != "s3cret" {
		t.Fatalf("env %v", resp.Env)
	}
	conf := filepath.Join(ts.dir, "local", "db.conf")
	waitFile(t, conf, "10.0.0.9:5432 ")
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o640 {
		t.Fatalf("perms %v", fi.Mode())
	}
	waitFile(t, filepath.Join(ts.dir, "secrets", "env"), "DB_PASSWORD=s3cret")

	// A second instance of the service: the file is re-rendered and the
	// task signalled, not restarted.
	wd.putService(t, "db-2", 5433)
	waitFile(t, conf, "10.0.0.9:5432 10.0.0.9:5433 ")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, s := ts.lc.counts(); s == 1 && r == 0 {
			break
		}
		if time.Now().After(deadline) {
			r, s := ts.lc.counts()
			t.Fatalf("restarts %d signals %d", r, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The variable changes: the env template restarts the task, and the
	// next start gets the new value without waiting.
	wd.putVar(t, "nomad/jobs/app", map[string]string{"db_password": "n3w"})
	for deadline := time.Now().Add(5 * time.Second); ; {
		if r, _ := ts.lc.counts(); r == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no restart after the variable changed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp2, err := ts.prestart(t, ctx)
	if err != nil || resp2.Env["DB_PASSWORD"] != "n3w" {
		t.Fatalf("restart's prestart: %v %v", resp2.Env, err)
	}
	// An unchanged re-render (a write that keeps the same items) does
	// nothing.
	wd.putVar(t, "nomad/jobs/app", map[string]string{"db_password": "n3w"})
	time.Sleep(300 * time.Millisecond)
	if r, s := ts.lc.counts(); r != 1 || s != 1 {
		t.Fatalf("unchanged data acted: restarts %d signals %d", r, s)
	}
}

func TestTemplateRefusals(t *testing.T) {
	wd := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Another job's variable is not this workload's to read.
	wd.putVar(t, "nomad/jobs/other", map[string]string{"k": "v"})
	ts := newTaskHook(t, wd, []*structs.Template{{DestPath: "local/x", EmbeddedTmpl: `{{ with nomadVar "nomad/jobs/other" }}{{ .k }}{{ end }}`}}, nil)
	if _, err := ts.prestart(t, ctx); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("foreign variable: %v", err)
	}
	// A policy attached to the job (JobACL) grants it, as it would grant
	// the task's workload identity.
	pol := &structs.ACLPolicy{Name: "app-reads-other", JobACL: &structs.JobACL{Namespace: "default", JobID: "app"},
		Rules: `
namespace "default" {
  variables {
    path "nomad/jobs/other" {
      capabilities = ["read"]
    }
  }
}`}
	if _, err := wd.srv.UpsertACLPolicies(ctx, []*structs.ACLPolicy{pol}); err != nil {
		t.Fatal(err)
	}
	// The shared watcher holds the refusal until the servers answer with
	// the grant (the policy wakes the dependency's watch).
	for {
		ts = newTaskHook(t, wd, []*structs.Template{{DestPath: "local/x", EmbeddedTmpl: `{{ with nomadVar "nomad/jobs/other" }}{{ .k }}{{ end }}`}}, nil)
		_, err := ts.prestart(t, ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("variable granted by a job-attached policy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(ts.dir, "local", "x")); string(b) != "v" {
		t.Fatalf("rendered %q", b)
	}
	// Destinations cannot leave the task's directories.
	ts = newTaskHook(t, wd, []*structs.Template{{DestPath: "../../etc/x", EmbeddedTmpl: "x"}}, nil)
	if _, err := ts.prestart(t, ctx); err != nil {
		t.Fatalf("a dotted destination is cleaned inside the task dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "etc", "x")); err != nil {
		t.Fatalf("cleaned destination not written inside the task dir: %v", err)
	}
	// A symlink planted at the destination is replaced, not followed.
	ts = newTaskHook(t, wd, []*structs.Template{{DestPath: "local/out", EmbeddedTmpl: "rendered"}}, nil)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	if err := os.Symlink(victim, filepath.Join(ts.dir, "local", "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.prestart(t, ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatal("template write followed a planted symlink")
	}
	// A source through a symlink is refused.
	ts = newTaskHook(t, wd, []*structs.Template{{DestPath: "local/out", SourcePath: "local/in.tpl"}}, nil)
	os.Symlink("/etc/hostname", filepath.Join(ts.dir, "local", "in.tpl"))
	if _, err := ts.prestart(t, ctx); err == nil {
		t.Fatal("a symlinked source was read")
	}
}

func TestTemplateSourceOnceWaitAndScript(t *testing.T) {
	wd := newWorld(t)
	wd.putVar(t, "nomad/jobs/app", map[string]string{"v": "1"})
	drv := rawexec.New(rawexec.Config{Enabled: true})
	ts := newTaskHook(t, wd, []*structs.Template{
		{DestPath: "local/once", Once: true, EmbeddedTmpl: `{{ with nomadVar "nomad/jobs/app" }}{{ .v }}{{ end }}`},
		{DestPath: "local/waited", SourcePath: "local/src.tpl", ChangeMode: ChangeModeScript,
			Wait:         &structs.WaitConfig{Min: ptr(400 * time.Millisecond), Max: ptr(2 * time.Second)},
			ChangeScript: &structs.ChangeScript{Command: "/bin/sh", Args: []string{"-c", "echo ran >> changed"}, Timeout: 5 * time.Second}},
	}, drv)
	os.WriteFile(filepath.Join(ts.dir, "local", "src.tpl"), []byte(`[[ with nomadVar "nomad/jobs/app" ]][[ .v ]][[ end ]]`), 0o644)
	ts.hook.cfg.Task.Templates[1].LeftDelim, ts.hook.cfg.Task.Templates[1].RightDelim = "[[", "]]"
	// The change script runs inside the task: start the task for real.
	cfg := &drivers.TaskConfig{ID: ts.hook.taskID(), AllocID: wd.alloc.ID, Name: "srv", TaskDir: ts.dir,
		Config: map[string]any{"command": "/bin/sleep", "args": []any{"60"}}, Env: map[string]string{}}
	if _, err := drv.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Destroy(cfg.ID, true) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ts.prestart(t, ctx); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(ts.dir, "local", "waited"), "1")
	// Three quick changes: one render after the quiet period.
	for _, v := range []string{"2", "3", "4"} {
		wd.putVar(t, "nomad/jobs/app", map[string]string{"v": v})
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	if b, _ := os.ReadFile(filepath.Join(ts.dir, "local", "waited")); string(b) != "1" {
		t.Fatalf("rendered before the wait's quiet period: %q", b)
	}
	waitFile(t, filepath.Join(ts.dir, "local", "waited"), "4")
	waitFile(t, filepath.Join(ts.dir, "changed"), "ran\n")
	if b, _ := os.ReadFile(filepath.Join(ts.dir, "local", "once")); string(b) != "1" {
		t.Fatalf("a once template re-rendered: %q", b)
	}
}

func ptr[T any](v T) *T { return &v }

// restart { render_templates = true } renders the templates again on every
// restart: what they read without a watch (a file) is picked up.
func TestTemplateRenderTemplatesOnRestart(t *testing.T) {
	wd := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, again := range []bool{false, true} {
		ts := newTaskHook(t, wd, []*structs.Template{{DestPath: "local/out", EmbeddedTmpl: `{{ file "local/src" }}`, ChangeMode: ChangeModeNoop}}, nil)
		ts.hook.cfg.Task.RestartPolicy = &structs.RestartPolicy{RenderTemplates: again}
		src := filepath.Join(ts.dir, "local", "src")
		os.WriteFile(src, []byte("v1"), 0o644)
		if _, err := ts.prestart(t, ctx); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(src, []byte("v2"), 0o644)
		if _, err := ts.prestart(t, ctx); err != nil {
			t.Fatal(err)
		}
		want := "v1"
		if again {
			want = "v2"
		}
		waitFile(t, filepath.Join(ts.dir, "local", "out"), want)
	}
}
