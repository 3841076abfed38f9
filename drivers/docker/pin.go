package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/safefs"
)

// Bind sources inside the allocation directory are task-writable trees:
// bindSource checks a path, but the daemon binds it by name later, and a
// task (or a sibling task sharing alloc/) can swap a component for a
// symlink in between, or plant one before a restart, e.g. alloc/logs ->
// /. So every such source is pinned right before the container is
// created: opened beneath the alloc dir with no link followed (safefs),
// that exact inode bind-mounted (by /proc/self/fd) at a staging path in a
// root-only directory, and the daemon given the staging path, which no
// task can change. The container's mount namespace keeps its own copy, so
// the staging mounts are removed once the container started.

// bindPins are the staging mounts of one container start.
type bindPins struct {
	dir     string
	targets []string
	logger  *slog.Logger
}

// pinBinds rewrites hc's bind sources inside the allocation directory to
// pinned staging paths. With docker.volumes.enabled tasks may bind any
// host path, so there is nothing to protect and nothing is pinned.
func (d *Driver) pinBinds(cfg *drivers.TaskConfig, hc *container.HostConfig) (*bindPins, error) {
	p := &bindPins{logger: d.logger}
	if d.cfg.VolumesEnabled || cfg.TaskDir == "" {
		return p, nil
	}
	allocRoot := filepath.Dir(cfg.TaskDir)
	realRoot, err := filepath.EvalSymlinks(allocRoot)
	if err != nil {
		return p, fmt.Errorf("resolving allocation directory: %w", err)
	}
	root, err := safefs.OpenRoot(realRoot)
	if err != nil {
		return p, err
	}
	defer root.Close()
	pin := func(src string, create bool) (string, error) {
		rel, ok := relInside(src, allocRoot, realRoot)
		if !ok {
			return src, nil // an operator's host volume
		}
		return p.pin(root, rel, create, d.cfg.StateDir)
	}
	for i, b := range hc.Binds {
		src, rest, _ := strings.Cut(b, ":")
		if !filepath.IsAbs(src) {
			continue // a named volume
		}
		np, err := pin(src, true)
		if err != nil {
			p.release()
			return nil, fmt.Errorf("volumes: %s: %w", src, err)
		}
		hc.Binds[i] = np + ":" + rest
	}
	for i := range hc.Mounts {
		if hc.Mounts[i].Type != mount.TypeBind {
			continue
		}
		np, err := pin(hc.Mounts[i].Source, false)
		if err != nil {
			p.release()
			return nil, fmt.Errorf("mount: %s: %w", hc.Mounts[i].Source, err)
		}
		hc.Mounts[i].Source = np
	}
	return p, nil
}

// relInside returns src relative to the allocation directory (by either of
// its spellings), or false when src is elsewhere.
func relInside(src string, roots ...string) (string, bool) {
	src = filepath.Clean(src)
	for _, r := range roots {
		if within(r, src) {
			rel, err := filepath.Rel(r, src)
			return rel, err == nil
		}
	}
	return "", false
}

// pin bind-mounts rel (beneath root, created as a directory when missing
// and create is set, as the daemon would) at a new staging path.
func (p *bindPins) pin(root *safefs.Root, rel string, create bool, stateDir string) (string, error) {
	f, err := root.OpenPath(rel)
	if errors.Is(err, os.ErrNotExist) && create {
		if err = root.MkdirAll(rel, 0o755); err == nil {
			f, err = root.OpenPath(rel)
		}
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	if p.dir == "" {
		base := stateDir
		if base == "" {
			base = os.TempDir()
		}
		// 0700, root's: nothing below it can be renamed or replaced by a task.
		if p.dir, err = os.MkdirTemp(base, "binds-"); err != nil {
			return "", fmt.Errorf("staging bind sources: %w", err)
		}
	}
	target := filepath.Join(p.dir, strconv.Itoa(len(p.targets)))
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		err = os.WriteFile(target, nil, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("staging bind source: %w", err)
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		_ = os.Remove(target)
		return "", fmt.Errorf("pinning bind source: %w", err)
	}
	p.targets = append(p.targets, target)
	// Private: the copy in the container's mount namespace must not see
	// the staging mount go away.
	if err := unix.Mount("", target, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("pinning bind source: %w", err)
	}
	return target, nil
}

// release removes the staging mounts. Nothing is removed recursively: a
// target that failed to unmount still shows the task's files.
func (p *bindPins) release() {
	if p == nil || p.dir == "" {
		return
	}
	for _, t := range p.targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && p.logger != nil {
			p.logger.Warn("removing a pinned bind source", "path", t, "error", err)
		}
		_ = os.Remove(t)
	}
	if err := os.Remove(p.dir); err != nil && p.logger != nil {
		p.logger.Warn("removing the bind staging dir", "path", p.dir, "error", err)
	}
	p.dir, p.targets = "", nil
}

// sweepPins removes the staging mounts an agent killed between pinning and
// starting a container left in stateDir (each only after it unmounted:
// nothing is removed recursively).
func sweepPins(stateDir string, logger *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(stateDir, "binds-*"))
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		p := &bindPins{dir: dir, logger: logger}
		for _, e := range entries {
			p.targets = append(p.targets, filepath.Join(dir, e.Name()))
		}
		p.release()
	}
}
