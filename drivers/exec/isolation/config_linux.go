//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
)

// hostReadOnlyDirs are the host directories every task sees read-only.
var hostReadOnlyDirs = []string{"/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin", "/usr"}

// hostEtcFiles are the only /etc files a task sees: enough for name
// resolution, user lookup, time zones and the dynamic linker.
var hostEtcFiles = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/passwd", "/etc/group",
	"/etc/nsswitch.conf", "/etc/localtime", "/etc/ld.so.cache",
}

// maskedPaths and readonlyPaths are the usual container defaults: kernel
// interfaces a task has no business reading or changing.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// cgroupParent is where every task cgroup lives, in each hierarchy.
const cgroupParent = "/orch"

// buildConfig turns a Spec into libcontainer's configuration.
func buildConfig(s *Spec, id string, ident *identity.Identity) (*configs.Config, error) {
	caps, err := Capabilities(s.CapAdd, s.CapDrop)
	if err != nil {
		return nil, err
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: s.TaskDir},
		Process: &specs.Process{
			User:            specs.User{UID: ident.UID, GID: ident.GID},
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Mounts: baseMounts(),
		Linux: &specs.Linux{
			CgroupsPath:   cgroupParent + "/" + id,
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Resources:     resources(s),
			Namespaces:    namespaces(s),
		},
	}
	for _, dir := range hostReadOnlyDirs {
		if _, err := os.Stat(dir); err == nil {
			spec.Mounts = append(spec.Mounts, roBind(dir))
		}
	}
	for _, f := range hostEtcFiles {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			spec.Mounts = append(spec.Mounts, roBind(f))
		}
	}
	for _, p := range s.ExtraReadOnly {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("read-only path %q is not absolute", p)
		}
		if _, err := os.Stat(p); err == nil {
			spec.Mounts = append(spec.Mounts, roBind(p))
		}
	}
	if s.AllocDir != "" {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: "/alloc", Type: "bind", Source: s.AllocDir,
			Options: []string{"rbind", "rw", "nosuid", "nodev"},
		})
		// The log dir goes over /alloc read-only: the agent reads and
		// rotates files there as root, so a task must not plant anything in
		// it. The task writes its output through the FIFOs it was handed.
		// (The client always creates it; a bare alloc dir in driver tests
		// may lack it.)
		logs := filepath.Join(s.AllocDir, "logs")
		if fi, err := os.Lstat(logs); err == nil && fi.IsDir() {
			spec.Mounts = append(spec.Mounts, specs.Mount{
				Destination: "/alloc/logs", Type: "bind", Source: logs,
				Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	mounts, err := taskMounts(s.Mounts)
	if err != nil {
		return nil, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	if err := addDevices(spec, s.Devices); err != nil {
		return nil, err
	}
	if mountsPropagate(s.Mounts) {
		// A mount propagating host-to-task or both ways needs the task's
		// root to be a slave or shared mount itself.
		spec.Linux.RootfsPropagation = "rslave"
		for _, m := range s.Mounts {
			if m.PropagationMode == drivers.MountPropagationBidirectional {
				spec.Linux.RootfsPropagation = "rshared"
			}
		}
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: id, Spec: spec})
	if err != nil {
		return nil, fmt.Errorf("build container config: %w", err)
	}
	return cfg, nil
}

func roBind(p string) specs.Mount {
	return specs.Mount{
		Destination: p, Type: "bind", Source: p,
		Options: []string{"rbind", "ro", "nosuid", "nodev"},
	}
}

func baseMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

func namespaces(s *Spec) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UTSNamespace}}
	if !s.HostPID {
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if !s.HostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	switch {
	case s.NetNSPath != "":
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath})
	case s.NetworkIsolation:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return ns
}

func resources(s *Spec) *specs.LinuxResources {
	r := &specs.LinuxResources{
		// Deny every device; specconv adds the standard allowed set.
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	limitMB := s.MemoryMB
	if s.MemoryMaxMB > limitMB {
		limitMB = s.MemoryMaxMB
	}
	if limitMB > 0 {
		limit := limitMB << 20
		mem := &specs.LinuxMemory{Limit: &limit}
		if s.MemoryMaxMB > s.MemoryMB && s.MemoryMB > 0 {
			soft := s.MemoryMB << 20
			mem.Reservation = &soft
		}
		if swapAccounting() {
			// Memory+swap equal to memory: the limit cannot be dodged by
			// swapping, so the OOM killer fires at the limit.
			swap := limit
			mem.Swap = &swap
		}
		r.Memory = mem
	}
	if s.CPUShares > 0 || s.CPUSet != "" {
		r.CPU = &specs.LinuxCPU{Cpus: s.CPUSet}
		if s.CPUShares > 0 {
			shares := uint64(max(s.CPUShares, 2))
			r.CPU.Shares = &shares
		}
	}
	if s.PidsLimit > 0 {
		limit := s.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

// swapAccounting reports whether a memory+swap limit can be set.
func swapAccounting() bool {
	if cgroups.IsCgroup2UnifiedMode() {
		return true
	}
	mnt, err := cgroups.FindCgroupMountpoint("", "memory")
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
	return err == nil
}
