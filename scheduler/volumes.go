package scheduler

import (
	"sort"

	"github.com/orch-project/orch/structs"
)

// reasonMissingHostVolumes prefixes the ConstraintFiltered key of a node
// lacking a group's host volume (Nomad's "missing compatible host
// volumes"), followed by the volume's name.
const reasonMissingHostVolumes = "missing compatible host volumes: "

// hostVolumeCheck admits nodes that offer every host volume the group
// asks for (client `host_volume` blocks, Node.HostVolumes), and writable
// ones where the group asks for write access.
type hostVolumeCheck struct{ vols []*structs.VolumeRequest }

func newHostVolumeCheck(tg *structs.TaskGroup) *hostVolumeCheck {
	var vols []*structs.VolumeRequest
	for _, v := range tg.Volumes {
		if v != nil && v.Type == structs.VolumeTypeHost {
			vols = append(vols, v)
		}
	}
	if len(vols) == 0 {
		return nil
	}
	// Map order is random; a stable order makes the reported volume the
	// same from one eval to the next.
	sort.Slice(vols, func(i, j int) bool { return vols[i].Source < vols[j].Source })
	return &hostVolumeCheck{vols: vols}
}

func (*hostVolumeCheck) Name() string { return "HostVolumes" }

func (c *hostVolumeCheck) Feasible(n *structs.Node) (bool, string) {
	for _, v := range c.vols {
		hv := n.HostVolumes[v.Source]
		if hv == nil || (hv.ReadOnly && !v.ReadOnly) {
			return false, reasonMissingHostVolumes + v.Source
		}
	}
	return true, ""
}
