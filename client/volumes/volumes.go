// Package volumes is the client hook that gives a task the host volumes
// its volume_mount blocks ask for: the group's `volume "x" { type = "host"
// source = "name" }` names a `client { host_volume "name" }` of this node,
// and each volume_mount binds it into the task at its destination.
//
// Drivers with a mount namespace (exec, java, docker) bind the volume's
// path at the destination. raw_exec has none: its tasks see the host's
// file system as it is, so they get the volume's host path in the
// environment (ORCH_VOLUME_<volume>) instead, and the destination is not
// used.
package volumes

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// EnvPrefix prefixes the variable that gives a task without a mount
// namespace a volume's host path: ORCH_VOLUME_<volume name>.
const EnvPrefix = "ORCH_VOLUME_"

// Source returns the client's host volumes; it is read at every task
// start, so a volume the operator removed fails the next start.
type Source func() map[string]*structs.ClientHostVolumeConfig

// HookFactory builds the hook for tasks that mount volumes.
func HookFactory(src Source) hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		if len(cfg.Task.VolumeMounts) == 0 {
			return nil
		}
		noMountNS := false
		if fi, ok := cfg.Driver.(interface{ FSIsolation() string }); ok && fi.FSIsolation() == "none" {
			noMountNS = true
		}
		return &hook{src: src, noMountNS: noMountNS}
	}
}

type hook struct {
	src       Source
	noMountNS bool
}

func (*hook) Name() string { return "volumes" }

// Prestart resolves every volume_mount against the node's host volumes.
// A missing volume cannot appear by retrying, so it fails the task.
func (h *hook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	tg := req.Alloc.Job.LookupTaskGroup(req.Alloc.TaskGroup)
	if tg == nil {
		return drivers.NonRecoverable(fmt.Errorf("volumes: group %q not in the job", req.Alloc.TaskGroup))
	}
	mounts, env, err := Resolve(tg.Volumes, req.Task.VolumeMounts, h.src(), h.noMountNS)
	if err != nil {
		return drivers.NonRecoverable(err)
	}
	resp.Mounts, resp.Env = mounts, env
	return nil
}

// Resolve maps a task's volume_mounts onto the node's host volumes: bind
// mounts, or for a task without a mount namespace the paths as
// environment variables.
func Resolve(groupVols map[string]*structs.VolumeRequest, vms []*structs.VolumeMount,
	host map[string]*structs.ClientHostVolumeConfig, noMountNS bool) ([]*drivers.MountConfig, map[string]string, error) {
	var mounts []*drivers.MountConfig
	env := map[string]string{}
	for _, vm := range vms {
		vr := groupVols[vm.Volume]
		if vr == nil {
			return nil, nil, fmt.Errorf("volume_mount: the group has no volume %q", vm.Volume)
		}
		if vr.Type != structs.VolumeTypeHost {
			return nil, nil, fmt.Errorf("volume %q: type %q is not supported", vm.Volume, vr.Type)
		}
		hv := host[vr.Source]
		if hv == nil {
			return nil, nil, fmt.Errorf("volume %q: host volume %q is not available on this client", vm.Volume, vr.Source)
		}
		ro := vr.ReadOnly || vm.ReadOnly || hv.ReadOnly
		if vm.PropagationMode == drivers.MountPropagationBidirectional && ro {
			return nil, nil, fmt.Errorf("volume %q: propagation_mode %q needs a writable mount", vm.Volume, vm.PropagationMode)
		}
		if noMountNS {
			env[EnvPrefix+envName(vm.Volume)] = hv.Path
			continue
		}
		mounts = append(mounts, &drivers.MountConfig{
			TaskPath: vm.Destination, HostPath: hv.Path, Readonly: ro, PropagationMode: vm.PropagationMode,
		})
	}
	if len(env) == 0 {
		env = nil
	}
	return mounts, env, nil
}

// envName makes a volume name usable in a variable name.
func envName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}
