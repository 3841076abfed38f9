package rawexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/tasklock"
)

// pollInterval is how often a re-attached task is checked when the kernel
// lacks pidfd_open.
const pollInterval = time.Second

// Recover implements drivers.Driver. The pid must still name the process
// started for the task (same boot, same start time) or ErrTaskNotFound is
// returned. The process is then watched through a pidfd registered with the
// Go poller, so no thread blocks per task.
func (d *Driver) Recover(ctx context.Context, h *drivers.TaskHandle) error {
	if h == nil || h.Config == nil {
		return fmt.Errorf("raw_exec: recover: handle without task config: %w", drivers.ErrTaskNotFound)
	}
	if h.Driver != "" && h.Driver != Name {
		return fmt.Errorf("raw_exec: recover: handle belongs to driver %q: %w", h.Driver, drivers.ErrTaskNotFound)
	}
	var ds driverState
	if err := json.Unmarshal(h.DriverState, &ds); err != nil {
		return fmt.Errorf("raw_exec: recover: decoding state: %w: %w", err, drivers.ErrTaskNotFound)
	}
	if ds.Pid <= 0 {
		return fmt.Errorf("raw_exec: recover: invalid pid %d: %w", ds.Pid, drivers.ErrTaskNotFound)
	}
	id := h.Config.ID
	d.mu.Lock()
	if t, ok := d.tasks[id]; ok && t.pid == ds.Pid {
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()

	if b := bootID(); ds.BootID != "" && b != "" && b != ds.BootID {
		return fmt.Errorf("raw_exec: recover %q: host rebooted: %w", id, drivers.ErrTaskNotFound)
	}
	t := newTask(id, h.Config.Name, ds.Pid, ds.StartTicks, h.StartedAt, false)
	t.cfg = h.Config
	if ds.StateDir != "" {
		t.shim, t.stateDir, t.statusPath = true, ds.StateDir, filepath.Join(ds.StateDir, statusFileName)
	}
	if !sameProcess(ds.Pid, ds.StartTicks) {
		// The task ended while no agent watched: its shim left the exit.
		if res, ok := readStatus(t.statusPath); t.shim && ok {
			t.finish(res)
			d.mu.Lock()
			d.tasks[id] = t
			d.mu.Unlock()
			return nil
		}
		// The client will start the task again. A copy a crashed agent
		// started after this handle was saved (a restart whose handle never
		// reached the state file) must not run meanwhile, nor beside it.
		if err := tasklock.Remove(d.taskLockPath(id), d.loggingKiller(id), killGrace); err != nil {
			d.logger.Warn("reaping a second copy of the task", "task", id, "error", err)
		}
		return fmt.Errorf("raw_exec: recover %q: pid %d is gone: %w", id, ds.Pid, drivers.ErrTaskNotFound)
	}
	if err := d.watch(t); err != nil {
		return fmt.Errorf("raw_exec: recover %q: %w", id, err)
	}
	d.mu.Lock()
	d.tasks[id] = t
	d.mu.Unlock()
	d.logger.Debug("task re-attached", "task", id, "pid", ds.Pid)
	return nil
}

// sameProcess reports whether pid is alive and is the process that started
// at startTicks. A zombie counts as gone.
func sameProcess(pid int, startTicks uint64) bool {
	st, err := readProcStat(pid)
	return err == nil && st.StartTicks == startTicks && st.State != 'Z'
}

var unknownExit = func() *drivers.ExitResult { return &drivers.ExitResult{ExitCode: -1, Err: ErrExitStatusUnknown} }

// watch reports a re-attached task's exit.
func (d *Driver) watch(t *task) error {
	fd, err := unix.PidfdOpen(t.pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pid %d is gone: %w", t.pid, drivers.ErrTaskNotFound)
		}
		go d.pollExit(t)
		return nil
	}
	// The pid could have been reused between the check and pidfd_open;
	// the pidfd pins the process, so checking again settles it.
	if !sameProcess(t.pid, t.startTicks) {
		unix.Close(fd)
		return fmt.Errorf("pid %d is gone: %w", t.pid, drivers.ErrTaskNotFound)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		go d.pollExit(t)
		return nil
	}
	t.pidfd = f
	go func() {
		// The callback runs again each time the poller sees the pidfd
		// readable, which happens when the process exits.
		err := rc.Read(func(fd uintptr) bool {
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return n > 0
		})
		if err != nil && sameProcess(t.pid, t.startTicks) {
			// Closed by Destroy while the process lives: fall back.
			d.pollExit(t)
			return
		}
		t.finish(t.exitAfterWatch())
	}()
	return nil
}

// exitAfterWatch is the exit of a re-attached task: the shim's record when
// there is one.
func (t *task) exitAfterWatch() *drivers.ExitResult {
	if t.shim {
		return t.shimExit(unknownExit())
	}
	return unknownExit()
}

func (d *Driver) pollExit(t *task) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for range tick.C {
		if t.exited() {
			return
		}
		if !sameProcess(t.pid, t.startTicks) {
			t.finish(t.exitAfterWatch())
			return
		}
	}
}

func pidfdSendSignal(fd int, sig syscall.Signal) error {
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}
