package template

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
	"github.com/orch-project/orch/tmpl"
)

// Change modes of the template block.
const (
	ChangeModeRestart = "restart"
	ChangeModeSignal  = "signal"
	ChangeModeNoop    = "noop"
	ChangeModeScript  = "script"
)

// defaultScriptTimeout is change_script's timeout when the job gives none
// (Nomad's).
const defaultScriptTimeout = 5 * time.Second

// Manager is the client's template machinery: one watcher for every task.
type Manager struct {
	Watcher *Watcher
	Region  string
	Logger  *slog.Logger
}

// TaskHook builds the template hook of a task with templates.
func (m *Manager) TaskHook(cfg *hooks.TaskHookConfig) hooks.Hook {
	if len(cfg.Task.Templates) == 0 {
		return nil
	}
	return &Hook{m: m, cfg: cfg, logger: cfg.Logger.With("hook", "template")}
}

// Hook renders a task's templates before it starts, keeps them current
// while it runs, and applies their change_mode when they change.
type Hook struct {
	m      *Manager
	cfg    *hooks.TaskHookConfig
	logger *slog.Logger

	mu      sync.Mutex
	tmpls   []*taskTemplate
	env     map[string]string // from env = true templates
	watchOn bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// taskTemplate is one template block, resolved for the task.
type taskTemplate struct {
	spec    *structs.Template
	root    string // the directory dest is relative to
	dest    string
	sub     *Subscription
	text    string
	content []byte // as last written
}

func (h *Hook) Name() string { return "template" }

// Prestart renders every template, waiting for the data they read, writes
// them and contributes the env templates' variables. The first Prestart
// starts the watch that re-renders them; later ones (task restarts) find
// them rendered.
func (h *Hook) Prestart(ctx context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmpls == nil {
		if err := h.resolve(req.TaskEnv); err != nil {
			return drivers.NonRecoverable(err)
		}
	}
	env := req.TaskEnv.Map()
	// restart { render_templates = true } renders again on every restart;
	// otherwise the watch has kept them current since the first render.
	again := h.cfg.Task.RestartPolicy != nil && h.cfg.Task.RestartPolicy.RenderTemplates
	for _, t := range h.tmpls {
		if t.content != nil && !again {
			continue
		}
		out, err := h.renderWait(ctx, t, req.Alloc, env)
		if err != nil {
			return err
		}
		if err := h.write(t, out); err != nil {
			return err
		}
		t.content = out
	}
	if err := h.collectEnv(); err != nil {
		return err
	}
	resp.Env = h.env
	if !h.watchOn {
		h.watchOn = true
		wctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.watch(wctx, req.Alloc, env)
	}
	return nil
}

// resolve reads each template's text and destination.
func (h *Hook) resolve(env *taskenv.Env) error {
	for i, spec := range h.cfg.Task.Templates {
		t := &taskTemplate{spec: spec, sub: h.m.Watcher.Subscribe()}
		root, rel, err := h.placement(env.ReplaceString(spec.DestPath))
		if err != nil {
			return fmt.Errorf("template[%d]: destination: %w", i, err)
		}
		t.root, t.dest = root, rel
		t.text = spec.EmbeddedTmpl
		if spec.SourcePath != "" {
			sroot, srel, err := h.placement(env.ReplaceString(spec.SourcePath))
			if err != nil {
				return fmt.Errorf("template[%d]: source: %w", i, err)
			}
			b, err := readIn(sroot, srel)
			if err != nil {
				return fmt.Errorf("template[%d]: reading source %q: %w", i, spec.SourcePath, err)
			}
			t.text = string(b)
		}
		if err := tmpl.Validate(t.text, spec.LeftDelim, spec.RightDelim); err != nil {
			return fmt.Errorf("template[%d]: %w", i, err)
		}
		h.tmpls = append(h.tmpls, t)
	}
	return nil
}

// placement maps a template path to a root directory and a path beneath
// it: the shared alloc dir for "alloc/...", the task dir otherwise. The
// task's own view of its dirs (/local, ${NOMAD_TASK_DIR} as the host path
// for raw_exec) is accepted; nothing may leave the root.
func (h *Hook) placement(p string) (root, rel string, err error) {
	td, ad := h.cfg.TaskDir, h.cfg.AllocDir
	if rest, ok := strings.CutPrefix(p, td.Dir+"/"); ok && td.Dir != "" {
		p = rest
	} else if rest, ok := strings.CutPrefix(p, ad.SharedDir+"/"); ok && ad.SharedDir != "" {
		p = "alloc/" + rest
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" || p == "." {
		return "", "", errors.New("empty path")
	}
	if rest, ok := strings.CutPrefix(p, "alloc/"); ok {
		return ad.SharedDir, rest, nil
	}
	return td.Dir, p, nil
}

func readIn(root, rel string) ([]byte, error) {
	r, err := safefs.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(rel)
}

// render renders t once against the watcher's data.
func (h *Hook) render(ctx context.Context, t *taskTemplate, alloc *structs.Allocation, env map[string]string) ([]byte, error) {
	data := &watchedData{ctx: ctx, w: h.m.Watcher, sub: t.sub, allocID: alloc.ID, task: h.cfg.Task.Name, used: map[string]bool{}}
	out, err := tmpl.Render(&tmpl.Config{
		Name: t.spec.DestPath, Text: t.text, LeftDelim: t.spec.LeftDelim, RightDelim: t.spec.RightDelim,
		ErrMissingKey: t.spec.ErrMissingKey, Namespace: alloc.Namespace, Region: h.m.Region, Env: env,
		ReadFile: func(name string) (string, error) {
			root, rel, err := h.placement(name)
			if err != nil {
				return "", err
			}
			b, err := readIn(root, rel)
			return string(b), err
		},
		Data: data,
	})
	// Stop following what this render no longer reads.
	h.m.Watcher.Release(t.sub, data.used)
	return out, err
}

// renderWait renders t, waiting while it reads data that does not exist
// yet; other errors end the wait.
func (h *Hook) renderWait(ctx context.Context, t *taskTemplate, alloc *structs.Allocation, env map[string]string) ([]byte, error) {
	reported := false
	for {
		out, err := h.render(ctx, t, alloc, env)
		if err == nil {
			return out, nil
		}
		if !tmpl.IsMissing(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("template %q: %w", t.spec.DestPath, err)
		}
		if !reported {
			reported = true
			h.event("Missing: " + err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.sub.C:
		}
	}
}

func (h *Hook) event(msg string) {
	if h.cfg.Events != nil {
		h.cfg.Events(&structs.TaskEvent{Type: "Template", Time: time.Now().UnixNano(), DisplayMessage: msg})
	}
}

// write puts the rendered file in place with its perms and owner.
func (h *Hook) write(t *taskTemplate, out []byte) error {
	r, err := safefs.OpenRoot(t.root)
	if err != nil {
		return fmt.Errorf("template %q: %w", t.spec.DestPath, err)
	}
	defer r.Close()
	perm := os.FileMode(0o644)
	if p := t.spec.Perms; p != "" {
		n, err := strconv.ParseUint(p, 8, 32)
		if err != nil {
			return drivers.NonRecoverable(fmt.Errorf("template %q: invalid perms %q", t.spec.DestPath, p))
		}
		perm = os.FileMode(n)
	}
	if dir := filepath.Dir(t.dest); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("template %q: %w", t.spec.DestPath, err)
		}
	}
	if err := r.WriteFile(t.dest, out, perm); err != nil {
		return fmt.Errorf("template %q: %w", t.spec.DestPath, err)
	}
	if t.spec.Uid != nil || t.spec.Gid != nil {
		uid, gid := -1, -1
		if t.spec.Uid != nil {
			uid = *t.spec.Uid
		}
		if t.spec.Gid != nil {
			gid = *t.spec.Gid
		}
		if err := r.Lchown(t.dest, uid, gid); err != nil {
			return fmt.Errorf("template %q: chown: %w", t.spec.DestPath, err)
		}
	}
	return nil
}

// collectEnv parses the env = true templates' KEY=VALUE lines.
func (h *Hook) collectEnv() error {
	env := map[string]string{}
	for _, t := range h.tmpls {
		if !t.spec.Envvars {
			continue
		}
		vars, err := parseEnvFile(string(t.content))
		if err != nil {
			return fmt.Errorf("template %q: %w", t.spec.DestPath, err)
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	h.env = env
	return nil
}

// parseEnvFile reads KEY=VALUE lines (blank lines and # comments
// skipped; a value may be quoted), as Nomad parses env templates.
func parseEnvFile(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") {
			return nil, fmt.Errorf("line %d is not KEY=VALUE", i+1)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			if v[0] == '"' {
				if uq, err := strconv.Unquote(v); err == nil {
					v = uq
				} else {
					v = v[1 : len(v)-1]
				}
			} else {
				v = v[1 : len(v)-1]
			}
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("line %d: NUL in value", i+1)
		}
		out[k] = v
	}
	return out, nil
}

// watch re-renders the templates when their data changes and applies
// their change modes, until the task stops. Rendering never waits for a
// change mode to be applied (a splay may hold that for seconds): changes
// that pile up meanwhile are applied together.
func (h *Hook) watch(ctx context.Context, alloc *structs.Allocation, env map[string]string) {
	defer close(h.done)
	var wg sync.WaitGroup
	pending := &changeSet{kick: make(chan struct{}, 1)}
	for _, t := range h.tmpls {
		if t.spec.Once {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.follow(ctx, t, alloc, env, pending)
		}()
	}
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pending.kick:
		}
		// Gather what changed together, then act once per mode.
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
		h.applyChanges(ctx, pending.take())
	}
}

// changeSet is the templates re-rendered with new contents whose change
// modes are not applied yet.
type changeSet struct {
	mu   sync.Mutex
	set  []*taskTemplate
	kick chan struct{}
}

func (c *changeSet) add(t *taskTemplate) {
	c.mu.Lock()
	if !slices.Contains(c.set, t) {
		c.set = append(c.set, t)
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *changeSet) take() []*taskTemplate {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.set
	c.set = nil
	return out
}

// follow re-renders one template on every change of its data, honouring
// its wait {min, max}, and reports content changes.
func (h *Hook) follow(ctx context.Context, t *taskTemplate, alloc *structs.Allocation, env map[string]string, changed *changeSet) {
	minWait, maxWait := waitBounds(t.spec.Wait)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.sub.C:
		}
		if minWait > 0 && !quiesce(ctx, t.sub.C, minWait, maxWait) {
			return
		}
		out, err := h.render(ctx, t, alloc, env)
		if err != nil {
			if ctx.Err() == nil {
				h.logger.Warn("re-rendering template; keeping the previous contents", "template", t.spec.DestPath, "error", err)
				h.event(fmt.Sprintf("Template %s failed to render: %v", t.spec.DestPath, err))
			}
			continue
		}
		h.mu.Lock()
		same := string(out) == string(t.content)
		if !same {
			if err := h.write(t, out); err != nil {
				h.mu.Unlock()
				h.logger.Warn("writing template", "template", t.spec.DestPath, "error", err)
				continue
			}
			t.content = out
			if err := h.collectEnv(); err != nil {
				h.logger.Warn("re-reading env template", "template", t.spec.DestPath, "error", err)
			}
		}
		h.mu.Unlock()
		if !same {
			changed.add(t)
		}
	}
}

func waitBounds(w *structs.WaitConfig) (time.Duration, time.Duration) {
	if w == nil {
		return 0, 0
	}
	var lo, hi time.Duration
	if w.Min != nil {
		lo = *w.Min
	}
	if w.Max != nil {
		hi = *w.Max
	}
	if hi < lo {
		hi = lo * 4
	}
	return lo, hi
}

// quiesce waits until no change came for min, or max passed since the
// first one (consul-template's wait); false when ctx ended.
func quiesce(ctx context.Context, ch <-chan struct{}, min, max time.Duration) bool {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	quiet := time.NewTimer(min)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-quiet.C:
			return true
		case <-ch:
			if !quiet.Stop() {
				<-quiet.C
			}
			quiet.Reset(min)
		}
	}
}

// applyChanges applies the change modes of re-rendered templates: one
// restart for all that ask for it (it picks up the new env), each signal
// once, every script; each after a random splay.
func (h *Hook) applyChanges(ctx context.Context, batch []*taskTemplate) {
	var splay time.Duration
	restart := false
	signals := map[string]bool{}
	var scripts []*structs.ChangeScript
	var names []string
	for _, t := range batch {
		names = append(names, t.spec.DestPath)
		splay = max(splay, t.spec.Splay)
		switch t.spec.ChangeMode {
		case ChangeModeRestart, "":
			restart = true
		case ChangeModeSignal:
			signals[t.spec.ChangeSignal] = true
		case ChangeModeScript:
			if t.spec.ChangeScript != nil {
				scripts = append(scripts, t.spec.ChangeScript)
			}
		}
	}
	if !restart && len(signals) == 0 && len(scripts) == 0 {
		return // noop: the new contents are in place
	}
	if splay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(rand.N(splay)):
		}
	}
	what := strings.Join(names, ", ")
	if restart {
		ev := &structs.TaskEvent{Type: structs.TaskRestartSignal, Time: time.Now().UnixNano(),
			RestartReason: "template with change_mode restart re-rendered", DisplayMessage: "Template with change_mode restart re-rendered: " + what}
		if err := h.cfg.Lifecycle.Restart(ctx, ev, false); err != nil && !errors.Is(err, hooks.ErrTaskNotRunning) {
			h.logger.Warn("restarting the task for a re-rendered template", "error", err)
		}
		return // the restart covers signals and scripts
	}
	for sig := range signals {
		ev := &structs.TaskEvent{Type: structs.TaskSignaling, Time: time.Now().UnixNano(),
			DisplayMessage: "Template re-rendered: " + what + "; sending " + sig}
		if err := h.cfg.Lifecycle.Signal(ev, sig); err != nil && !errors.Is(err, hooks.ErrTaskNotRunning) {
			h.logger.Warn("signalling the task for a re-rendered template", "signal", sig, "error", err)
		}
	}
	for _, cs := range scripts {
		h.runScript(ctx, cs, what)
	}
}

// runScript runs a change_script inside the task; with fail_on_error a
// failure kills the task.
func (h *Hook) runScript(ctx context.Context, cs *structs.ChangeScript, what string) {
	fail := func(msg string) {
		h.event("Template " + what + ": change script failed: " + msg)
		if cs.FailOnError {
			h.cfg.Lifecycle.Kill(&structs.TaskEvent{Type: structs.TaskKilling, Time: time.Now().UnixNano(),
				DisplayMessage: "Template change script failed: " + msg, FailsTask: true})
		}
	}
	ex, ok := h.cfg.Driver.(drivers.Execer)
	if !ok {
		fail("driver " + h.cfg.Driver.Name() + " cannot run commands in tasks")
		return
	}
	timeout := cs.Timeout
	if timeout <= 0 {
		timeout = defaultScriptTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := ex.ExecTask(sctx, h.taskID(), &drivers.ExecRequest{Command: append([]string{cs.Command}, cs.Args...)})
	switch {
	case err != nil:
		fail(err.Error())
	case code != 0:
		fail(fmt.Sprintf("exit code %d", code))
	default:
		h.event("Template " + what + " re-rendered; change script ran")
	}
}

// taskID is the driver's ID of the task (<alloc>/<task>).
func (h *Hook) taskID() string { return h.cfg.Alloc.ID + "/" + h.cfg.Task.Name }

// Stop ends the watch when the task is done for good.
func (h *Hook) Stop(ctx context.Context, req *hooks.TaskStopRequest) error {
	h.shutdown()
	return nil
}

// Shutdown ends the watch when the agent stops; the next agent renders
// again on re-attach without triggering change modes.
func (h *Hook) Shutdown() { h.shutdown() }

func (h *Hook) shutdown() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.watchOn = nil, false
	tmpls := h.tmpls
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	for _, t := range tmpls {
		h.m.Watcher.Release(t.sub, nil)
	}
}

// watchedData is tmpl.Data over the watcher, recording what a render read.
type watchedData struct {
	ctx     context.Context
	w       *Watcher
	sub     *Subscription
	allocID string
	task    string
	used    map[string]bool
}

func (d *watchedData) get(dep structs.TemplateDep) (*structs.TemplateDepResult, error) {
	d.used[dep.Key()] = true
	r, err := d.w.Get(d.ctx, d.sub, dep)
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	return r, nil
}

func (d *watchedData) Service(ns, name string) ([]*structs.ServiceRegistration, error) {
	r, err := d.get(structs.TemplateDep{Kind: structs.TemplateDepService, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return r.Services, nil
}

func (d *watchedData) Services(ns string) ([]*structs.ServiceRegistrationStub, error) {
	r, err := d.get(structs.TemplateDep{Kind: structs.TemplateDepServices, Namespace: ns})
	if err != nil {
		return nil, err
	}
	return r.ServiceStubs, nil
}

func (d *watchedData) Variable(ns, p string) (*structs.VariableDecrypted, error) {
	r, err := d.get(structs.TemplateDep{Kind: structs.TemplateDepVariable, Namespace: ns, Name: p, AllocID: d.allocID, Task: d.task})
	if err != nil {
		return nil, err
	}
	return r.Variable, nil
}

func (d *watchedData) Variables(ns, prefix string) ([]*structs.VariableMetadata, error) {
	r, err := d.get(structs.TemplateDep{Kind: structs.TemplateDepVariables, Namespace: ns, Name: prefix, AllocID: d.allocID, Task: d.task})
	if err != nil {
		return nil, err
	}
	return r.Variables, nil
}
