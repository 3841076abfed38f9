//go:build linux && cgo

package isolation

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// oomKilled reads the memory cgroup's OOM-kill counter, which survives the
// task (the cgroup stays until Destroy), so a recovered task is judged the
// same way as a watched one. Kernels without the counter fall back to "hit
// the limit and died of SIGKILL".
func (c *Container) oomKilled(res *drivers.ExitResult) bool {
	ls, err := c.lc.State()
	if err != nil {
		return false
	}
	if cgroups.IsCgroup2UnifiedMode() {
		if n, ok := readKeyed(filepath.Join(ls.CgroupPaths[""], "memory.events"), "oom_kill"); ok {
			return n > 0
		}
		return false
	}
	dir := ls.CgroupPaths["memory"]
	if dir == "" {
		return false
	}
	if n, ok := readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill"); ok {
		return n > 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.failcnt"))
	if err != nil {
		return false
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n > 0 && res.Signal == int(unix.SIGKILL)
}

// readKeyed reads "key value" lines and returns key's value.
func readKeyed(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// removeMountStubs deletes the empty files and directories libcontainer
// created in the task directory as mount points. Anything non-empty stays:
// it is the task's data, not ours.
func removeMountStubs(taskDir string, extra []string) {
	if taskDir == "" {
		return
	}
	for _, p := range extra {
		// Remove the stub and then its now-empty parents, deepest first.
		for rel := filepath.Clean(p); rel != "/" && rel != "."; rel = filepath.Dir(rel) {
			full := filepath.Join(taskDir, rel)
			if st, err := os.Lstat(full); err != nil || (st.Mode().IsRegular() && st.Size() > 0) {
				break
			}
			if os.Remove(full) != nil {
				break
			}
		}
	}
	for _, f := range hostEtcFiles {
		p := filepath.Join(taskDir, f)
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
			_ = os.Remove(p)
		}
	}
	dirs := append([]string{}, hostReadOnlyDirs...)
	dirs = append(dirs, "/etc", "/alloc", "/proc", "/sys", "/dev")
	for _, d := range dirs {
		_ = os.Remove(filepath.Join(taskDir, d)) // fails, harmlessly, when not empty
	}
}
