// Package identityhook gives a task its workload identity: the JWT the
// servers sign for it, in NOMAD_TOKEN (identity { env = true }) and in
// secrets/nomad_token (identity { file = true }).
package identityhook

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/internal/safefs"
)

// TokenFile is the identity's file name inside the task's secrets dir.
const TokenFile = "nomad_token"

// Signer asks the servers for the identities of an allocation's tasks
// (they sign only for the node the allocation runs on).
type Signer interface {
	SignIdentities(ctx context.Context, allocID string, tasks []string) (map[string]string, error)
}

// New returns the hook factory; tasks without an identity that asks for
// env or file get no hook.
func New(signer Signer) hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		id := cfg.Task.Identity
		if id == nil || (!id.Env && !id.File) {
			return nil
		}
		return &hook{signer: signer, cfg: cfg}
	}
}

type hook struct {
	signer Signer
	cfg    *hooks.TaskHookConfig
}

func (h *hook) Name() string { return "identity" }

// Prestart fetches the identity and hands it to the task. It is Done once
// delivered: the default identity lives as long as the allocation, so a
// restart (or an agent restart) reuses it.
func (h *hook) Prestart(ctx context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	task := req.Task
	tokens, err := h.signer.SignIdentities(ctx, req.Alloc.ID, []string{task.Name})
	if err != nil {
		return fmt.Errorf("fetching workload identity: %w", err)
	}
	jwt := tokens[task.Name]
	if jwt == "" {
		return fmt.Errorf("fetching workload identity: the servers signed none for task %q", task.Name)
	}
	if task.Identity.File {
		if err := writeToken(h.cfg.TaskDir.SecretsDir, jwt); err != nil {
			return err
		}
	}
	if task.Identity.Env {
		resp.Env = map[string]string{"NOMAD_TOKEN": jwt}
	}
	resp.Done = true
	return nil
}

// writeToken writes the token into the secrets dir through safefs: a link
// the task left at the name is replaced, never followed. The file is 0644
// in a dir only the task's user can enter (isolated drivers make secrets/
// 0700 and hand it to that user).
func writeToken(secretsDir, jwt string) error {
	root, err := safefs.OpenRoot(secretsDir)
	if err != nil {
		return fmt.Errorf("opening secrets dir: %w", err)
	}
	defer root.Close()
	if err := root.WriteFile(TokenFile, []byte(jwt), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", TokenFile, err)
	}
	return nil
}

var _ hooks.TaskPrestartHook = (*hook)(nil)
