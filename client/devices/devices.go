// Package devices is the client hook that hands a task the device
// instances the scheduler granted it (AllocatedTaskResources.Devices), as
// Nomad's nvidia device plugin does: NVIDIA_VISIBLE_DEVICES lists the GPU
// UUIDs, which the NVIDIA container runtime reads for docker tasks and
// CUDA reads for every driver. The scheduler and the plan applier make
// sure no two allocations hold one instance.
package devices

import (
	"context"
	"strings"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

// EnvNvidiaVisibleDevices is the variable the NVIDIA runtime and CUDA read.
const EnvNvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES"

// HookFactory builds the hook for tasks granted devices.
func HookFactory() hooks.TaskHookFactory {
	return func(cfg *hooks.TaskHookConfig) hooks.Hook {
		if len(granted(cfg.Alloc, cfg.Task.Name)) == 0 {
			return nil
		}
		return hook{}
	}
}

type hook struct{}

func (hook) Name() string { return "devices" }

// Prestart puts the granted instance IDs in the task's environment.
func (hook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	resp.Env = Env(granted(req.Alloc, req.Task.Name))
	return nil
}

// Env is the environment a task with these grants gets.
func Env(devs []*structs.AllocatedDeviceResource) map[string]string {
	var nvidia []string
	for _, d := range devs {
		if d != nil && d.Vendor == "nvidia" {
			nvidia = append(nvidia, d.DeviceIDs...)
		}
	}
	if len(nvidia) == 0 {
		return nil
	}
	return map[string]string{EnvNvidiaVisibleDevices: strings.Join(nvidia, ",")}
}

func granted(a *structs.Allocation, task string) []*structs.AllocatedDeviceResource {
	if a == nil || a.AllocatedResources == nil {
		return nil
	}
	if tr := a.AllocatedResources.Tasks[task]; tr != nil {
		return tr.Devices
	}
	return nil
}
