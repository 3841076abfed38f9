// Package hooks is the contract between the client's allocation and task
// runners and the features that act on an allocation's life: artifacts,
// templates, volumes, the network namespace, services and checks, identity
// tokens, dispatch payloads, shutdown delays. Each feature is a hook: a
// small value that implements only the stages it needs. The runners
// (client/allocrunner) drive the stages in registration order; they do not
// grow a branch per feature.
//
// Stages of an allocation (AllocRunner):
//
//	Prerun  → tasks run → [PreKill → tasks killed] → Postrun → Destroy
//	Update whenever the servers send a newer version of the allocation.
//
// Stages of a task (TaskRunner), repeated for every (re)start:
//
//	Prestart → driver start or re-attach → Poststart → … → Exited
//	PreKill before the runner kills a running task; Stop once the task is
//	dead for good; Shutdown instead of Stop when the agent stops and leaves
//	the task running; Update whenever the allocation changes.
//
// Errors: an error from Prestart is recoverable (the task goes through its
// restart policy) unless wrapped with drivers.NonRecoverable, which fails
// the task at once with the error as its reason. An error from an alloc
// Prerun fails the allocation (there is no allocation-level restart). Errors
// from the other stages are logged: they cannot undo what already happened.
//
// Persistence: a task hook may store a small Data map and mark itself Done
// in its Prestart response. Both are persisted in the client's state file
// with the task; after an agent restart a Done hook's Prestart is not called
// again (an artifact is not fetched twice) and the Env, Mounts, Devices and
// NetworkIsolation it contributed are applied from the saved copy. Alloc
// hooks persist Data and Done the same way.
//
// Concurrency: a runner calls the stages of one hook from its own goroutine,
// in order, except Update, which may run concurrently with the others. A
// hook guards its own state.
package hooks

import (
	"context"
	"errors"
	"log/slog"

	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Hook is what every hook implements: Name identifies it in logs, task
// events and the persisted state, so it must be stable across releases.
type Hook interface {
	Name() string
}

// AllocDir holds the host paths of an allocation's shared directories.
type AllocDir struct {
	// Root is <data-dir>/alloc/<alloc-id>.
	Root string
	// SharedDir is Root/alloc, mounted as /alloc in isolated tasks.
	SharedDir string
	// LogDir is SharedDir/logs.
	LogDir string
}

// TaskDir holds the host paths of one task's directories.
type TaskDir struct {
	// Dir is Root/<task>.
	Dir string
	// LocalDir (NOMAD_TASK_DIR), SecretsDir and TmpDir are inside Dir.
	LocalDir   string
	SecretsDir string
	TmpDir     string
}

// ---------------------------------------------------------------------------
// Allocation hooks

// AllocHookConfig is what an alloc hook is built from.
type AllocHookConfig struct {
	// Alloc is the allocation as the runner first received it.
	Alloc *structs.Allocation
	Dir   AllocDir
	// NodeInfo describes the node for interpolation.
	NodeInfo taskenv.NodeInfo
	Logger   *slog.Logger
	// Lifecycle lets the hook act on the whole allocation.
	Lifecycle AllocLifecycle
}

// AllocHookFactory builds a hook for one allocation; nil means the hook has
// nothing to do for it (e.g. no group service, no max_run_duration).
type AllocHookFactory func(cfg *AllocHookConfig) Hook

// AllocLifecycle is what alloc hooks may do to their allocation.
type AllocLifecycle interface {
	// Kill stops every task of the allocation for good, running the
	// PreKill stages first. With failed set the killed tasks are marked
	// failed with reason, so the allocation fails (max_run_duration).
	Kill(reason string, failed bool)
	// TaskStates returns each task's current state.
	TaskStates() map[string]*structs.TaskState
	// SetHealth records the allocation's health as judged for the
	// deployment deploymentID ("" outside a deployment, judged by the
	// migrate block); the runner reports it to the servers with the
	// allocation's status. See client/health.
	SetHealth(deploymentID string, healthy bool)
	// Event records ev on every task of the allocation (what happened to
	// the allocation as a whole, e.g. its previous data not migrated).
	Event(ev *structs.TaskEvent)
}

// AllocHookState is an alloc hook's persisted state.
type AllocHookState struct {
	Done bool              `json:",omitempty"`
	Data map[string]string `json:",omitempty"`
	// NetworkIsolation is the contribution saved with Done.
	NetworkIsolation *drivers.NetworkIsolationSpec `json:",omitempty"`
	Network          *AllocNetworkStatus           `json:",omitempty"`
}

// AllocNetworkStatus is the allocation's own network address when it has
// one (bridge networking), as services and checks need it.
type AllocNetworkStatus struct {
	InterfaceName string
	Address       string
	// DNS servers the namespace was set up with, if any.
	DNS []string `json:",omitempty"`
}

// AllocPrerunRequest is the input of Prerun.
type AllocPrerunRequest struct {
	Alloc *structs.Allocation
	// Restored is set when the allocation was restored from the state file
	// after an agent restart (its tasks may still be running).
	Restored bool
	// Data is what this hook stored in an earlier Prerun (nil: none).
	Data map[string]string
	// Network is the allocation's own address as earlier hooks set it up
	// (the network hook runs first), nil in host networking.
	Network *AllocNetworkStatus
}

// AllocPrerunResponse is what Prerun contributes.
type AllocPrerunResponse struct {
	// NetworkIsolation is given to every task's driver (bridge mode).
	NetworkIsolation *drivers.NetworkIsolationSpec
	// Network is the allocation's address inside that namespace.
	Network *AllocNetworkStatus
	// Data replaces the hook's persisted data when non-nil.
	Data map[string]string
	// Done: Prerun is not called again for this allocation; the
	// contributions above are restored from the state file instead.
	Done bool
}

// AllocPrerunHook runs before any task starts (and again after an agent
// restart). An error fails the allocation.
type AllocPrerunHook interface {
	Hook
	Prerun(ctx context.Context, req *AllocPrerunRequest, resp *AllocPrerunResponse) error
}

// AllocUpdateRequest carries a newer server version of the allocation.
type AllocUpdateRequest struct {
	Alloc *structs.Allocation
}

// AllocUpdateHook sees every newer version of the allocation.
type AllocUpdateHook interface {
	Hook
	Update(ctx context.Context, req *AllocUpdateRequest) error
}

// AllocTaskStateHook is told the allocation's task states whenever they
// change (a task started, restarted, died), from the runner's goroutine: it
// must not block.
type AllocTaskStateHook interface {
	Hook
	TaskStatesChanged(states map[string]*structs.TaskState)
}

// AllocPreKillRequest is the input of PreKill.
type AllocPreKillRequest struct {
	Alloc *structs.Allocation
	// NoShutdownDelay is set when the stop asked to skip shutdown delays
	// (`nomad job stop -no-shutdown-delay`).
	NoShutdownDelay bool
}

// AllocPreKillHook runs once when the allocation is about to be stopped,
// before its tasks are killed: group services deregister here, then the
// group's shutdown_delay passes. The runner waits for it; ctx ends when the
// agent shuts down.
type AllocPreKillHook interface {
	Hook
	PreKill(ctx context.Context, req *AllocPreKillRequest)
}

// AllocPostrunRequest is the input of Postrun.
type AllocPostrunRequest struct {
	Alloc *structs.Allocation
	// ClientStatus is the allocation's final client status.
	ClientStatus string
}

// AllocPostrunHook runs once every task is dead for good (not when the
// agent shuts down and leaves tasks running): tear down what Prerun built.
type AllocPostrunHook interface {
	Hook
	Postrun(ctx context.Context, req *AllocPostrunRequest) error
}

// AllocDestroyHook runs when the client forgets the allocation, after
// Postrun: remove what must not outlive it.
type AllocDestroyHook interface {
	Hook
	Destroy(ctx context.Context) error
}

// ---------------------------------------------------------------------------
// Task hooks

// TaskHookConfig is what a task hook is built from.
type TaskHookConfig struct {
	// Alloc and Task are as the runner first received them; requests carry
	// the latest allocation.
	Alloc    *structs.Allocation
	Task     *structs.Task
	AllocDir AllocDir
	TaskDir  TaskDir
	// Driver runs the task (never nil for a hook: a task without its
	// driver fails before any hook is built).
	Driver   drivers.Driver
	NodeInfo taskenv.NodeInfo
	Logger   *slog.Logger
	// Events records a task event (persisted, reported to the servers).
	Events func(ev *structs.TaskEvent)
	// Lifecycle lets the hook restart, signal or kill the task.
	Lifecycle TaskLifecycle
}

// TaskHookFactory builds a hook for one task; nil means nothing to do.
type TaskHookFactory func(cfg *TaskHookConfig) Hook

// TaskLifecycle is what task hooks may do to their task.
type TaskLifecycle interface {
	// Restart stops the running task and starts it again. A failure
	// restart (check_restart) counts against the restart policy and waits
	// its delay; otherwise (a re-rendered template) it restarts at once and
	// is not counted. It returns ErrTaskNotRunning when no task runs.
	Restart(ctx context.Context, ev *structs.TaskEvent, failure bool) error
	// Signal sends sig (e.g. "SIGHUP") to the running task.
	Signal(ev *structs.TaskEvent, sig string) error
	// Kill stops the task for good; ev.FailsTask marks it failed. It
	// returns at once: a Prestart blocked in the same task sees its ctx end.
	Kill(ev *structs.TaskEvent)
}

// TaskHookState is a task hook's persisted state.
type TaskHookState struct {
	Done bool              `json:",omitempty"`
	Data map[string]string `json:",omitempty"`
	// The contributions saved with Done, re-applied without calling
	// Prestart again.
	Env              map[string]string             `json:",omitempty"`
	Mounts           []*drivers.MountConfig        `json:",omitempty"`
	Devices          []*drivers.DeviceConfig       `json:",omitempty"`
	NetworkIsolation *drivers.NetworkIsolationSpec `json:",omitempty"`
}

// TaskPrestartRequest is the input of Prestart.
type TaskPrestartRequest struct {
	Alloc *structs.Allocation
	Task  *structs.Task
	// TaskEnv is the task's environment so far (the runner's base
	// environment plus what earlier hooks contributed), for interpolation.
	TaskEnv *taskenv.Env
	// Reattach is set when the task is already running (an agent restart
	// found it): the hook must not disturb it (a template's first render
	// must not trigger its change_mode).
	Reattach bool
	// Data is what this hook stored in an earlier Prestart (nil: none).
	Data map[string]string
}

// TaskPrestartResponse is what Prestart contributes to the driver's
// TaskConfig. Later hooks override earlier ones' Env keys; Mounts and
// Devices accumulate; the last NetworkIsolation set wins (and a task
// hook's wins over an alloc hook's).
type TaskPrestartResponse struct {
	// Env is added to the task's environment (template env = true, device
	// IDs). It overrides the job's env block, as in Nomad.
	Env     map[string]string
	Mounts  []*drivers.MountConfig
	Devices []*drivers.DeviceConfig
	// Interp resolves ${name} in the task's config and later hooks
	// without entering the process environment (secret.<name>.<key>).
	// It is not persisted: a hook setting it must not be Done.
	Interp map[string]string
	// NetworkIsolation puts the task in a network namespace.
	NetworkIsolation *drivers.NetworkIsolationSpec
	// Data replaces the hook's persisted data when non-nil.
	Data map[string]string
	// Done: Prestart is not called again for this task, even after an
	// agent restart; the contributions above are re-applied from the
	// state file.
	Done bool
}

// TaskPrestartHook prepares a (re)start of the task. It may block (waiting
// for a template's data); ctx ends when the task is killed or the agent
// stops.
type TaskPrestartHook interface {
	Hook
	Prestart(ctx context.Context, req *TaskPrestartRequest, resp *TaskPrestartResponse) error
}

// TaskPoststartRequest is the input of Poststart.
type TaskPoststartRequest struct {
	Alloc   *structs.Allocation
	Task    *structs.Task
	TaskEnv *taskenv.Env
	// Handle is the driver's handle of the running task.
	Handle *drivers.TaskHandle
	// Ports are the group's ports mapped onto the node (host IP, host
	// port, port inside the task).
	Ports []structs.AllocatedPort
	// Network is the allocation's own address (bridge mode), nil in host
	// networking.
	Network *AllocNetworkStatus
	// Reattached is set when the task was found running after an agent
	// restart rather than started now.
	Reattached bool
}

// TaskPoststartHook runs after the task started or was re-attached:
// register services, start checks.
type TaskPoststartHook interface {
	Hook
	Poststart(ctx context.Context, req *TaskPoststartRequest) error
}

// TaskUpdateRequest carries a newer version of the allocation.
type TaskUpdateRequest struct {
	Alloc   *structs.Allocation
	TaskEnv *taskenv.Env
}

// TaskUpdateHook sees every newer version of the allocation.
type TaskUpdateHook interface {
	Hook
	Update(ctx context.Context, req *TaskUpdateRequest) error
}

// TaskExitedRequest is the input of Exited.
type TaskExitedRequest struct {
	Result *drivers.ExitResult
}

// TaskExitedHook runs each time the task's process ends, before the
// restart policy decides what happens next.
type TaskExitedHook interface {
	Hook
	Exited(ctx context.Context, req *TaskExitedRequest) error
}

// TaskPreKillRequest is the input of PreKill.
type TaskPreKillRequest struct {
	Alloc *structs.Allocation
	// NoShutdownDelay is set when the stop asked to skip shutdown delays.
	NoShutdownDelay bool
}

// TaskPreKillHook runs before the runner kills the running task: task
// services deregister here, then the task's shutdown_delay passes.
type TaskPreKillHook interface {
	Hook
	PreKill(ctx context.Context, req *TaskPreKillRequest)
}

// TaskStopRequest is the input of Stop.
type TaskStopRequest struct {
	Alloc *structs.Allocation
	State *structs.TaskState
}

// TaskStopHook runs once the task is dead for good: release what Prestart
// and Poststart set up.
type TaskStopHook interface {
	Hook
	Stop(ctx context.Context, req *TaskStopRequest) error
}

// TaskShutdownHook runs instead of Stop when the agent stops and leaves the
// task running for the next agent to re-attach to.
type TaskShutdownHook interface {
	Hook
	Shutdown()
}

// ErrTaskNotRunning is returned by TaskLifecycle methods that need a
// running task when none runs (not started yet, between restarts, dead).
var ErrTaskNotRunning = errors.New("task is not running")
