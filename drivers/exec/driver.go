// Package exec is the exec driver: it runs a command isolated from the host
// with libcontainer — its own PID, mount, IPC and UTS namespaces, a
// read-only view of the host's system directories, cgroup limits, and the
// task's user (default nobody).
//
// Each task's container init is a small supervising shim (the orch binary
// re-exec'd, running only C code from a constructor, see isolation) that
// runs the command, forwards signals to it, and records its exit status in
// the container's state directory. That record is what lets a client that
// restarted while the task ran, or after it ended, still learn how it exited.
//
// The binary that embeds this driver must dispatch libcontainer's re-exec
// before anything else in main:
//
//	if exec.IsInitProcess() { exec.Init() }
package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/structs"
)

// Name is the driver's name in a task's `driver` field.
const Name = "exec"

// DefaultStateRoot holds libcontainer state when Config.StateRoot is empty.
// It is on tmpfs on purpose: containers do not survive a reboot either.
const DefaultStateRoot = "/run/orch/exec"

// handleVersion is the DriverState format version.
const handleVersion = 1

// Config configures the driver.
type Config struct {
	Logger *slog.Logger
	// StateRoot is where libcontainer keeps per-task state; the agent
	// passes a directory under the client data dir.
	StateRoot string
	// NoNetworkIsolation keeps tasks in the host network namespace. Tasks
	// share the host network by default anyway (so ports work as with
	// raw_exec); the flag documents the operator's intent and makes the
	// default explicit should network isolation ever become the default.
	NoNetworkIsolation bool
	// Policy bounds the task user and cap_add (client options
	// user.denylist and exec.caps.allowlist).
	Policy HostPolicy
}

// Driver implements drivers.Driver for exec.
type Driver struct {
	cfg    Config
	logger *slog.Logger
	tasks  *isolation.Store
}

var _ drivers.Driver = (*Driver)(nil)

// New returns an exec driver.
func New(cfg Config) *Driver {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StateRoot == "" {
		cfg.StateRoot = DefaultStateRoot
	}
	if cfg.Policy.Identity.Driver == "" {
		// The zero policy is the default one, never an open one.
		caps := cfg.Policy.CapAllowlist
		cfg.Policy = DefaultPolicy(Name)
		cfg.Policy.CapAllowlist = caps
	}
	return &Driver{cfg: cfg, logger: cfg.Logger.With("driver", Name), tasks: isolation.NewStore()}
}

// IsInitProcess reports whether this process is libcontainer's re-exec'd
// container bootstrap ("<binary> init"); main must then call Init.
func IsInitProcess() bool { return isolation.IsInitProcess() }

// Init runs the container bootstrap and never returns.
func Init() { isolation.Init() }

// Name implements drivers.Driver.
func (d *Driver) Name() string { return Name }

// ConfigSpec implements drivers.Driver.
func (d *Driver) ConfigSpec() hcldec.Spec { return configSpec() }

// ValidateConfig implements drivers.Driver.
func (d *Driver) ValidateConfig(cfg map[string]any) error {
	_, err := ParseConfig(cfg)
	return err
}

// Fingerprint implements drivers.Driver.
func (d *Driver) Fingerprint(ctx context.Context) *structs.DriverInfo {
	now := time.Now().UTC().Format(time.RFC3339)
	if ok, reason := isolation.Available(); !ok {
		return &structs.DriverInfo{Attributes: map[string]string{}, HealthDescription: reason, UpdateTime: now}
	}
	return &structs.DriverInfo{
		Attributes: map[string]string{
			"driver.exec":                "1",
			"driver.exec.cgroup_version": isolation.CgroupVersion(),
		},
		Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: now,
	}
}

// handleState is the driver's DriverState.
type handleState struct {
	Container isolation.State `json:"Container"`
}

// Start implements drivers.Driver.
func (d *Driver) Start(ctx context.Context, cfg *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	tc, err := ParseConfig(cfg.Config)
	if err != nil {
		// The config does not change until the job does.
		return nil, drivers.NonRecoverable(err)
	}
	if d.tasks.Has(cfg.ID) {
		return nil, fmt.Errorf("exec: task %q already started", cfg.ID)
	}
	ident, err := d.cfg.Policy.Check(cfg.User, tc.CapAdd)
	if err != nil {
		// A host policy refusal (or a user that cannot be resolved) is
		// final: retrying would be refused again.
		return nil, drivers.NonRecoverable(fmt.Errorf("exec: %w", err))
	}
	if err := cfg.CheckNetworkIsolation(); err != nil {
		return nil, drivers.NonRecoverable(fmt.Errorf("exec: %w", err))
	}
	spec := SpecFor(cfg, d.cfg.StateRoot)
	spec.Identity = ident
	spec.Command, spec.Args = tc.Command, tc.Args
	spec.HostPID, spec.HostIPC = tc.PIDMode == ModeHost, tc.IPCMode == ModeHost
	spec.CapAdd, spec.CapDrop, spec.PidsLimit = tc.CapAdd, tc.CapDrop, tc.PidsLimit
	c, err := isolation.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("exec: start task %q: %w", cfg.ID, err)
	}
	started := time.Now()
	d.tasks.AddTask(cfg, c, started)
	state, err := json.Marshal(handleState{Container: c.State()})
	if err != nil {
		return nil, fmt.Errorf("exec: encode handle: %w", err)
	}
	d.logger.Debug("task started", "task", cfg.ID, "container", c.State().ContainerID, "pid", c.State().Pid)
	return &drivers.TaskHandle{
		Version: handleVersion, Driver: Name, Config: cfg, DriverState: state, StartedAt: started,
	}, nil
}

// SpecFor fills the isolation spec parts every driver derives the same way
// from a task: directories, user, environment, resources, log FIFOs.
func SpecFor(cfg *drivers.TaskConfig, stateRoot string) *isolation.Spec {
	s := &isolation.Spec{
		ID: cfg.ID, StateRoot: stateRoot, TaskDir: cfg.TaskDir, AllocDir: cfg.AllocDir,
		Env: cfg.Env, User: cfg.User, StdoutPath: cfg.StdoutPath, StderrPath: cfg.StderrPath,
	}
	if r := cfg.Resources; r != nil {
		s.MemoryMB, s.MemoryMaxMB, s.CPUShares = r.Memory.MemoryMB, r.Memory.MemoryMaxMB, r.Cpu.CpuShares
		s.CPUSet = drivers.CPUSet(r.Cpu.ReservedCores)
	}
	s.Mounts, s.Devices = cfg.Mounts, cfg.Devices
	s.NetNSPath = cfg.NetNSPath()
	return s
}

// Recover implements drivers.Driver.
func (d *Driver) Recover(ctx context.Context, h *drivers.TaskHandle) error {
	if h == nil || h.Config == nil {
		return fmt.Errorf("exec: recover: empty handle: %w", drivers.ErrTaskNotFound)
	}
	if d.tasks.Has(h.Config.ID) {
		return nil
	}
	var st handleState
	if err := json.Unmarshal(h.DriverState, &st); err != nil {
		return fmt.Errorf("exec: recover %q: decode handle: %w: %w", h.Config.ID, err, drivers.ErrTaskNotFound)
	}
	c, err := isolation.Recover(st.Container)
	if err != nil {
		return fmt.Errorf("exec: recover %q: %w", h.Config.ID, err)
	}
	d.tasks.AddTask(h.Config, c, h.StartedAt)
	return nil
}

// Wait implements drivers.Driver.
func (d *Driver) Wait(ctx context.Context, taskID string) (<-chan *drivers.ExitResult, error) {
	return d.tasks.Wait(ctx, taskID)
}

// Stop implements drivers.Driver.
func (d *Driver) Stop(taskID string, timeout time.Duration, signal string) error {
	return d.tasks.Stop(taskID, timeout, signal)
}

// Signal implements drivers.Driver.
func (d *Driver) Signal(taskID string, signal string) error {
	return d.tasks.Signal(taskID, signal)
}

// Destroy implements drivers.Driver.
func (d *Driver) Destroy(taskID string, force bool) error {
	return d.tasks.Destroy(taskID, force)
}

// Inspect implements drivers.Driver.
func (d *Driver) Inspect(taskID string) (*drivers.TaskStatus, error) {
	return d.tasks.Inspect(taskID)
}

// Stats implements drivers.Driver.
func (d *Driver) Stats(ctx context.Context, taskID string) (*drivers.TaskResourceUsage, error) {
	return d.tasks.Stats(ctx, taskID)
}

var _ drivers.Execer = (*Driver)(nil)

// ExecTask implements drivers.Execer.
func (d *Driver) ExecTask(ctx context.Context, taskID string, req *drivers.ExecRequest) (int, error) {
	code, err := d.tasks.Exec(ctx, taskID, req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", Name, err)
	}
	return code, nil
}
