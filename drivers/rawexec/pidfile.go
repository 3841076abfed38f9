package rawexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pidFileName records the shim's identity in the task's state dir right
// after it starts: the state dir's path depends only on the task ID, so a
// Start after an agent crash (the handle never reached the client's state)
// finds the copy the crashed agent started.
const pidFileName = "shim-pid"

// writePidFile records pid, its start ticks and the boot, atomically so a
// crash mid-write leaves either no file or a whole one.
func writePidFile(stateDir string, pid int, ticks uint64) error {
	tmp := filepath.Join(stateDir, pidFileName+".tmp")
	data := fmt.Sprintf("%d %d %s\n", pid, ticks, bootID())
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(stateDir, pidFileName)); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

// readPidFile returns the recorded shim; ok is false when there is no
// usable record from this boot.
func readPidFile(stateDir string) (pid int, ticks uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join(stateDir, pidFileName))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[0])
	ticks, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, false
	}
	if b := bootID(); b != "" && b != f[2] {
		return 0, 0, false
	}
	return pid, ticks, true
}

// reapOrphan kills the task a crashed agent started under stateDir, if it
// still runs, and empties the dir for a fresh start.
func (d *Driver) reapOrphan(taskID, stateDir string) error {
	if pid, ticks, ok := readPidFile(stateDir); ok && sameProcess(pid, ticks) {
		d.logger.Warn("killing task left by a previous agent", "task", taskID, "pid", pid)
		// The shim leads its own process group, so this reaches every
		// process the task spawned.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing orphaned task pid %d: %w", pid, err)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(killGrace)
		for sameProcess(pid, ticks) {
			if time.Now().After(deadline) {
				return fmt.Errorf("orphaned task pid %d still running %s after SIGKILL", pid, killGrace)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("clearing task state dir: %w", err)
	}
	return nil
}
