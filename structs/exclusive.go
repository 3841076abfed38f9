package structs

import (
	"fmt"
	"slices"
)

// Exclusive resources are held by one allocation at a time: reserved CPU
// cores and device instances. The scheduler assigns them; the plan applier
// re-checks them with ExclusiveConflict, so two workers planning from
// snapshots that did not see each other's plans cannot hand out one core
// or one GPU twice.

// ReservableCores lists the cores allocations may reserve: the node's
// reservable cores (all of 0..TotalCpuCores-1 when it does not say) less
// those its operator reserved for the host.
func (n *Node) ReservableCores() []uint16 {
	if n.NodeResources == nil {
		return nil
	}
	c := n.NodeResources.Cpu
	cores := c.ReservableCpuCores
	if len(cores) == 0 && c.TotalCpuCores > 0 {
		cores = make([]uint16, c.TotalCpuCores)
		for i := range cores {
			cores[i] = uint16(i)
		}
	}
	if r := n.ReservedResources; r != nil && len(r.Cpu.ReservedCpuCores) > 0 {
		cores = slices.DeleteFunc(slices.Clone(cores), func(id uint16) bool {
			return slices.Contains(r.Cpu.ReservedCpuCores, id)
		})
	}
	return cores
}

// CoreMHz is the compute of one core: a task reserving cores is granted
// their MHz, so shared-CPU tasks cannot be packed onto them. 0 when the
// node does not report its cores.
func (n *Node) CoreMHz() int64 {
	if n.NodeResources == nil || n.NodeResources.Cpu.TotalCpuCores == 0 {
		return 0
	}
	return n.NodeResources.Cpu.CpuShares / int64(n.NodeResources.Cpu.TotalCpuCores)
}

// ReservedCores lists the cores granted to the allocation's tasks.
func (a *AllocatedResources) ReservedCores() []uint16 {
	if a == nil {
		return nil
	}
	var out []uint16
	for _, t := range a.Tasks {
		if t != nil {
			out = append(out, t.Cpu.ReservedCores...)
		}
	}
	return out
}

// DeviceIDs lists the device instances granted to the allocation's tasks.
func (a *AllocatedResources) DeviceIDs() []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, t := range a.Tasks {
		if t == nil {
			continue
		}
		for _, d := range t.Devices {
			if d != nil {
				out = append(out, d.DeviceIDs...)
			}
		}
	}
	return out
}

// ExclusiveConflict checks the exclusive resources one node would hold:
// those of held (its live allocations) and of placed (new placements).
// Each core and device instance of placed must be reservable on the node
// (a healthy instance of the group it was granted from), and no core or
// instance may be held twice. An instance that turned unhealthy under a
// held allocation is its client's business, not a conflict. It returns
// what is wrong ("" when nothing), naming the core or device.
func ExclusiveConflict(n *Node, held, placed []*Allocation) string {
	x := exclusiveCheck{node: n, cores: map[uint16]bool{}, devices: map[string]bool{}}
	for _, a := range held {
		if msg := x.add(a.AllocatedResources, false); msg != "" {
			return msg
		}
	}
	for _, a := range placed {
		if msg := x.add(a.AllocatedResources, true); msg != "" {
			return msg
		}
	}
	return ""
}

type exclusiveCheck struct {
	node       *Node
	reservable map[uint16]bool
	instances  map[string]string // healthy instance ID -> group ID
	cores      map[uint16]bool
	devices    map[string]bool
}

func (x *exclusiveCheck) add(ar *AllocatedResources, checkNode bool) string {
	if ar == nil {
		return ""
	}
	for _, t := range ar.Tasks {
		if t == nil {
			continue
		}
		for _, id := range t.Cpu.ReservedCores {
			if checkNode && !x.coreReservable(id) {
				return fmt.Sprintf("cores: core %d is not reservable", id)
			}
			if x.cores[id] {
				return fmt.Sprintf("cores: core %d reserved twice", id)
			}
			x.cores[id] = true
		}
		for _, d := range t.Devices {
			if d == nil {
				continue
			}
			for _, id := range d.DeviceIDs {
				if checkNode && x.instanceGroup(id) != d.ID() {
					return fmt.Sprintf("devices: %s instance %s is not available", d.ID(), id)
				}
				if x.devices[id] {
					return fmt.Sprintf("devices: %s instance %s granted twice", d.ID(), id)
				}
				x.devices[id] = true
			}
		}
	}
	return ""
}

func (x *exclusiveCheck) coreReservable(id uint16) bool {
	if x.reservable == nil {
		x.reservable = map[uint16]bool{}
		for _, c := range x.node.ReservableCores() {
			x.reservable[c] = true
		}
	}
	return x.reservable[id]
}

func (x *exclusiveCheck) instanceGroup(id string) string {
	if x.instances == nil {
		x.instances = healthyInstances(x.node)
	}
	return x.instances[id]
}

func healthyInstances(n *Node) map[string]string {
	out := map[string]string{}
	if n.NodeResources == nil {
		return out
	}
	for _, g := range n.NodeResources.Devices {
		if g == nil {
			continue
		}
		for _, in := range g.Instances {
			if in != nil && in.Healthy {
				out[in.ID] = g.ID()
			}
		}
	}
	return out
}
