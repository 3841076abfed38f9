//go:build linux && cgo

package isolation

import (
	"os"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Available reports whether tasks can be isolated on this host, and if not,
// why: it needs root and the memory, cpu, pids and devices cgroup
// controllers (v1 hierarchies, or v2 with memory, cpu and pids).
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "isolation requires running as root"
	}
	if cgroups.IsCgroup2UnifiedMode() {
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err != nil {
			return false, "cgroup v2 controllers unreadable: " + err.Error()
		}
		have := strings.Fields(string(b))
		for _, want := range []string{"memory", "cpu", "pids"} {
			if !contains(have, want) {
				return false, "cgroup v2 controller " + want + " not available"
			}
		}
		return true, ""
	}
	for _, sub := range []string{"memory", "cpu", "pids", "devices"} {
		if _, err := cgroups.FindCgroupMountpoint("", sub); err != nil {
			return false, "cgroup v1 controller " + sub + " not mounted"
		}
	}
	return true, ""
}

// CgroupVersion reports "v1" or "v2".
func CgroupVersion() string {
	if cgroups.IsCgroup2UnifiedMode() {
		return "v2"
	}
	return "v1"
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
