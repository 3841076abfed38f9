package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/orch-project/orch/internal/safefs"
)

// moveDirs renames each data directory from under the prefix from to
// under the prefix to, within root. The destination is the new
// allocation's freshly built (empty) directory, which the rename replaces.
// A source that is missing (moved by an earlier attempt, or never built)
// or that is not a directory (a link a task planted) is left; so is a
// task the new version no longer has.
func moveDirs(root *safefs.Root, from, to string, tasks []string) (moved int, err error) {
	for _, rel := range dataDirs(tasks) {
		src, dst := path.Join(from, rel), path.Join(to, rel)
		fi, err := root.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, safefs.ErrSymlink) {
			continue
		}
		if err != nil {
			return moved, fmt.Errorf("stat %s: %w", rel, err)
		}
		if !fi.IsDir() {
			continue
		}
		if di, err := root.Lstat(dst); err != nil || !di.IsDir() {
			// The new allocation has no such directory to take the data.
			continue
		}
		if err := root.Rename(src, dst); err != nil {
			return moved, fmt.Errorf("moving %s: %w", rel, err)
		}
		moved++
	}
	return moved, nil
}

// MoveLocal moves the data directories of the allocation prevID into
// nextID's, both directories of the client's alloc root (one file system,
// so the move is a rename: no copy, atomic per directory).
func MoveLocal(allocRoot, prevID, nextID string, tasks []string) (int, error) {
	root, err := safefs.OpenRoot(allocRoot)
	if err != nil {
		return 0, fmt.Errorf("opening alloc root: %w", err)
	}
	defer root.Close()
	return moveDirs(root, prevID, nextID, tasks)
}
