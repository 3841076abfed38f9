// Package payload writes a dispatched job's payload into the file its task
// names with dispatch_payload { file }, inside the task's local directory.
package payload

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/safefs"
)

// HookFactory builds the hook for tasks with a dispatch_payload block.
func HookFactory() hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		if cfg.Task.DispatchPayload == nil || cfg.Task.DispatchPayload.File == "" {
			return nil
		}
		return &hook{localDir: cfg.TaskDir.LocalDir}
	}
}

type hook struct{ localDir string }

func (*hook) Name() string { return "dispatch_payload" }

// Prestart writes the payload once; a restarted task finds the file it
// may have changed left as it is, as in Nomad (the payload is input, not
// state to restore). The write goes through safefs: the local directory
// belongs to the task, which may have planted links in it.
func (h *hook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	rel, err := relPath(req.Task.DispatchPayload.File)
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	var data []byte
	if req.Alloc.Job != nil {
		data = req.Alloc.Job.Payload
	}
	root, err := safefs.OpenRoot(h.localDir)
	if err != nil {
		return fmt.Errorf("dispatch payload: %w", err)
	}
	defer root.Close()
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("dispatch payload: %w", err)
		}
	}
	if err := root.WriteFile(rel, data, 0o644); err != nil {
		return fmt.Errorf("dispatch payload: %w", err)
	}
	resp.Done = true
	return nil
}

// relPath is file as a clean path inside the local directory.
func relPath(file string) (string, error) {
	p := path.Clean("/" + filepath.ToSlash(file))
	p = strings.TrimPrefix(p, "/")
	if p == "" || p == "." {
		return "", fmt.Errorf("dispatch payload: invalid file %q", file)
	}
	return p, nil
}
