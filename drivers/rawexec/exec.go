package rawexec

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/internal/safefs"
)

var _ drivers.Execer = (*Driver)(nil)

// ExecTask implements drivers.Execer: the command runs on the host as the
// task does, with the task's environment, in its directory, as its user.
func (d *Driver) ExecTask(ctx context.Context, taskID string, req *drivers.ExecRequest) (int, error) {
	t, err := d.get(taskID)
	if err != nil {
		return 0, err
	}
	if t.exited() {
		return 0, fmt.Errorf("raw_exec: task %q is not running", taskID)
	}
	cfg := t.cfg
	if cfg == nil || len(req.Command) == 0 {
		return 0, errors.New("raw_exec: exec: no command or task configuration")
	}
	env := mergeEnv(os.Environ(), cfg.Env)
	path, err := resolveCommand(req.Command[0], cfg.TaskDir, lookupEnv(env, "PATH"))
	if err != nil {
		return 0, fmt.Errorf("raw_exec: exec: %w", err)
	}
	// The identity the task runs as, checked as at its start.
	cred, err := d.credential(cfg.User)
	if err != nil {
		return 0, fmt.Errorf("raw_exec: exec: %w", err)
	}
	hc := &isolation.HostCommand{
		Path: path, Args: req.Command, Env: env, Dir: cfg.TaskDir, Credential: cred,
		NetNS: cfg.NetNSPath(),
	}
	if cred != nil && cfg.TaskDir != "" {
		// As at start: the user may not traverse the data dir, so the
		// command enters the task dir by descriptor.
		td, err := safefs.OpenRoot(cfg.TaskDir)
		if err != nil {
			return 0, fmt.Errorf("raw_exec: exec: %w", err)
		}
		defer td.Close()
		if hc.DirFile, err = td.File(); err != nil {
			return 0, fmt.Errorf("raw_exec: exec: %w", err)
		}
		defer hc.DirFile.Close()
	}
	return isolation.RunHost(ctx, isolation.HostCommandFor(req, hc))
}

// ExecRunsOnHost implements drivers.HostExecer: raw_exec has no isolation.
func (d *Driver) ExecRunsOnHost(string) bool { return true }
