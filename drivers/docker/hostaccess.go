package docker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/orch-project/orch/drivers"
)

// DefaultCapAllowlist is Docker's default capability set: what a container
// has without any cap_add, so allowing it grants a task nothing new.
var DefaultCapAllowlist = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
	"NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// normalizeCap spells a capability as the allowlist does: "cap_net_admin",
// "NET_ADMIN" and " net_admin " are the same capability to Docker.
func normalizeCap(c string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(c)), "CAP_")
}

// parseCapAllowlist reads the docker.caps.allowlist option.
func parseCapAllowlist(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = normalizeCap(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// checkCaps refuses cap_add entries outside the operator's allowlist.
// Without this gate cap_add = ["SYS_ADMIN"] (or "ALL") gives a task most of
// what the privileged switch withholds.
func (d *Driver) checkCaps(add []string) error {
	allow := d.cfg.CapAllowlist
	if allow == nil {
		allow = DefaultCapAllowlist
	}
	set := make(map[string]bool, len(allow))
	for _, c := range allow {
		set[normalizeCap(c)] = true
	}
	if set["ALL"] {
		return nil
	}
	var refused []string
	for _, c := range add {
		if n := normalizeCap(c); !set[n] {
			refused = append(refused, n)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	sort.Strings(refused)
	return fmt.Errorf("cap_add %s not allowed by the client's %s (allowed: %s)",
		strings.Join(refused, ", "), OptionCapAllowlist, strings.Join(allow, ","))
}

// bindSource returns the host path to bind for a `volumes` entry or a bind
// mount's source. Relative paths are relative to the task dir, as in Nomad.
// Unless the operator enabled docker.volumes.enabled, the path must stay
// inside the allocation's directory (the task dir's parent, so
// "../alloc/data" works) after symlinks are followed: the task can write
// symlinks into its own dirs, and the daemon follows them when binding.
// The returned path is the resolved one, so what was checked is what the
// daemon binds.
func (d *Driver) bindSource(cfg *drivers.TaskConfig, src string) (string, error) {
	if d.cfg.VolumesEnabled {
		if !filepath.IsAbs(src) && cfg.TaskDir != "" {
			return filepath.Join(cfg.TaskDir, src), nil
		}
		return src, nil
	}
	if filepath.IsAbs(src) {
		return "", fmt.Errorf("host path %q: absolute host paths need the client option %s", src, OptionVolumesEnabled)
	}
	if cfg.TaskDir == "" {
		return "", fmt.Errorf("host path %q: no task dir to resolve it against", src)
	}
	root := filepath.Dir(cfg.TaskDir)
	p := filepath.Join(cfg.TaskDir, src)
	if !within(root, p) {
		return "", fmt.Errorf("host path %q leaves the allocation directory (set %s to allow host paths)", src, OptionVolumesEnabled)
	}
	resolved, err := resolveInside(root, p)
	if err != nil {
		return "", fmt.Errorf("host path %q: %w", src, err)
	}
	return resolved, nil
}

// resolveInside follows the symlinks of p (which may not exist yet: the
// daemon creates missing bind sources) and checks the result is under root.
func resolveInside(root, p string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolving allocation directory: %w", err)
	}
	cur, suffix := p, ""
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			cur = real
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolving: %w", err)
		}
		// A dangling symlink also reports "not exist"; the daemon would
		// create its target wherever it points.
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", fmt.Errorf("%s is a dangling symlink", cur)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			break
		}
		suffix = filepath.Join(filepath.Base(cur), suffix)
		cur = parent
	}
	full := filepath.Join(cur, suffix)
	if !within(realRoot, full) {
		return "", fmt.Errorf("resolves to %s, outside the allocation directory", full)
	}
	return full, nil
}

// within reports whether p is root or below it; both must be clean.
func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}
