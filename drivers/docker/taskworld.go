package docker

import (
	"context"
	"fmt"
	"path"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/orch-project/orch/drivers"
)

// hookBinds are the client hooks' mounts (host volumes): operator-declared
// host paths, so they need no docker.volumes.enabled.
func hookBinds(ms []*drivers.MountConfig) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(ms))
	for _, m := range ms {
		target := m.TaskPath
		if target == "" || strings.Contains(target, "\x00") {
			return nil, fmt.Errorf("mount of %s without a valid destination", m.HostPath)
		}
		for _, el := range strings.Split(target, "/") {
			if el == ".." {
				return nil, fmt.Errorf("mount destination %q must not contain \"..\"", target)
			}
		}
		target = path.Clean("/" + target)
		var prop mount.Propagation
		switch m.PropagationMode {
		case "", drivers.MountPropagationPrivate:
			prop = mount.PropagationRPrivate
		case drivers.MountPropagationHostToTask:
			prop = mount.PropagationRSlave
		case drivers.MountPropagationBidirectional:
			if m.Readonly {
				return nil, fmt.Errorf("mount %s: propagation_mode %q needs a writable mount", target, m.PropagationMode)
			}
			prop = mount.PropagationRShared
		default:
			return nil, fmt.Errorf("mount %s: unknown propagation_mode %q", target, m.PropagationMode)
		}
		out = append(out, mount.Mount{
			Type: mount.TypeBind, Source: m.HostPath, Target: target, ReadOnly: m.Readonly,
			BindOptions: &mount.BindOptions{Propagation: prop},
		})
	}
	return out, nil
}

// hookDevices are the device nodes the scheduler granted the task (device
// plugins), not the task's own `devices`: they need no docker.devices.enabled.
func hookDevices(ds []*drivers.DeviceConfig) []container.DeviceMapping {
	out := make([]container.DeviceMapping, 0, len(ds))
	for _, d := range ds {
		to := d.TaskPath
		if to == "" {
			to = d.HostPath
		}
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		out = append(out, container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: to, CgroupPermissions: perms})
	}
	return out
}

// LabelSandboxContainer names, in a group network's isolation spec, the
// container that holds the namespace (see network.go); task containers
// join it with network_mode "container:<id>".
const LabelSandboxContainer = "docker_sandbox_container_id"

// joinGroupNetwork puts the container into its allocation's network
// namespace. Docker can only share another container's namespace, so the
// namespace must be one this driver created (a pause container); settings
// that docker refuses with a shared namespace are refused here with the
// reason.
func joinGroupNetwork(cfg *drivers.TaskConfig, tc *taskConfig, cc *container.Config, hc *container.HostConfig) error {
	if err := cfg.CheckNetworkIsolation(); err != nil {
		return err
	}
	if cfg.NetNSPath() == "" {
		return nil
	}
	id := cfg.NetworkIsolation.Labels[LabelSandboxContainer]
	if id == "" {
		return fmt.Errorf("the allocation's network namespace %s was not created by the docker driver, so a container cannot join it", cfg.NetworkIsolation.Path)
	}
	switch {
	case tc.NetworkMode != "":
		return fmt.Errorf("network_mode %q conflicts with the group's network mode: the task joins its allocation's network namespace", tc.NetworkMode)
	case tc.Hostname != "":
		return fmt.Errorf("hostname cannot be set on a task in a group network namespace (set network.hostname)")
	case len(tc.DNSServers) > 0 || len(tc.DNSSearch) > 0 || len(tc.DNSOptions) > 0:
		return fmt.Errorf("dns_servers, dns_search_domains and dns_options cannot be set on a task in a group network namespace (use the group's network.dns)")
	}
	hc.NetworkMode = container.NetworkMode("container:" + id)
	cc.Hostname = ""
	// Docker refuses extra_hosts with a shared namespace: they go into the
	// /etc/hosts the driver writes for the task (groupHosts).
	hc.ExtraHosts = nil
	return nil
}

// pinNetworkContainer checks a network_mode "container:<name or id>": the
// container must be one this driver made for the same allocation on this
// node (a sibling task or the allocation's sandbox). Another allocation's
// container, its sandbox orch_init_<alloc> included, would hand the task
// that allocation's namespace: its loopback-only services, its ports, its
// traffic. The mode is then set to the checked container's ID, so a name
// re-pointed after the check is not what the task joins.
func (d *Driver) pinNetworkContainer(ctx context.Context, cfg *drivers.TaskConfig, hc *container.HostConfig) error {
	target, ok := strings.CutPrefix(string(hc.NetworkMode), "container:")
	if !ok {
		return nil
	}
	info, err := d.client.ContainerInspect(ctx, target)
	if cerrdefs.IsNotFound(err) {
		// A sibling not started yet: the restart policy tries again.
		return fmt.Errorf("network_mode %q: no such container", hc.NetworkMode)
	}
	if err != nil {
		return fmt.Errorf("network_mode %q: inspecting the container: %w", hc.NetworkMode, err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if labels[LabelAllocID] != cfg.AllocID || labels[LabelNodeID] != d.cfg.NodeID {
		return drivers.NonRecoverable(fmt.Errorf("network_mode %q: only a container of this allocation can be joined", hc.NetworkMode))
	}
	hc.NetworkMode = container.NetworkMode("container:" + info.ID)
	return nil
}
