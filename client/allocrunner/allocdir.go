package allocrunner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"github.com/orch-project/orch/internal/safefs"
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
// directories do not contend for the same inode lock). Everything below the
// alloc root goes through safefs: a task that replaced one of its dirs with
// a symlink (before an agent restart rebuilds the tree) fails the build
// instead of having the agent create or chmod whatever the link names.
func (d *AllocDir) Build(tasks []string) error {
	for _, t := range tasks {
		if err := ValidTaskName(t); err != nil {
			return err
		}
	}
	root, err := d.create()
	if err != nil {
		return err
	}
	defer root.Close()
	groups := [][]string{{"alloc", "alloc/logs", "alloc/data", "alloc/tmp"}}
	for _, t := range tasks {
		groups = append(groups, []string{t, t + "/local", t + "/secrets", t + "/tmp"})
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range g {
				if errs[i] = mkdir(root, p, 0o755); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Tasks of other users must be able to use the shared tmp dir, and
	// not delete each other's files there.
	if err := root.Chmod("alloc/tmp", os.ModeSticky|0o777); err != nil {
		return fmt.Errorf("chmod shared tmp: %w", err)
	}
	return nil
}

// create makes the alloc root (its parent is the agent's own) and opens it.
func (d *AllocDir) create() (*safefs.Root, error) {
	if err := os.Mkdir(d.Root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("creating %s: %w", d.Root, err)
		}
		if err := os.MkdirAll(d.Root, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d.Root, err)
		}
	}
	return d.Open()
}

// Open returns a safefs root of the alloc dir, through which everything
// the agent does inside it on a task's behalf must go. The caller closes it.
func (d *AllocDir) Open() (*safefs.Root, error) {
	root, err := safefs.OpenRoot(d.Root)
	if err != nil {
		return nil, fmt.Errorf("opening alloc dir: %w", err)
	}
	return root, nil
}

// OpenLogDir returns a safefs root of alloc/logs.
func (d *AllocDir) OpenLogDir() (*safefs.Root, error) {
	root, err := d.Open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	logs, err := root.OpenRoot("alloc/logs")
	if err != nil {
		return nil, fmt.Errorf("opening log dir: %w", err)
	}
	return logs, nil
}

// mkdir creates one directory whose parent exists (one syscall when it is
// new); an existing one must be a real directory.
func mkdir(root *safefs.Root, p string, perm os.FileMode) error {
	err := root.Mkdir(p, perm)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		fi, serr := root.Lstat(p)
		if serr == nil && fi.IsDir() {
			return nil
		}
		if serr == nil {
			return fmt.Errorf("creating %s: %s exists and is not a directory", p, fi.Mode().Type())
		}
		return fmt.Errorf("creating %s: %w", p, serr)
	}
	return fmt.Errorf("creating %s: %w", p, err)
}

// Built reports whether a task's directories exist.
func (d *AllocDir) Built(task string) bool {
	if ValidTaskName(task) != nil {
		return false
	}
	root, err := d.Open()
	if err != nil {
		return false
	}
	defer root.Close()
	fi, err := root.Lstat(task + "/tmp")
	return err == nil && fi.IsDir()
}

// Destroy removes the tree. It never follows a task's link and never
// descends into a mount point (a mount left behind is reported, not
// emptied).
func (d *AllocDir) Destroy() error {
	parent, err := safefs.OpenRoot(filepath.Dir(d.Root))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("removing alloc dir: %w", err)
	}
	defer parent.Close()
	if err := parent.RemoveAll(filepath.Base(d.Root)); err != nil {
		return fmt.Errorf("removing alloc dir: %w", err)
	}
	return nil
}
