// Package tasklock keeps at most one copy of a task alive across agent
// crashes.
//
// Each task has a lock file at a path that depends only on its ID. Before a
// driver starts the task's supervisor it takes an exclusive flock on that
// file and writes an intent record into it; the open file is then handed to
// the supervisor (the shim) as an inherited descriptor, which the shim keeps,
// close-on-exec, for its whole life. A flock belongs to the open file
// description, so the lock is held from before the supervisor exists until
// the supervisor is dead, whether or not the agent that started it is still
// around. An agent that crashed anywhere in a start therefore leaves either
// no supervisor or one that holds the lock; the next start of the same task
// finds the lock busy, kills every process holding the file open, and only
// then starts its own copy.
package tasklock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FD is the descriptor number shims find the lock file at.
const FD = 6

// Killer ends a process found holding a task's lock file: the driver knows
// what it is (a process group leader, a PID namespace's init).
type Killer func(pid int) error

// Lock is a task's lock, held by this process until Release.
type Lock struct {
	path string
	f    *os.File
}

// Acquire takes the task's lock at path, creating the file. When a copy of
// the task left by an earlier agent holds it, every process holding the file
// open is killed with kill and the lock is taken once they are gone; it
// fails if that takes longer than wait. intent is written into the file
// (replacing what was there) as a record of the start in progress.
func Acquire(path, intent string, kill Killer, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("task lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("task lock: %w", err)
	}
	if err := lockOrReap(f, path, kill, wait); err != nil {
		f.Close()
		return nil, err
	}
	if err := writeIntent(f, intent); err != nil {
		f.Close()
		return nil, fmt.Errorf("task lock: writing intent: %w", err)
	}
	return &Lock{path: path, f: f}, nil
}

// writeIntent replaces the file's content with the intent record. The file
// is normally new (Remove unlinks it when a task is destroyed); only one
// left by a crash is truncated first, since truncating a file with data
// makes ext4 flush it on close, which costs a millisecond per start.
func writeIntent(f *os.File, intent string) error {
	if st, err := f.Stat(); err != nil || st.Size() > 0 {
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	_, err := f.WriteAt([]byte(intent+"\n"), 0)
	return err
}

// lockOrReap takes the flock on f, killing holders until it is free.
func lockOrReap(f *os.File, path string, kill Killer, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	killed := map[int]bool{}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("task lock %s: %w", path, err)
		}
		holders, herr := Holders(path)
		if herr != nil {
			return fmt.Errorf("task lock %s: finding its holders: %w", path, herr)
		}
		for _, pid := range holders {
			if killed[pid] {
				continue
			}
			killed[pid] = true
			if err := kill(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("task lock %s: killing holder %d: %w", path, pid, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task lock %s: a copy of the task (pids %v) still holds it after %s", path, holders, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// File is the lock file to hand to the supervisor at descriptor FD.
func (l *Lock) File() *os.File { return l.f }

// Release closes this process's descriptor. The lock stays held by a
// supervisor that inherited it; with none, it is free.
func (l *Lock) Release() error { return l.f.Close() }

// Discard ends a start that failed: it deletes the lock file, unless some
// other process still holds it open (a supervisor of the failed start that
// is not dead yet), and releases the lock. A file left in place is found
// and its holder killed by the next start.
func (l *Lock) Discard() error {
	if holders, err := Holders(l.path); err == nil && len(holders) == 0 {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.f.Close()
			return fmt.Errorf("task lock: %w", err)
		}
	}
	return l.f.Close()
}

// Remove deletes the lock file of a task that is gone for good: it takes
// the lock first (killing any holder), so the file is never unlinked under
// a live copy, which would let the next start lock a fresh file beside it.
func Remove(path string, kill Killer, wait time.Duration) error {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("task lock: %w", err)
	}
	defer f.Close()
	if err := lockOrReap(f, path, kill, wait); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("task lock: %w", err)
	}
	return nil
}

// Held reports whether some process holds the task's lock.
func Held(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// We got it, so nobody held it exclusively; ours goes with the close.
	return false, nil
}

// Holders lists the processes (other than this one) that have the file at
// path open. It walks /proc, so it is only used when a lock is found busy,
// which happens only after an agent crash left a copy behind. The pid a shim
// recorded in the file is checked first, which usually ends the search.
func Holders(path string) ([]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, err
	}
	self := os.Getpid()
	if pid := recordedPid(path); pid > 0 && pid != self && hasOpen(pid, st.Dev, st.Ino) {
		return []int{pid}, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if hasOpen(pid, st.Dev, st.Ino) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// recordedPid is the pid a shim wrote as "pid <n>" into the lock file.
func recordedPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := strings.CutPrefix(string(line), "pid "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
				return n
			}
		}
	}
	return 0
}

// hasOpen reports whether pid has the file (dev, ino) open.
func hasOpen(pid int, dev, ino uint64) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(dir+"/"+fd.Name(), &st) == nil && st.Dev == dev && st.Ino == ino {
			return true
		}
	}
	return false
}
