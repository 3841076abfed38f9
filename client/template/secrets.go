package template

import (
	"context"
	"fmt"
	"strings"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

// A task's secret blocks (provider "nomad") are Nomad variables read when
// the task starts, through the same watcher and server-side check as a
// template's nomadVar: the task's own identity (allocation and task)
// decides what it may read. Their keys become ${secret.<name>.<key>} for
// the task's env block and driver config only: they are never put in the
// process environment by themselves, and never written to disk by orch
// (the hook is not Done, so they are read again at every start, also
// after an agent restart, instead of being kept in the client's state).

// SecretsHook builds the secret hook of a task with secret blocks.
func (m *Manager) SecretsHook(cfg *hooks.TaskHookConfig) hooks.Hook {
	if len(cfg.Task.Secrets) == 0 {
		return nil
	}
	return &secretsHook{m: m}
}

type secretsHook struct{ m *Manager }

func (*secretsHook) Name() string { return "secrets" }

func (h *secretsHook) Prestart(ctx context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	if req.Reattach {
		// The task already runs with what it was started with: an agent
		// restart neither waits for the servers nor fails it over a
		// secret gone since (its next start reads them again).
		return nil
	}
	return h.prestart(ctx, req, resp)
}

func (h *secretsHook) prestart(ctx context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	sub := h.m.Watcher.Subscribe()
	defer h.m.Watcher.Release(sub, nil)
	vals := map[string]string{}
	for _, s := range req.Task.Secrets {
		dep := structs.TemplateDep{Kind: structs.TemplateDepVariable, Namespace: s.Namespace(), Name: s.Path,
			AllocID: req.Alloc.ID, Task: req.Task.Name}
		r, err := h.m.Watcher.Get(ctx, sub, dep)
		switch {
		case err != nil:
			return fmt.Errorf("secret %q: %w", s.Name, err)
		case r.Error != "":
			return fmt.Errorf("secret %q: %s", s.Name, r.Error)
		case r.Variable == nil:
			return fmt.Errorf("secret %q: no variable at path %q in namespace %q", s.Name, s.Path, s.Namespace())
		}
		for k, v := range r.Variable.Items {
			vals["secret."+s.Name+"."+k] = v
		}
	}
	// The env block was interpolated before the secrets were known: its
	// entries that name one are interpolated again.
	env := req.TaskEnv.WithInterp(vals)
	for k, v := range req.Task.Env {
		if strings.Contains(v, "${secret.") {
			if resp.Env == nil {
				resp.Env = map[string]string{}
			}
			resp.Env[k] = env.ReplaceString(v)
		}
	}
	resp.Interp = vals
	return nil
}
