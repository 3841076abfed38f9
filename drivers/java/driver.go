// Package java is the java driver: it runs a jar or a main class on the
// host's JVM. Where the exec driver's isolation is available (Linux, cgo,
// root, cgroups) the JVM runs inside it, with the same namespaces, limits,
// read-only system directories and task user; elsewhere it runs as a plain
// process in its own process group, like raw_exec.
package java

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// Name is the driver's name in a task's `driver` field.
const Name = "java"

// DefaultStateRoot holds libcontainer state when Config.StateRoot is empty.
const DefaultStateRoot = "/run/orch/java"

const handleVersion = 1

// Config configures the driver.
type Config struct {
	Logger *slog.Logger
	// StateRoot is where isolated JVMs keep libcontainer state; the agent
	// passes a directory under the client data dir.
	StateRoot string
	// DisableIsolation runs JVMs as plain processes even where isolation
	// is available.
	DisableIsolation bool
	// Policy bounds the task user (client option user.denylist).
	Policy exec.HostPolicy
}

// Driver implements drivers.Driver for java.
type Driver struct {
	cfg    Config
	logger *slog.Logger
	tasks  *isolation.Store
}

var _ drivers.Driver = (*Driver)(nil)

// New returns a java driver.
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
		cfg.Policy = exec.DefaultPolicy(Name)
		cfg.Policy.CapAllowlist = caps
	}
	return &Driver{cfg: cfg, logger: cfg.Logger.With("driver", Name), tasks: isolation.NewStore()}
}

// Name implements drivers.Driver.
func (d *Driver) Name() string { return Name }

// ConfigSpec implements drivers.Driver.
func (d *Driver) ConfigSpec() hcldec.Spec { return configSpec() }

// ValidateConfig implements drivers.Driver.
func (d *Driver) ValidateConfig(cfg map[string]any) error {
	_, err := ParseConfig(cfg)
	return err
}

// Fingerprint implements drivers.Driver: detected when a JVM answers
// `java -version`.
func (d *Driver) Fingerprint(ctx context.Context) *structs.DriverInfo {
	now := time.Now().UTC().Format(time.RFC3339)
	java, err := findJava()
	if err == nil {
		var info *JavaInfo
		if info, err = probeJava(ctx, java); err == nil {
			isolated := d.isolated()
			return &structs.DriverInfo{
				Attributes: map[string]string{
					"driver.java":          "1",
					"driver.java.version":  info.Version,
					"driver.java.runtime":  info.Runtime,
					"driver.java.vm":       info.VM,
					"driver.java.isolated": fmt.Sprint(isolated),
				},
				Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: now,
			}
		}
	}
	return &structs.DriverInfo{Attributes: map[string]string{}, HealthDescription: err.Error(), UpdateTime: now}
}

func (d *Driver) isolated() bool {
	ok, _ := isolation.Available()
	return ok && !d.cfg.DisableIsolation
}

type handleState struct {
	Isolated  bool            `json:"Isolated"`
	Container isolation.State `json:"Container"`
	Pid       int             `json:"Pid"`
	// StartTicks and BootID identify a plain JVM's pid (see recoverPlain).
	StartTicks uint64 `json:"StartTicks,omitempty"`
	BootID     string `json:"BootID,omitempty"`
}

// Start implements drivers.Driver.
func (d *Driver) Start(ctx context.Context, cfg *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	tc, err := ParseConfig(cfg.Config)
	if err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	if d.tasks.Has(cfg.ID) {
		return nil, fmt.Errorf("java: task %q already started", cfg.ID)
	}
	ident, err := d.cfg.Policy.Check(cfg.User, nil)
	if err != nil {
		// A host policy refusal (or a user that cannot be resolved) is
		// final: retrying would be refused again.
		return nil, drivers.NonRecoverable(fmt.Errorf("java: %w", err))
	}
	java, err := findJava()
	if err != nil {
		return nil, fmt.Errorf("java: %w", err)
	}
	if err := cfg.CheckNetworkIsolation(); err != nil {
		return nil, drivers.NonRecoverable(fmt.Errorf("java: %w", err))
	}
	spec := exec.SpecFor(cfg, d.cfg.StateRoot)
	spec.Command, spec.Args = java, tc.JavaArgs()
	spec.ExtraReadOnly = jvmPaths(java)
	spec.Identity = ident

	var st handleState
	var runner isolation.Runner
	if d.isolated() {
		c, err := isolation.Start(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("java: start task %q: %w", cfg.ID, err)
		}
		st.Isolated, st.Container, st.Pid = true, c.State(), c.State().Pid
		runner = c
	} else {
		if err := checkPlain(spec); err != nil {
			return nil, drivers.NonRecoverable(fmt.Errorf("java: %w", err))
		}
		p, err := startPlain(spec)
		if err != nil {
			return nil, fmt.Errorf("java: start task %q: %w", cfg.ID, err)
		}
		st.Pid, st.StartTicks, st.BootID = p.pid, p.startTicks, rawexec.BootID()
		runner = p
	}
	started := time.Now()
	d.tasks.AddTask(cfg, runner, started)
	state, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("java: encode handle: %w", err)
	}
	return &drivers.TaskHandle{Version: handleVersion, Driver: Name, Config: cfg, DriverState: state, StartedAt: started}, nil
}

// jvmPaths are the host paths an isolated JVM needs beyond the standard
// read-only set: its home when outside /usr, and the /etc directories
// distribution JDKs link their configuration and CA certificates into.
func jvmPaths(java string) []string {
	var out []string
	home := filepath.Dir(filepath.Dir(java))
	if !strings.HasPrefix(home, "/usr/") {
		out = append(out, home)
	}
	if m, err := filepath.Glob("/etc/java*"); err == nil {
		out = append(out, m...)
	}
	return append(out, "/etc/ssl/certs")
}

// Recover implements drivers.Driver.
func (d *Driver) Recover(ctx context.Context, h *drivers.TaskHandle) error {
	if h == nil || h.Config == nil {
		return fmt.Errorf("java: recover: empty handle: %w", drivers.ErrTaskNotFound)
	}
	if d.tasks.Has(h.Config.ID) {
		return nil
	}
	var st handleState
	if err := json.Unmarshal(h.DriverState, &st); err != nil {
		return fmt.Errorf("java: recover %q: decode handle: %w: %w", h.Config.ID, err, drivers.ErrTaskNotFound)
	}
	var runner isolation.Runner
	if st.Isolated {
		c, err := isolation.Recover(st.Container)
		if err != nil {
			return fmt.Errorf("java: recover %q: %w", h.Config.ID, err)
		}
		runner = c
	} else {
		p, err := recoverPlain(st.Pid, st.StartTicks, st.BootID)
		if err != nil {
			return fmt.Errorf("java: recover %q: %w", h.Config.ID, err)
		}
		runner = p
	}
	d.tasks.AddTask(h.Config, runner, h.StartedAt)
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
func (d *Driver) Signal(taskID string, signal string) error { return d.tasks.Signal(taskID, signal) }

// Destroy implements drivers.Driver.
func (d *Driver) Destroy(taskID string, force bool) error { return d.tasks.Destroy(taskID, force) }

// Inspect implements drivers.Driver.
func (d *Driver) Inspect(taskID string) (*drivers.TaskStatus, error) { return d.tasks.Inspect(taskID) }

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

// ExecRunsOnHost implements drivers.HostExecer: a JVM run without exec's
// isolation runs its commands on the host.
func (d *Driver) ExecRunsOnHost(taskID string) bool {
	r := d.tasks.Runner(taskID)
	if r == nil {
		return true // unknown: ask for the stronger capability
	}
	_, plain := r.(*plainProc)
	return plain
}
