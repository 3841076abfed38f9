package isolation

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// Spec describes one isolated task. Host paths are absolute.
type Spec struct {
	// ID names the container; any string, sanitized by ContainerID.
	ID string
	// StateRoot holds libcontainer's per-container state directories.
	StateRoot string
	// TaskDir becomes the container's root; AllocDir is mounted at /alloc.
	TaskDir  string
	AllocDir string

	Command string
	Args    []string
	Env     map[string]string
	// User is the task's `user` (see package identity); empty means
	// "nobody". Identity, when set, is what it already resolved to (and
	// was checked as): it is what runs.
	User     string
	Identity *identity.Identity

	MemoryMB    int64
	MemoryMaxMB int64
	CPUShares   int64
	PidsLimit   int64

	HostPID bool
	HostIPC bool
	// NetworkIsolation gives the task its own network namespace with only
	// loopback; by default tasks share the host network like raw_exec.
	NetworkIsolation bool

	CapAdd  []string
	CapDrop []string

	StdoutPath string
	StderrPath string

	// ExtraReadOnly are further host paths bound read-only at the same path,
	// e.g. a JVM's configuration directory under /etc.
	ExtraReadOnly []string

	// Mounts are host paths the client's hooks bind into the task (host
	// volumes, a group network's resolv.conf). TaskPath is absolute inside
	// the task's root, or relative to it.
	Mounts []*drivers.MountConfig
	// Devices are host device nodes made available in the task.
	Devices []*drivers.DeviceConfig
	// NetNSPath, when set, is the network namespace the task joins (the
	// allocation's bridge or CNI namespace) instead of the host's.
	NetNSPath string
	// CPUSet pins the task to the cores the scheduler reserved for it
	// ("0,2"); empty means any core.
	CPUSet string
}

// ContainerID maps an arbitrary task ID onto libcontainer's ID alphabet
// (letters, digits, "_+-."). A hash suffix keeps distinct inputs distinct
// whenever characters had to be replaced.
func ContainerID(id string) string {
	var b strings.Builder
	changed := false
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '+', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	out := b.String()
	if out == "" || out == "." || out == ".." || changed {
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		out = fmt.Sprintf("%s-%08x", out, h.Sum32())
	}
	return out
}

// EnvList flattens an environment map into sorted KEY=VALUE pairs, adding a
// default PATH when the task has none (the shim resolves the command on it).
func EnvList(env map[string]string) []string {
	out := make([]string, 0, len(env)+1)
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	if _, ok := env["PATH"]; !ok {
		out = append(out, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	sortStrings(out)
	return out
}
