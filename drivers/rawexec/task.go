package rawexec

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers"
)

// task is one running (or finished) raw_exec process group.
type task struct {
	id   string
	name string
	// cfg is the task's configuration: commands run in the task (ExecTask)
	// get its environment, directory and user.
	cfg        *drivers.TaskConfig
	pid        int // also the process group ID (Setpgid)
	startTicks uint64
	startedAt  time.Time
	// child is false for a re-attached task, whose exit cannot be reaped.
	child bool
	// shim is set when pid is the task's supervising shim; statusPath is
	// then where it records the exit.
	shim       bool
	stateDir   string
	statusPath string
	// sigkilled is set once the driver SIGKILLed the group: a shim killed
	// that way records nothing, and the kill is the exit to report.
	sigkilled atomic.Bool

	done chan struct{} // closed once result is set

	mu          sync.Mutex
	result      *drivers.ExitResult
	completedAt time.Time
	pidfd       *os.File
	lastCPU     uint64
	lastSample  time.Time
}

func newTask(id, name string, pid int, startTicks uint64, startedAt time.Time, child bool) *task {
	return &task{
		id: id, name: name, pid: pid, startTicks: startTicks, startedAt: startedAt,
		child: child, done: make(chan struct{}),
	}
}

// finish records the exit once; later calls are ignored.
func (t *task) finish(res *drivers.ExitResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.result != nil {
		return
	}
	t.result = res
	t.completedAt = time.Now()
	close(t.done)
}

func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *task) exitResult() *drivers.ExitResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.result == nil {
		return nil
	}
	r := *t.result
	return &r
}

// signalGroup signals every process of the task's group. Once the leader is
// gone its pid could be reused, so the group is only signalled when the pid
// is free or still names our leader: a live group keeps its ID reserved, and
// a different process holding the pid means the group is gone.
func (t *task) signalGroup(sig syscall.Signal) error {
	if st, err := readProcStat(t.pid); err == nil && st.StartTicks != t.startTicks {
		return nil
	}
	err := syscall.Kill(-t.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// signalLeader signals only the task's main process; through a shim,
// as a queued signal the shim hands to the main process alone.
func (t *task) signalLeader(sig syscall.Signal) error {
	if t.exited() {
		return errors.New("task has exited")
	}
	if t.shim {
		if !sameProcess(t.pid, t.startTicks) {
			return errors.New("task has exited")
		}
		return sigqueue(t.pid, sig)
	}
	t.mu.Lock()
	pidfd := t.pidfd
	t.mu.Unlock()
	if pidfd != nil {
		// A pidfd cannot be fooled by pid reuse.
		rc, err := pidfd.SyscallConn()
		if err == nil {
			var serr error
			if cerr := rc.Control(func(fd uintptr) { serr = pidfdSendSignal(int(fd), sig) }); cerr == nil {
				return serr
			}
		}
	}
	return syscall.Kill(t.pid, sig)
}

// exitResultFromState converts a reaped wait status.
func exitResultFromState(ps *os.ProcessState, waitErr error) *drivers.ExitResult {
	if ps == nil {
		return &drivers.ExitResult{ExitCode: -1, Err: waitErr}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return &drivers.ExitResult{ExitCode: ps.ExitCode()}
	}
	if ws.Signaled() {
		// Shells report death by signal n as 128+n; so does Nomad.
		return &drivers.ExitResult{ExitCode: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	return &drivers.ExitResult{ExitCode: ws.ExitStatus()}
}

// signalTree asks the shim to forward sig to the task's whole group, so
// each process gets it once (a group-wide kill would reach the task twice:
// directly and forwarded). Without a shim the group is signalled directly.
func (t *task) signalTree(sig syscall.Signal) error {
	if !t.shim || sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
		return t.signalGroup(sig)
	}
	if !sameProcess(t.pid, t.startTicks) {
		// The shim is gone; leftovers of the group still get the signal.
		return t.signalGroup(sig)
	}
	err := syscall.Kill(t.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// shimExit settles the exit of a shim-supervised task: the shim's record
// first (it knows the task's real status even when we are not its parent),
// then our own SIGKILL, then fallback.
func (t *task) shimExit(fallback *drivers.ExitResult) *drivers.ExitResult {
	if res, ok := readStatus(t.statusPath); ok {
		return res
	}
	if t.sigkilled.Load() {
		return &drivers.ExitResult{ExitCode: 128 + int(syscall.SIGKILL), Signal: int(syscall.SIGKILL)}
	}
	return fallback
}
