// Package drivers defines the interface every task driver implements
// (raw_exec, exec, docker, java) and the types that cross it. The client's
// task runner is the only caller; drivers never talk to servers.
package drivers

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/orch-project/orch/structs"
)

// ErrTaskNotFound is returned for a task ID the driver does not know.
var ErrTaskNotFound = errors.New("task not found")

// Driver runs tasks of one kind. Implementations must be safe for concurrent
// use: the client calls them from one goroutine per task.
type Driver interface {
	// Name is the value of a task's `driver` field.
	Name() string

	// Fingerprint reports whether the driver can run here and its node
	// attributes (driver.<name>.*). Called at start and periodically, so a
	// driver whose dependency (a daemon, a JVM) comes and goes changes health.
	Fingerprint(ctx context.Context) *structs.DriverInfo

	// ConfigSpec is the schema of the task's `config {}` block. The jobspec
	// decodes the block against it so unknown or mistyped keys are reported
	// with their file:line:col.
	ConfigSpec() hcldec.Spec

	// ValidateConfig checks a decoded config map (as it arrives over the API)
	// beyond what the schema can say.
	ValidateConfig(cfg map[string]any) error

	// Start launches the task and returns a handle to persist; the task keeps
	// running if the client process dies.
	Start(ctx context.Context, cfg *TaskConfig) (*TaskHandle, error)

	// Recover re-attaches to a task started by an earlier client process from
	// its persisted handle. It returns ErrTaskNotFound when the task is gone
	// and its exit status cannot be learned.
	Recover(ctx context.Context, h *TaskHandle) error

	// Wait returns a channel that yields the task's exit once.
	Wait(ctx context.Context, taskID string) (<-chan *ExitResult, error)

	// Stop sends signal (empty: the driver's default, SIGTERM for processes)
	// and, if the task has not exited after timeout, kills it.
	Stop(taskID string, timeout time.Duration, signal string) error

	// Signal delivers a signal without stopping the task.
	Signal(taskID string, signal string) error

	// Destroy frees everything the task held (processes, containers, cgroups,
	// mounts). force kills a still running task first.
	Destroy(taskID string, force bool) error

	// Inspect reports the task's current state.
	Inspect(taskID string) (*TaskStatus, error)

	// Stats samples the task's resource usage.
	Stats(ctx context.Context, taskID string) (*TaskResourceUsage, error)
}

// TaskConfig is everything a driver needs to start one task. The client has
// already interpolated ${...} in Config and Env.
type TaskConfig struct {
	// ID is unique per task instance on the node: "<allocID>/<task>".
	ID        string
	AllocID   string
	Namespace string
	JobName   string
	JobID     string
	Group     string
	Name      string // task name

	Config map[string]any
	Env    map[string]string
	User   string

	// Resources is the scheduler's grant for this task.
	Resources *structs.AllocatedTaskResources
	// Ports are the group's ports mapped onto the node.
	Ports []structs.AllocatedPort

	// AllocDir is the host path of the group's shared directory,
	// <alloc-root>/alloc (mounted as /alloc: logs/, data/, tmp/). TaskDir is
	// <alloc-root>/<task>, with local/, secrets/ and tmp/ inside. Keeping
	// task dirs outside AllocDir means no task sees another's secrets.
	AllocDir string
	TaskDir  string

	// StdoutPath and StderrPath are FIFOs owned by the client's log
	// collector. Drivers open them for writing; the collector rotates what it
	// reads into alloc/logs. Opening them read-write keeps the pipe alive
	// while the client restarts.
	StdoutPath string
	StderrPath string

	// What the client's task hooks add to the task's world (see
	// client/hooks). A driver must honour each entry or fail Start with a
	// NonRecoverable error naming what it cannot do; it never ignores one.

	// Mounts are host paths bind-mounted into the task (host volumes,
	// rendered secrets). A driver without a mount namespace (raw_exec)
	// cannot mount and must refuse them.
	Mounts []*MountConfig `json:",omitempty"`
	// Devices are host device nodes made available to the task.
	Devices []*DeviceConfig `json:",omitempty"`
	// NetworkIsolation, when set, is the network namespace the task joins
	// (bridge networking: one namespace shared by the group's tasks).
	NetworkIsolation *NetworkIsolationSpec `json:",omitempty"`
}

// Mount propagation modes, as in Nomad's volume_mount propagation_mode.
const (
	MountPropagationPrivate       = "private"
	MountPropagationHostToTask    = "host-to-task"
	MountPropagationBidirectional = "bidirectional"
)

// MountConfig is one bind mount of a host path into the task.
type MountConfig struct {
	// TaskPath is where the task sees the mount (absolute inside the task's
	// root, or relative to the task dir).
	TaskPath string
	// HostPath is the source on the host. Hooks resolve it before handing
	// it over; the driver binds exactly this path.
	HostPath string
	Readonly bool
	// PropagationMode is one of the MountPropagation* values; empty means
	// private.
	PropagationMode string `json:",omitempty"`
}

// DeviceConfig is one host device node given to the task.
type DeviceConfig struct {
	// TaskPath is the device's path inside the task (empty: HostPath).
	TaskPath string
	HostPath string
	// Permissions are cgroup device permissions, a subset of "rwm".
	Permissions string
}

// Network isolation modes.
const (
	// NetIsolationModeHost: the task uses the host's network namespace.
	NetIsolationModeHost = "host"
	// NetIsolationModeGroup: the task joins the namespace at Path, shared
	// by every task of its allocation.
	NetIsolationModeGroup = "group"
)

// NetworkCreator is implemented by a driver whose tasks can only join a
// group network namespace the driver holds itself (docker: a container
// joins another container's namespace, not a path). The client's network
// hook asks it for the namespace, then wires that namespace with CNI.
type NetworkCreator interface {
	// CreateNetwork starts (or finds) the allocation's sandbox, with
	// hostname when set (network.hostname), and returns the path of its
	// network namespace and the labels the driver needs in the
	// NetworkIsolationSpec to join it.
	CreateNetwork(ctx context.Context, allocID, hostname string) (nsPath string, labels map[string]string, err error)
	// DestroyNetwork removes the allocation's sandbox; a missing one is
	// not an error.
	DestroyNetwork(ctx context.Context, allocID string) error
}

// LabelAllocAddress, in a group network's isolation spec, is the
// allocation's IP inside the namespace (for an /etc/hosts naming the
// allocation's hostname at it).
const LabelAllocAddress = "alloc_address"

// NetworkIsolationSpec names the network namespace a task runs in.
type NetworkIsolationSpec struct {
	Mode string
	// Path is the namespace's bind-mounted file, e.g. /var/run/netns/<id>.
	Path string
	// Labels are driver-specific facts about the namespace (e.g. the
	// docker pause container that owns it).
	Labels map[string]string `json:",omitempty"`
}

// LocalDir returns the task's local/ directory.
func (c *TaskConfig) LocalDir() string { return c.TaskDir + "/local" }

// SecretsDir returns the task's secrets/ directory.
func (c *TaskConfig) SecretsDir() string { return c.TaskDir + "/secrets" }

// TmpDir returns the task's tmp/ directory.
func (c *TaskConfig) TmpDir() string { return c.TaskDir + "/tmp" }

// TaskHandle is what the client persists to find a running task again.
type TaskHandle struct {
	// Version lets a driver change DriverState's format.
	Version int         `json:"Version"`
	Driver  string      `json:"Driver"`
	Config  *TaskConfig `json:"Config"`
	// DriverState is the driver's own encoded state (pid, container ID, ...).
	DriverState []byte    `json:"DriverState"`
	StartedAt   time.Time `json:"StartedAt"`
}

// ExitResult is how a task ended.
type ExitResult struct {
	ExitCode  int
	Signal    int
	OOMKilled bool
	// Err is set when the driver lost track of the task.
	Err error
}

// Successful reports a clean exit.
func (r *ExitResult) Successful() bool {
	return r.ExitCode == 0 && r.Signal == 0 && !r.OOMKilled && r.Err == nil
}

// Task states reported by Inspect.
const (
	TaskStateUnknown = "unknown"
	TaskStateRunning = "running"
	TaskStateExited  = "exited"
)

// TaskStatus is a task's current state.
type TaskStatus struct {
	ID          string
	Name        string
	State       string
	StartedAt   time.Time
	CompletedAt time.Time
	ExitResult  *ExitResult
	// Attributes are driver facts, e.g. the container ID or pid.
	Attributes map[string]string
}

// TaskResourceUsage is one stats sample.
type TaskResourceUsage struct {
	Timestamp     int64
	CPUPercent    float64
	CPUTotalTicks float64
	MemoryRSS     uint64
	MemoryCache   uint64
	MemoryMaxRSS  uint64
	Pids          map[string]uint64 // pid -> RSS
}

// ExecRequest is a command to run inside a running task's environment.
type ExecRequest struct {
	// Command is the program and its arguments; a program without a slash
	// is looked up in the task's PATH.
	Command []string
	// Stdout and Stderr receive the command's output (nil discards it).
	// On a TTY both streams arrive on Stdout, as a terminal merges them.
	Stdout io.Writer
	Stderr io.Writer
	// Stdin, when set, is the command's standard input; its EOF closes
	// the input (on a TTY: an end-of-file character). Nil: no input.
	Stdin io.Reader
	// TTY runs the command on a pseudo-terminal of its own (`alloc exec
	// -t`), sized by Resize.
	TTY bool
	// Resize delivers the terminal's size whenever it changes (TTY only).
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Height uint16
	Width  uint16
}

// Execer is implemented by drivers that run commands inside a running
// task: in its container or chroot, namespaces and cgroup, as its user,
// with its environment (raw_exec: on the host, in the task's directory,
// as the task's user). Script checks, template change scripts and `alloc
// exec` use it.
type Execer interface {
	// ExecTask runs req in task taskID and returns the command's exit
	// code. The end of ctx kills the command (and what it started).
	ExecTask(ctx context.Context, taskID string, req *ExecRequest) (int, error)
}

// HostExecer is implemented by drivers some of whose tasks run without
// isolation from the node (raw_exec, java without exec's isolation): a
// command run in such a task runs on the host, which Nomad's ACLs guard
// with alloc-node-exec rather than alloc-exec.
type HostExecer interface {
	ExecRunsOnHost(taskID string) bool
}
