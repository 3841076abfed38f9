//go:build linux && cgo

package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/internal/safefs"
)

// Modes of the directories a task writes to. The client creates them
// root-owned 0755; an isolated task runs as an unprivileged user (nobody by
// default), so Start hands them over before the container starts.
const (
	taskDirMode     os.FileMode = 0o755
	secretsDirMode  os.FileMode = 0o700
	sharedDataMode  os.FileMode = 0o777
	sharedTmpMode               = 0o777 | os.ModeSticky
	allocSharedData             = "data"
	allocSharedTmp              = "tmp"
)

// prepareDirs gives the task's user its own local/, secrets/ and tmp/, and
// opens the allocation's shared data/ and tmp/ to every task of the group:
// they may run as different users, so ownership cannot express the
// sharing; tmp/ is sticky so they cannot delete each other's files. Both
// trees are task-writable, so everything goes through safefs: a symlink a
// previous run (or another task of the group) left in place of one of these
// dirs fails the start instead of having the agent chown or chmod its
// target.
func prepareDirs(s *Spec, ident *identity.Identity) error {
	return PrepareDirs(s.TaskDir, s.AllocDir, ident)
}

// PrepareDirs is prepareDirs for a task dir and shared alloc dir given by
// path: raw_exec tasks with a user get the same directories as isolated
// tasks.
func PrepareDirs(taskDir, allocDir string, ident *identity.Identity) error {
	taskRoot, err := safefs.OpenRoot(taskDir)
	if err != nil {
		return fmt.Errorf("open task dir: %w", err)
	}
	defer taskRoot.Close()
	own := []struct {
		name string
		mode os.FileMode
	}{{"local", taskDirMode}, {"secrets", secretsDirMode}, {"tmp", taskDirMode}}
	for _, d := range own {
		if err := ensureDir(taskRoot, d.name, d.mode); err != nil {
			return err
		}
		if err := taskRoot.Lchown(d.name, int(ident.UID), int(ident.GID)); err != nil {
			return fmt.Errorf("chown task dir %s: %w", d.name, err)
		}
	}
	if allocDir == "" {
		return nil
	}
	allocRoot, err := safefs.OpenRoot(allocDir)
	if err != nil {
		return fmt.Errorf("open alloc dir: %w", err)
	}
	defer allocRoot.Close()
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{allocSharedData, sharedDataMode}, {allocSharedTmp, sharedTmpMode}} {
		if err := ensureDir(allocRoot, d.name, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes name a real directory (not a symlink) with mode, creating
// it when missing. Chmod runs even on new directories: Mkdir's mode is
// filtered by the umask and never sets the sticky bit.
func ensureDir(root *safefs.Root, name string, mode os.FileMode) error {
	if err := root.Mkdir(name, mode.Perm()); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", name, err)
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", filepath.Join(root.Name(), name))
	}
	if err := root.Chmod(name, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	return nil
}
