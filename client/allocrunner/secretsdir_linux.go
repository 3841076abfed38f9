package allocrunner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// A task's secrets/ is a tmpfs of the size its `resources { secrets = N }`
// asks for (N MiB), as Nomad makes it on Linux: its content never reaches
// the node's disk and a task cannot fill more than N MiB with it. The
// scheduler counts N into the task's memory, which is where tmpfs pages
// are charged.

// MountSecrets mounts a tmpfs of sizeMB MiB on task's secrets/ unless one
// is there already (an agent restarting keeps the running task's). The
// directory is reached without following links (safefs), and the mount
// goes on that very directory through its descriptor.
func (d *AllocDir) MountSecrets(task string, sizeMB int) error {
	dir, mounted, err := d.openSecrets(task)
	if err != nil {
		return err
	}
	defer dir.Close()
	if mounted {
		return nil
	}
	target := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd()))
	opts := "size=" + strconv.Itoa(sizeMB) + "m,mode=0755"
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the secrets tmpfs of task %q: %w", task, err)
	}
	return nil
}

// UnmountSecrets removes the tmpfs of task's secrets/, if there is one.
func (d *AllocDir) UnmountSecrets(task string) error {
	dir, mounted, err := d.openSecrets(task)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dir.Close()
	if !mounted {
		return nil
	}
	// The path's parents are the agent's own (root-owned, not writable
	// by tasks); NOFOLLOW keeps a link put in place of secrets/ since the
	// check from being followed.
	p := filepath.Join(d.TaskDir(task), "secrets")
	if err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting the secrets tmpfs of task %q: %w", task, err)
	}
	return nil
}

// openSecrets opens task's secrets/ (O_PATH, no link followed) and says
// whether a file system is mounted on it (its device differs from the
// task dir's).
func (d *AllocDir) openSecrets(task string) (*os.File, bool, error) {
	if err := ValidTaskName(task); err != nil {
		return nil, false, err
	}
	root, err := d.Open()
	if err != nil {
		return nil, false, err
	}
	defer root.Close()
	taskRoot, err := root.OpenRoot(task)
	if err != nil {
		return nil, false, err
	}
	defer taskRoot.Close()
	secrets, err := taskRoot.OpenRoot("secrets")
	if err != nil {
		return nil, false, err
	}
	defer secrets.Close()
	dir, err := secrets.File()
	if err != nil {
		return nil, false, err
	}
	tf, err := taskRoot.File()
	if err != nil {
		dir.Close()
		return nil, false, err
	}
	defer tf.Close()
	var st, pst unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		dir.Close()
		return nil, false, err
	}
	if err := unix.Fstat(int(tf.Fd()), &pst); err != nil {
		dir.Close()
		return nil, false, err
	}
	return dir, st.Dev != pst.Dev, nil
}
