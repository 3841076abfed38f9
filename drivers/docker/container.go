package docker

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// Bounds of the json-file log the daemon keeps per container. The client's
// log collector is the durable copy; this only has to cover a client
// restart, during which the daemon keeps the output for Recover to replay.
const (
	daemonLogMaxSize  = "10m"
	daemonLogMaxFiles = "2"
)

// minCPUShares is the smallest weight the kernel accepts.
const minCPUShares = 2

var invalidNameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// containerName is "<task>-<alloc id>", unique per task instance on a node,
// which also makes a retried create after a crash collide rather than leak.
func containerName(cfg *drivers.TaskConfig) string {
	name := invalidNameChars.ReplaceAllString(cfg.Name, "_")
	if name == "" {
		name = "task"
	}
	if cfg.AllocID == "" {
		return name
	}
	return name + "-" + cfg.AllocID
}

// containerSpec is everything ContainerCreate needs.
type containerSpec struct {
	config *container.Config
	host   *container.HostConfig
}

// buildContainerSpec translates a task into Docker's create request.
func (d *Driver) buildContainerSpec(cfg *drivers.TaskConfig, tc *taskConfig, imageRef string) (*containerSpec, error) {
	labels := map[string]string{}
	for k, v := range tc.Labels {
		labels[k] = v
	}
	labels[LabelAllocID] = cfg.AllocID
	labels[LabelJob] = cfg.JobID
	labels[LabelTask] = cfg.Name
	labels[LabelNodeID] = d.cfg.NodeID

	env := make([]string, 0, len(cfg.Env))
	for k, v := range cfg.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)

	cc := &container.Config{
		Image:      imageRef,
		Env:        env,
		Labels:     labels,
		WorkingDir: tc.WorkDir,
		Hostname:   tc.Hostname,
		User:       cfg.User,
	}
	if tc.Command != "" {
		cc.Cmd = append([]string{tc.Command}, tc.Args...)
	} else if len(tc.Args) > 0 {
		// Arguments alone are appended to the image's entrypoint.
		cc.Cmd = append([]string(nil), tc.Args...)
	}
	if len(tc.Entrypoint) > 0 {
		cc.Entrypoint = append([]string(nil), tc.Entrypoint...)
	}

	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(tc.NetworkMode),
		ExtraHosts:  tc.ExtraHosts,
		DNS:         tc.DNSServers,
		DNSSearch:   tc.DNSSearch,
		DNSOptions:  tc.DNSOptions,
		Runtime:     tc.Runtime,
		UsernsMode:  container.UsernsMode(tc.UsernsMode),
		CapAdd:      tc.CapAdd,
		CapDrop:     tc.CapDrop,
		Privileged:  tc.Privileged,
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": daemonLogMaxSize, "max-file": daemonLogMaxFiles},
		},
	}
	if tc.PidsLimit > 0 {
		limit := tc.PidsLimit
		hc.PidsLimit = &limit
	}
	hc.ShmSize = tc.ShmSize
	hc.ReadonlyRootfs = tc.ReadonlyRootfs
	hc.Sysctls = tc.Sysctl
	if tc.Init {
		init := true
		hc.Init = &init
	}
	for _, u := range tc.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	setResources(&hc.Resources, cfg)
	if hard := tc.MemoryHardLimit * 1024 * 1024; hard > hc.Resources.Memory {
		// Nomad's older memory oversubscription: memory is the soft
		// reservation, memory_hard_limit (MB) the hard limit.
		if hc.Resources.MemoryReservation == 0 {
			hc.Resources.MemoryReservation = hc.Resources.Memory
		}
		hc.Resources.Memory = hard
		hc.Resources.MemorySwap = hard
	}

	// Host policy refusals are final: retrying would be refused again.
	if err := d.checkCaps(tc.CapAdd); err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	if err := d.checkRuntime(tc.Runtime); err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	devices, err := d.devices(tc.Devices)
	if err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	hc.Devices = devices
	binds, mounts, err := d.taskMounts(cfg, tc)
	if err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	hookMounts, err := hookBinds(cfg.Mounts)
	if err != nil {
		return nil, drivers.NonRecoverable(err)
	}
	hc.Binds = binds
	hc.Mounts = append(mounts, hookMounts...)
	hc.Devices = append(hc.Devices, hookDevices(cfg.Devices)...)
	if err := joinGroupNetwork(cfg, tc, cc, hc); err != nil {
		return nil, drivers.NonRecoverable(err)
	}

	if len(tc.Ports) > 0 && !hc.NetworkMode.IsHost() && !hc.NetworkMode.IsContainer() {
		exposed, bindings, err := portBindings(tc.Ports, cfg.Ports)
		if err != nil {
			return nil, drivers.NonRecoverable(err)
		}
		cc.ExposedPorts = exposed
		hc.PortBindings = bindings
	}
	return &containerSpec{config: cc, host: hc}, nil
}

// setResources applies the scheduler's grant. With memory_max set, the
// reservation is the soft limit and the max the hard one, as in Nomad's
// memory oversubscription. Swap is capped at the limit so that exceeding it
// means the OOM killer, not silent swapping.
func setResources(r *container.Resources, cfg *drivers.TaskConfig) {
	res := cfg.Resources
	if res == nil {
		return
	}
	const mb = 1024 * 1024
	if mem := res.Memory.MemoryMB; mem > 0 {
		if max := res.Memory.MemoryMaxMB; max > mem {
			r.Memory = max * mb
			r.MemoryReservation = mem * mb
		} else {
			r.Memory = mem * mb
		}
		r.MemorySwap = r.Memory
	}
	if shares := res.Cpu.CpuShares; shares > 0 {
		r.CPUShares = max(shares, minCPUShares)
	}
	if len(res.Cpu.ReservedCores) > 0 {
		cores := make([]string, len(res.Cpu.ReservedCores))
		for i, c := range res.Cpu.ReservedCores {
			cores[i] = strconv.Itoa(int(c))
		}
		r.CpusetCpus = strings.Join(cores, ",")
	}
}

// taskMounts returns the alloc/task directory binds, the `volumes` binds and
// the `mount` blocks, with every host path checked by bindSource.
func (d *Driver) taskMounts(cfg *drivers.TaskConfig, tc *taskConfig) ([]string, []mount.Mount, error) {
	var binds []string
	if cfg.AllocDir != "" {
		// The log dir is read-only in the container: the agent reads and
		// rotates files there as root, so a task (root in its container)
		// must not plant links in it. Output reaches it through the FIFOs
		// the driver writes on the host side.
		binds = append(binds, cfg.AllocDir+":/alloc", cfg.AllocDir+"/logs:/alloc/logs:ro")
	}
	if cfg.TaskDir != "" {
		binds = append(binds, cfg.LocalDir()+":/local", cfg.SecretsDir()+":/secrets")
	}
	for _, v := range tc.Volumes {
		host := v.Host
		if isVolumeName(host) {
			if err := d.namedVolumeAllowed(host); err != nil {
				return nil, nil, fmt.Errorf("volumes: %w", err)
			}
		} else {
			var err error
			if host, err = d.bindSource(cfg, host); err != nil {
				return nil, nil, fmt.Errorf("volumes: %w", err)
			}
		}
		b := host + ":" + v.Container
		if v.ReadOnly {
			b += ":ro"
		}
		binds = append(binds, b)
	}

	var mounts []mount.Mount
	for i, m := range tc.Mounts {
		src := m.Source
		switch m.Type {
		case string(mount.TypeBind):
			var err error
			if src, err = d.bindSource(cfg, src); err != nil {
				return nil, nil, fmt.Errorf("mount[%d]: %w", i, err)
			}
		case string(mount.TypeVolume):
			if err := d.namedVolumeAllowed(src); err != nil {
				return nil, nil, fmt.Errorf("mount[%d]: %w", i, err)
			}
		}
		mounts = append(mounts, mount.Mount{
			Type:     mount.Type(m.Type),
			Source:   src,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	return binds, mounts, nil
}

// namedVolumeAllowed refuses a Docker named volume unless the operator
// enabled docker.volumes.enabled: a named volume outlives the allocation
// and any other job on the node may mount it by the same name, a channel
// between jobs that no job should open on its own.
func (d *Driver) namedVolumeAllowed(name string) error {
	if d.cfg.VolumesEnabled {
		return nil
	}
	return fmt.Errorf("Docker named volume %q needs the client option %s (a named volume is shared with every other job on the node)", name, OptionVolumesEnabled)
}

// isVolumeName reports whether a `volumes` host part names a Docker volume
// rather than a path: "data" is a volume, "./data" and "data/x" are paths.
func isVolumeName(s string) bool {
	return !strings.ContainsRune(s, '/') && !strings.HasPrefix(s, ".")
}

// portBindings publishes each listed port label on HostIP:Value, forwarding
// to To (or Value when To is 0) over both tcp and udp.
func portBindings(labels []string, ports []structs.AllocatedPort) (nat.PortSet, nat.PortMap, error) {
	byLabel := make(map[string]structs.AllocatedPort, len(ports))
	for _, p := range ports {
		byLabel[p.Label] = p
	}
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, l := range labels {
		p, ok := byLabel[l]
		if !ok {
			return nil, nil, fmt.Errorf("port label %q is not defined in the group's network block", l)
		}
		if p.Value <= 0 || p.Value > 65535 {
			return nil, nil, fmt.Errorf("port %q has invalid host port %d", l, p.Value)
		}
		if p.IgnoreCollision {
			// Docker publishes with DNAT rules ahead of portmap's: the
			// port would be taken from a bridge allocation holding it
			// (docker-proxy finds nothing bound there to collide with).
			return nil, nil, fmt.Errorf("port %q has ignore_collision and cannot be published by docker's port mapping, which would take it from whoever holds it: share it with network_mode = \"host\" instead", l)
		}
		to := p.To
		if to <= 0 {
			to = p.Value
		}
		for _, proto := range []string{"tcp", "udp"} {
			cp := nat.Port(strconv.Itoa(to) + "/" + proto)
			exposed[cp] = struct{}{}
			bindings[cp] = append(bindings[cp], nat.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.Value)})
		}
	}
	return exposed, bindings, nil
}

// checkRuntime enforces the runtime allowlist (Nomad's allow_runtimes).
func (d *Driver) checkRuntime(rt string) error {
	if rt == "" {
		return nil
	}
	allowed := d.cfg.Runtimes
	if allowed == nil {
		allowed = DefaultRuntimes
	}
	for _, a := range allowed {
		if a == rt {
			return nil
		}
	}
	return fmt.Errorf("runtime %q is not allowed on this node (option %s: %s)", rt, OptionRuntimes, strings.Join(allowed, ","))
}

// devices maps the task's `devices` onto Docker's, when the operator
// allows host devices at all.
func (d *Driver) devices(ds []deviceConfig) ([]container.DeviceMapping, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	if !d.cfg.DevicesEnabled {
		return nil, fmt.Errorf("host devices are not allowed on this node (client option %s is off)", OptionDevicesEnabled)
	}
	out := make([]container.DeviceMapping, 0, len(ds))
	for _, dv := range ds {
		out = append(out, container.DeviceMapping{
			PathOnHost: dv.HostPath, PathInContainer: dv.ContainerPath, CgroupPermissions: dv.CgroupPermissions,
		})
	}
	return out, nil
}
