//go:build linux && cgo

package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// sharing; tmp/ is sticky so they cannot delete each other's files.
func prepareDirs(s *Spec, ident *Identity) error {
	own := []struct {
		name string
		mode os.FileMode
	}{{"local", taskDirMode}, {"secrets", secretsDirMode}, {"tmp", taskDirMode}}
	for _, d := range own {
		p := filepath.Join(s.TaskDir, d.name)
		if err := ensureDir(p, d.mode); err != nil {
			return err
		}
		// Lchown: never follow a link a previous run may have planted.
		if err := os.Lchown(p, ident.UID, ident.GID); err != nil {
			return fmt.Errorf("chown task dir %s: %w", p, err)
		}
	}
	if s.AllocDir == "" {
		return nil
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{allocSharedData, sharedDataMode}, {allocSharedTmp, sharedTmpMode}} {
		if err := ensureDir(filepath.Join(s.AllocDir, d.name), d.mode); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes p a real directory (not a symlink) with mode, creating it
// when missing. Chmod runs even on new directories: Mkdir's mode is
// filtered by the umask and never sets the sticky bit.
func ensureDir(p string, mode os.FileMode) error {
	if err := os.Mkdir(p, mode.Perm()); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", p, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return nil
}
