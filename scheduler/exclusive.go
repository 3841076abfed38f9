package scheduler

import (
	"github.com/orch-project/orch/structs"
)

// Reserved cores and device instances belong to one allocation at a time.
// A node's holdings are loaded with its usage and follow the plan; a task
// asking for cores gets the lowest free reservable core IDs and their MHz
// (structs.Node.CoreMHz), so shared-CPU tasks are never packed onto them.

const dimCores = "cores"

// taskCores is one task's `cores` ask.
type taskCores struct {
	task string
	n    int
}

func (ni *nodeInfo) holdExclusive(ar *structs.AllocatedResources) {
	for _, id := range ar.ReservedCores() {
		if ni.cores == nil {
			ni.cores = map[uint16]struct{}{}
		}
		ni.cores[id] = struct{}{}
	}
	for _, id := range ar.DeviceIDs() {
		if ni.devices == nil {
			ni.devices = map[string]struct{}{}
		}
		ni.devices[id] = struct{}{}
	}
}

func (ni *nodeInfo) releaseExclusive(ar *structs.AllocatedResources) {
	for _, id := range ar.ReservedCores() {
		delete(ni.cores, id)
	}
	for _, id := range ar.DeviceIDs() {
		delete(ni.devices, id)
	}
}

// freeCores returns up to n free reservable cores, lowest IDs first.
func (ni *nodeInfo) freeCores(n int) []uint16 {
	var out []uint16
	for _, id := range ni.node.ReservableCores() {
		if _, held := ni.cores[id]; !held {
			out = append(out, id)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// fitsExclusive reports the exclusive dimension the group would exhaust on
// the node ("" when its cores and devices fit). The node's usage must be
// loaded.
func (g *groupCtx) fitsExclusive(ni *nodeInfo) string {
	if g.cores > 0 && (ni.node.CoreMHz() == 0 || len(ni.freeCores(g.cores)) < g.cores) {
		return dimCores
	}
	if len(g.devices) > 0 {
		if _, _, dim := assignDevices(g.devices, ni.node, ni.devices); dim != "" {
			return dim
		}
	}
	return ""
}

// coresMHz is the compute the group's reserved cores take on the node.
func (g *groupCtx) coresMHz(ni *nodeInfo) int64 {
	if g.cores == 0 {
		return 0
	}
	return int64(g.cores) * ni.node.CoreMHz()
}

// grantExclusive assigns the group's cores and devices on the node to the
// allocation's tasks and records them as held. fitsExclusive must have
// passed.
func (g *groupCtx) grantExclusive(ni *nodeInfo, ar *structs.AllocatedResources) {
	mhz := ni.node.CoreMHz()
	for _, tc := range g.coreTasks {
		ids := ni.freeCores(tc.n)
		if tr := ar.Tasks[tc.task]; tr != nil {
			tr.Cpu.ReservedCores = ids
			tr.Cpu.CpuShares = int64(len(ids)) * mhz
		}
		for _, id := range ids {
			if ni.cores == nil {
				ni.cores = map[uint16]struct{}{}
			}
			ni.cores[id] = struct{}{}
		}
	}
	if len(g.devices) == 0 {
		return
	}
	grants, _, _ := assignDevices(g.devices, ni.node, ni.devices)
	for _, gr := range grants {
		if tr := ar.Tasks[gr.task]; tr != nil {
			tr.Devices = append(tr.Devices, &structs.AllocatedDeviceResource{
				Vendor: gr.group.Vendor, Type: gr.group.Type, Name: gr.group.Name, DeviceIDs: gr.ids,
			})
		}
		for _, id := range gr.ids {
			if ni.devices == nil {
				ni.devices = map[string]struct{}{}
			}
			ni.devices[id] = struct{}{}
		}
	}
}

// deviceScore is the mean affinity of the devices the group would get on
// the node, and whether any device ask has affinities.
func (g *groupCtx) deviceScore(ni *nodeInfo) (float64, bool) {
	if !g.deviceAffinity {
		return 0, false
	}
	_, s, _ := assignDevices(g.devices, ni.node, ni.devices)
	return s, true
}
