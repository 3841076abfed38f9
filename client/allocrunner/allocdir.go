package allocrunner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
)

// AllocDir is an allocation's directory tree:
//
//	<root>/alloc/{logs,data,tmp}        shared by the group's tasks
//	<root>/<task>/{local,secrets,tmp}   one per task
type AllocDir struct {
	Root string
}

// NewAllocDir returns the tree of allocID under base (<data-dir>/alloc).
func NewAllocDir(base, allocID string) *AllocDir {
	return &AllocDir{Root: filepath.Join(base, allocID)}
}

// SharedDir is mounted as /alloc in isolated tasks.
func (d *AllocDir) SharedDir() string { return filepath.Join(d.Root, "alloc") }

// LogDir holds the rotated logs and the output FIFOs.
func (d *AllocDir) LogDir() string { return filepath.Join(d.Root, "alloc", "logs") }

// invalidTaskDir is what TaskDir answers for a name ValidTaskName refuses:
// a path inside the alloc dir that Build never creates, so a caller that
// skipped the check fails on a missing directory instead of touching a
// path outside the allocation.
const invalidTaskDir = ".invalid-task-name"

// ValidTaskName reports why name cannot name a task directory: the task's
// directory, log files and output FIFOs are all named after it, so it must
// be exactly one path element directly under the alloc root. Jobs are
// validated by the server already; this is the client's own guard against
// a job that reached it some other way.
func ValidTaskName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("invalid task name %q: must be a non-empty name other than \".\" and \"..\"", name)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("invalid task name %q: must not contain a path separator", name)
	case name == invalidTaskDir, name == "alloc":
		return fmt.Errorf("invalid task name %q: reserved", name)
	}
	for _, r := range name {
		if r == 0 || unicode.IsControl(r) {
			return fmt.Errorf("invalid task name %q: must not contain control characters", name)
		}
	}
	// The checks above already imply this; it is the property that matters,
	// stated directly so a future relaxation of them cannot lose it.
	if filepath.Dir(filepath.Join("/root", name)) != "/root" {
		return fmt.Errorf("invalid task name %q: leaves the alloc dir", name)
	}
	return nil
}

// TaskDir is a task's own directory. For a name ValidTaskName refuses it
// returns a never-built path inside the alloc dir; Build and Built refuse
// such names, which is what makes the task fail at setup.
func (d *AllocDir) TaskDir(task string) string {
	if ValidTaskName(task) != nil {
		return filepath.Join(d.Root, invalidTaskDir)
	}
	return filepath.Join(d.Root, task)
}

// Build creates the tree; existing parts are kept. Directory creation is
// a large part of the time from placement to a running task, so the shared
// part and each task's part are created concurrently (different parent
// directories do not contend for the same inode lock).
func (d *AllocDir) Build(tasks []string) error {
	for _, t := range tasks {
		if err := ValidTaskName(t); err != nil {
			return err
		}
	}
	if err := mkdir(d.Root, 0o755); err != nil {
		return err
	}
	shared := d.SharedDir()
	groups := [][]string{{shared, d.LogDir(), filepath.Join(shared, "data"), filepath.Join(shared, "tmp")}}
	for _, t := range tasks {
		td := d.TaskDir(t)
		groups = append(groups, []string{td, filepath.Join(td, "local"), filepath.Join(td, "secrets"), filepath.Join(td, "tmp")})
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range g {
				if errs[i] = mkdir(p, 0o755); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Tasks of other users must be able to use the shared tmp dir.
	if err := os.Chmod(filepath.Join(shared, "tmp"), 0o1777); err != nil {
		return fmt.Errorf("chmod shared tmp: %w", err)
	}
	return nil
}

// mkdir creates one directory whose parent exists; one syscall when it is
// new, unlike MkdirAll's stat of every parent.
func mkdir(p string, perm os.FileMode) error {
	err := os.Mkdir(p, perm)
	if err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(p, perm); err == nil {
			return nil
		}
	}
	return fmt.Errorf("creating %s: %w", p, err)
}

// Built reports whether a task's directories exist.
func (d *AllocDir) Built(task string) bool {
	if ValidTaskName(task) != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(d.TaskDir(task), "tmp"))
	return err == nil && fi.IsDir()
}

// Destroy removes the tree.
func (d *AllocDir) Destroy() error {
	if err := os.RemoveAll(d.Root); err != nil {
		return fmt.Errorf("removing alloc dir: %w", err)
	}
	return nil
}
