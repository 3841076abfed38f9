//go:build linux && cgo

package isolation

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// taskMounts turns the hooks' mounts into bind mounts inside the task's
// root. The target is resolved by libcontainer inside the root (a link the
// task planted there cannot send the mount onto a host path); the source is
// the host path the hook resolved.
func taskMounts(ms []*drivers.MountConfig) ([]specs.Mount, error) {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		dst, err := TaskPath(m.TaskPath)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(m.HostPath); err != nil {
			return nil, fmt.Errorf("mount source for %s: %w", dst, err)
		}
		prop, err := propagation(m.PropagationMode, m.Readonly)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", dst, err)
		}
		opts := []string{"rbind", "nosuid", "nodev", prop}
		if m.Readonly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: m.HostPath, Options: opts})
	}
	return out, nil
}

// TaskPath is where a mount goes inside the task's root: absolute as given,
// relative to the root otherwise; ".." may not climb above the root.
func TaskPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("mount without a destination")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("mount destination %q contains NUL", p)
	}
	clean := path.Clean("/" + p)
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("mount destination %q must not contain \"..\"", p)
		}
	}
	if clean == "/" {
		return "", fmt.Errorf("mount destination %q is the task's root", p)
	}
	return clean, nil
}

// propagation maps Nomad's propagation_mode onto the mount option.
func propagation(mode string, readonly bool) (string, error) {
	switch mode {
	case "", drivers.MountPropagationPrivate:
		return "rprivate", nil
	case drivers.MountPropagationHostToTask:
		return "rslave", nil
	case drivers.MountPropagationBidirectional:
		if readonly {
			return "", fmt.Errorf("propagation_mode %q needs a writable mount", mode)
		}
		return "rshared", nil
	}
	return "", fmt.Errorf("unknown propagation_mode %q", mode)
}

func mountsPropagate(ms []*drivers.MountConfig) bool {
	for _, m := range ms {
		if m.PropagationMode == drivers.MountPropagationHostToTask || m.PropagationMode == drivers.MountPropagationBidirectional {
			return true
		}
	}
	return false
}

// addDevices creates each device node in the task's /dev and allows it in
// the device cgroup, with the permissions asked for.
func addDevices(spec *specs.Spec, ds []*drivers.DeviceConfig) error {
	for _, d := range ds {
		var st unix.Stat_t
		if err := unix.Stat(d.HostPath, &st); err != nil {
			return fmt.Errorf("device %s: %w", d.HostPath, err)
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			return fmt.Errorf("device %s is not a character or block device", d.HostPath)
		}
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return fmt.Errorf("device %s: permissions %q must be a subset of \"rwm\"", d.HostPath, perms)
		}
		dst := d.TaskPath
		if dst == "" {
			dst = d.HostPath
		}
		dst, err := TaskPath(dst)
		if err != nil {
			return fmt.Errorf("device %s: %w", d.HostPath, err)
		}
		major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		spec.Linux.Devices = append(spec.Linux.Devices, specs.LinuxDevice{
			Path: dst, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid,
		})
		spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms,
		})
	}
	return nil
}
