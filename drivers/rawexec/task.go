package rawexec

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers"
)

// task is one running (or finished) raw_exec process group.
type task struct {
	id         string
	name       string
	pid        int // also the process group ID (Setpgid)
	startTicks uint64
	startedAt  time.Time
	// child is false for a re-attached task, whose exit cannot be reaped.
	child bool

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

// signalLeader signals only the task's main process.
func (t *task) signalLeader(sig syscall.Signal) error {
	if t.exited() {
		return errors.New("task has exited")
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
