// Package rawexec is the raw_exec driver: it runs a command as a plain host
// process with the agent's privileges and no isolation. Each task gets its own
// process group so that stopping it reaches every process it spawned.
//
// Each task runs under a tiny supervising shim (drivers/exec/isolation/shim,
// C code that never starts the Go runtime): the shim is the task's parent,
// leads its process group, forwards signals to the group and writes the
// task's exit status to a file in the task's state dir before exiting with
// the same code. A client restarted while a task runs re-attaches by watching
// the shim's pid and reads the real exit status from that file, also for a
// task that ended while the agent was down. Handles from before the shim
// (no state dir) still report ErrExitStatusUnknown.
package rawexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/structs"
)

// Name is the driver's name in a task's `driver` field.
const Name = "raw_exec"

// ErrExitStatusUnknown is the ExitResult.Err of a re-attached task that
// exited: only a process's parent can learn its exit status.
var ErrExitStatusUnknown = errors.New("exit status unknown: task was re-attached after a client restart and is not a child of this agent")

// Config configures the driver.
type Config struct {
	// Enabled turns the driver on. raw_exec runs tasks unisolated with the
	// agent's privileges, so it is off unless the operator asks for it.
	Enabled bool
	Logger  *slog.Logger
	// StateDir holds one directory per task with the shim's exit status
	// file (<data-dir>/drivers/raw_exec); default <tmp>/orch-raw_exec.
	StateDir string
	// Policy bounds the identity tasks run as (denied_host_uids/gids).
	Policy identity.Policy
}

// Driver implements drivers.Driver for raw_exec.
type Driver struct {
	cfg       Config
	logger    *slog.Logger
	stateRoot string

	mu    sync.Mutex
	tasks map[string]*task
}

var _ drivers.Driver = (*Driver)(nil)

// New returns a raw_exec driver.
func New(cfg Config) *Driver {
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	root := cfg.StateDir
	if root == "" {
		root = filepath.Join(os.TempDir(), "orch-raw_exec")
	}
	return &Driver{cfg: cfg, logger: l.With("driver", Name), stateRoot: root, tasks: make(map[string]*task)}
}

// Name implements drivers.Driver.
func (d *Driver) Name() string { return Name }

// Fingerprint implements drivers.Driver: raw_exec needs nothing but the
// kernel, so it is healthy exactly when enabled.
func (d *Driver) Fingerprint(ctx context.Context) *structs.DriverInfo {
	now := time.Now().UTC().Format(time.RFC3339)
	if !d.cfg.Enabled {
		return &structs.DriverInfo{
			Attributes:        map[string]string{},
			HealthDescription: "disabled",
			UpdateTime:        now,
		}
	}
	return &structs.DriverInfo{
		Attributes:        map[string]string{"driver.raw_exec": "1"},
		Detected:          true,
		Healthy:           true,
		HealthDescription: "Healthy",
		UpdateTime:        now,
	}
}

// ConfigSpec implements drivers.Driver.
func (d *Driver) ConfigSpec() hcldec.Spec {
	return hcldec.ObjectSpec{
		"command": &hcldec.AttrSpec{Name: "command", Type: cty.String, Required: true},
		"args":    &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
	}
}

// TaskConfig is the decoded `config {}` block.
type TaskConfig struct {
	Command string
	Args    []string
}

// ValidateConfig implements drivers.Driver.
func (d *Driver) ValidateConfig(cfg map[string]any) error {
	_, err := parseConfig(cfg)
	return err
}

// parseConfig accepts the shapes a config map takes after JSON decoding
// ([]any) as well as Go-built ones ([]string).
func parseConfig(cfg map[string]any) (*TaskConfig, error) {
	var tc TaskConfig
	for k, v := range cfg {
		switch k {
		case "command":
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("raw_exec: config.command must be a string, got %T", v)
			}
			tc.Command = s
		case "args":
			args, err := drivers.StringList(v)
			if err != nil {
				return nil, fmt.Errorf("raw_exec: config.args: %w", err)
			}
			tc.Args = args
		default:
			return nil, fmt.Errorf("raw_exec: unknown config key %q", k)
		}
	}
	if tc.Command == "" {
		return nil, errors.New("raw_exec: config.command is required")
	}
	return &tc, nil
}

func (d *Driver) get(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, fmt.Errorf("raw_exec: task %q: %w", id, drivers.ErrTaskNotFound)
	}
	return t, nil
}

// FSIsolation tells the client that raw_exec tasks see host paths, so their
// NOMAD_*_DIR variables must name the real directories.
func (d *Driver) FSIsolation() string { return "none" }
