package rawexec

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers/tasklock"
)

// taskLockPath is the task's lock file (see drivers/tasklock): beside, not
// inside, its state dir, which a new start empties; the lock file must keep
// its inode while any copy of the task may hold it.
func (d *Driver) taskLockPath(taskID string) string {
	return filepath.Join(d.stateRoot, url.PathEscape(taskID)+".lock")
}

// killGroup ends a process found holding a task's lock: a shim leads its
// task's process group, so the group goes with it; a shim's child between
// fork and exec is reached by the group kill too.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if perr := syscall.Kill(pid, syscall.SIGKILL); perr == nil || errors.Is(err, syscall.ESRCH) {
		err = perr
	}
	return err
}

// lockTask takes the task's lock for a start, killing a copy an earlier
// agent left running (it crashed between starting the shim and persisting
// the handle), and clears the task's state dir for the new copy.
func (d *Driver) lockTask(taskID, stateDir string) (*tasklock.Lock, error) {
	intent := fmt.Sprintf("intent task=%s agent=%d at=%s", taskID, os.Getpid(), time.Now().UTC().Format(time.RFC3339Nano))
	l, err := tasklock.Acquire(d.taskLockPath(taskID), intent, d.loggingKiller(taskID), killGrace)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(stateDir); err != nil {
		l.Release()
		return nil, fmt.Errorf("clearing task state dir: %w", err)
	}
	return l, nil
}

func (d *Driver) loggingKiller(taskID string) tasklock.Killer {
	return func(pid int) error {
		d.logger.Warn("killing a copy of the task left by a previous agent", "task", taskID, "pid", pid)
		return killGroup(pid)
	}
}

// testCrashAfterShimStart, when it returns true, makes Start give up right
// after the shim started, recording nothing, as an agent killed at that
// moment would.
var testCrashAfterShimStart func() bool

var errCrashed = errors.New("raw_exec: simulated crash after the shim started")
