package artifacts

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// maxPlacedEntries bounds the tree one artifact may place (the archive
// file count limit applies to what it unpacks; this also covers git).
const maxPlacedEntries = 1 << 20

// owner is who the placed files belong to (nil: the agent).
type owner struct{ uid, gid int }

// chownTo is the task's user when the artifact asks for chown: the
// task's `user`, or the driver's default (nobody for exec and java).
func chownTo(chown bool, task *structs.Task, d drivers.Driver) (*owner, error) {
	if !chown {
		return nil, nil
	}
	spec := task.User
	if spec == "" {
		switch task.Driver {
		case "exec", "java":
			spec = "nobody"
		default:
			return nil, nil // the agent's own user: nothing to change
		}
	}
	src, err := identity.HostSource()
	if err != nil {
		return nil, err
	}
	id, err := identity.Resolve(spec, "", identity.GIDSameAsUID, src)
	if err != nil {
		return nil, fmt.Errorf("artifact chown: %w", err)
	}
	return &owner{uid: int(id.UID), gid: int(id.GID)}, nil
}

// place moves a fetched artifact from its staging dir into the task's
// directory at dest. Everything goes through one safefs root at the data
// dir: no link is followed on either side, so a link the task planted at
// the destination is replaced, never written through. The staged tree is
// checked first: regular files and directories only.
func place(dataDir string, st *staging, allocRoot, task, dest, mode string, own *owner) error {
	root, err := safefs.OpenRoot(dataDir)
	if err != nil {
		return fmt.Errorf("placing artifact: %w", err)
	}
	defer root.Close()
	rel := func(p string) (string, error) {
		r, err := filepath.Rel(dataDir, p)
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return "", fmt.Errorf("placing artifact: %s is outside the data dir", p)
		}
		return filepath.ToSlash(r), nil
	}
	out, err := rel(st.out)
	if err != nil {
		return err
	}
	taskDir, err := rel(filepath.Join(allocRoot, task))
	if err != nil {
		return err
	}
	target := path.Join(taskDir, dest)
	entries := 0
	if mode == "file" {
		if err := mkdirParents(root, taskDir, dest, own); err != nil {
			return err
		}
		fi, err := root.Lstat(out + "/file")
		if err != nil {
			return fmt.Errorf("placing artifact: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("artifact is a %s, not a file", fi.Mode().Type())
		}
		if err := root.Rename(out+"/file", target); err != nil {
			return fmt.Errorf("placing artifact at %s: %w", dest, err)
		}
		return chown(root, target, own)
	}
	if err := mkdirParents(root, taskDir, dest, own); err != nil {
		return err
	}
	if err := ensureDir(root, target, own); err != nil {
		return err
	}
	return merge(root, out, target, own, &entries)
}

// merge moves the staged directory src's entries into dst, recursively.
func merge(root *safefs.Root, src, dst string, own *owner, entries *int) error {
	list, err := root.ReadDir(src)
	if err != nil {
		return fmt.Errorf("placing artifact: %w", err)
	}
	for _, fi := range list {
		*entries++
		if *entries > maxPlacedEntries {
			return fmt.Errorf("artifact has more than %d files", maxPlacedEntries)
		}
		s, d := src+"/"+fi.Name(), dst+"/"+fi.Name()
		switch {
		case fi.IsDir():
			if err := ensureDir(root, d, own); err != nil {
				return err
			}
			if err := merge(root, s, d, own, entries); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := root.Rename(s, d); err != nil {
				return fmt.Errorf("placing artifact file %s: %w", fi.Name(), err)
			}
			if err := chown(root, d, own); err != nil {
				return err
			}
		default:
			return fmt.Errorf("artifact contains %s, a %s: only regular files and directories are placed", fi.Name(), fi.Mode().Type())
		}
	}
	return nil
}

// mkdirParents makes the directories between the task dir and dest's
// parent.
func mkdirParents(root *safefs.Root, taskDir, dest string, own *owner) error {
	dir := path.Dir(dest)
	if dir == "." || dir == "/" {
		return nil
	}
	p := taskDir
	for _, el := range strings.Split(dir, "/") {
		p += "/" + el
		if err := ensureDir(root, p, own); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes p a directory (a real one: a link in its place is an
// error, never followed).
func ensureDir(root *safefs.Root, p string, own *owner) error {
	err := root.Mkdir(p, 0o755)
	if err == nil {
		return chown(root, p, own)
	}
	if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("placing artifact: %w", err)
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return fmt.Errorf("placing artifact: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("placing artifact: %s exists and is a %s, not a directory", path.Base(p), fi.Mode().Type())
	}
	return nil
}

func chown(root *safefs.Root, p string, own *owner) error {
	if own == nil {
		return nil
	}
	if err := root.Lchown(p, own.uid, own.gid); err != nil {
		return fmt.Errorf("artifact chown: %w", err)
	}
	return nil
}
