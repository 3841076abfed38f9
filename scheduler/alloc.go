package scheduler

import (
	"fmt"
	"maps"
	"time"

	"github.com/orch-project/orch/structs"
)

// Stop descriptions, as Nomad words them.
const (
	descNotNeeded   = "alloc not needed due to job update"
	descMigrating   = "alloc is being migrated"
	descDrained     = "alloc was stopped by its node's drain"
	descUpdating    = "alloc is being updated due to job update"
	descLost        = "alloc is lost since its node is down"
	descRescheduled = "alloc was rescheduled because it failed"
	descNodeInelig  = "alloc not needed as node is not eligible"
	// descDelayed marks a failed allocation whose replacement waits for its
	// reschedule delay; it holds its slot until the follow-up eval runs.
	descDelayed = "alloc failed and is waiting for its reschedule delay"
)

// placement is one allocation to create.
type placement struct {
	g    *groupCtx
	name string
	// prev is the allocation this one replaces, if any; reschedule is set
	// when prev failed, so the reschedule tracker grows and prev's node is
	// avoided.
	prev       *structs.Allocation
	reschedule bool
	// delay is the reschedule delay that preceded this placement,
	// recorded on the tracker so the next one grows from it.
	delay time.Duration
	// node pins the placement (system jobs); nil lets the ranker choose.
	node *nodeInfo
	// canary places a new-version allocation beside the old ones until
	// the deployment is promoted.
	canary bool
}

// place finds a node for p and adds the allocation to the plan, or records
// the failure on the eval.
func (c *evalCtx) place(p placement, limit int) error {
	g := p.g
	if g.failed != nil && p.node == nil {
		// Nothing changed since the group's last failure except the plan
		// getting fuller, so this placement cannot fit either.
		g.failed.CoalescedFailures++
		c.queued[g.tg.Name]++
		return nil
	}
	m := &structs.AllocMetric{NodesInPool: c.nodesInPool}
	avoid := ""
	if p.reschedule && p.prev != nil {
		avoid = p.prev.NodeID
	}
	var (
		ni   *nodeInfo
		meta *structs.NodeScoreMeta
		err  error
	)
	switch {
	case p.node != nil:
		ni, meta, err = c.checkPinned(g, p.node, m)
	default:
		if pref := c.stickyNode(g, p); pref != nil {
			ni, meta, err = c.checkPreferred(g, pref, m)
		}
		if ni == nil && err == nil {
			ni, meta, err = c.selectNode(g, avoid, limit, m)
		}
	}
	if err != nil {
		return err
	}
	m.NodesAvailable = maps.Clone(c.nodesAvailable)
	if ni == nil {
		c.queued[g.tg.Name]++
		if g.failed != nil {
			g.failed.CoalescedFailures++
			return nil
		}
		g.failed = m
		if c.failed == nil {
			c.failed = map[string]*structs.AllocMetric{}
		}
		c.failed[g.tg.Name] = m
		return nil
	}
	m.ScoreMetaData = []*structs.NodeScoreMeta{meta}
	a := c.newAlloc(g, p, ni, m)
	c.claim(g, ni, a.AllocatedResources)
	c.plan.AppendAlloc(a)
	if p.prev != nil {
		if s := c.stopped[p.prev.ID]; s != nil {
			s.NextAllocation = a.ID
		}
	}
	return nil
}

// checkPinned runs the dynamic checks for a placement on a given node.
func (c *evalCtx) checkPinned(g *groupCtx, ni *nodeInfo, m *structs.AllocMetric) (*nodeInfo, *structs.NodeScoreMeta, error) {
	m.NodesEvaluated++
	if reason := g.distinctReason(ni); reason != "" {
		filtered(m, reason)
		return nil, nil, nil
	}
	if err := c.loadNode(ni); err != nil {
		return nil, nil, fmt.Errorf("load node %s: %w", ni.node.ID, err)
	}
	if dim := g.fits(ni); dim != "" {
		exhausted(m, dim)
		return nil, nil, nil
	}
	return ni, c.score(g, ni, "").meta(ni.node.ID), nil
}

// stickyNode is the node a replacement of a group with a sticky (or
// migrating) ephemeral disk tries first: its previous allocation's, when
// that node is still a ready candidate of the job. As in Nomad this holds
// for destructive updates, migrations and reschedules alike; a lost
// allocation's node is down, so it is not a candidate.
func (c *evalCtx) stickyNode(g *groupCtx, p placement) *nodeInfo {
	d := g.tg.EphemeralDisk
	if p.prev == nil || d == nil || !(d.Sticky || d.Migrate) {
		return nil
	}
	ni := c.nodeByID(p.prev.NodeID)
	if ni == nil || ni.pos < 0 {
		return nil
	}
	return ni
}

// checkPreferred runs every check of g on the preferred node; nil when it
// does not fit, and the placement falls back to the usual ranking (the
// preference is best effort).
func (c *evalCtx) checkPreferred(g *groupCtx, ni *nodeInfo, m *structs.AllocMetric) (*nodeInfo, *structs.NodeScoreMeta, error) {
	ok, err := c.feasible(g, ni, m)
	if err != nil || !ok {
		return nil, nil, err
	}
	return ni, c.score(g, ni, "").meta(ni.node.ID), nil
}

// newAlloc builds the allocation for p on ni. Job is left nil: the FSM
// attaches the stored job version.
func (c *evalCtx) newAlloc(g *groupCtx, p placement, ni *nodeInfo, m *structs.AllocMetric) *structs.Allocation {
	a := &structs.Allocation{
		ID:                 c.newID(),
		Namespace:          c.ns,
		EvalID:             c.eval.ID,
		Name:               p.name,
		NodeID:             ni.node.ID,
		NodeName:           ni.node.Name,
		JobID:              c.job.ID,
		JobVersion:         c.job.Version,
		TaskGroup:          g.tg.Name,
		AllocatedResources: allocatedResources(g.tg, ni.node),
		Metrics:            m,
		DesiredStatus:      structs.AllocDesiredStatusRun,
		ClientStatus:       structs.AllocClientStatusPending,
		CreateTime:         c.now,
		ModifyTime:         c.now,
	}
	if d := c.activeDeployment(); d != nil && g.rolling {
		a.DeploymentID = d.ID
		if p.canary {
			a.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
		}
	}
	if p.prev != nil {
		a.PreviousAllocation = p.prev.ID
		if p.reschedule {
			var events []*structs.RescheduleEvent
			if p.prev.RescheduleTracker != nil {
				events = append(events, p.prev.RescheduleTracker.Events...)
			}
			events = append(events, &structs.RescheduleEvent{
				RescheduleTime: c.now, PrevAllocID: p.prev.ID, PrevNodeID: p.prev.NodeID, Delay: p.delay,
			})
			a.RescheduleTracker = &structs.RescheduleTracker{Events: events}
		}
	}
	return a
}

// allocatedResources grants the group's ask. Static ports are mapped on the
// node's address; dynamic ports are left for the client to assign.
func allocatedResources(tg *structs.TaskGroup, n *structs.Node) *structs.AllocatedResources {
	ar := &structs.AllocatedResources{Tasks: make(map[string]*structs.AllocatedTaskResources, len(tg.Tasks))}
	for _, t := range tg.Tasks {
		tr := &structs.AllocatedTaskResources{}
		if r := t.Resources; r != nil {
			tr.Cpu.CpuShares = int64(r.CPU)
			// The secrets tmpfs is charged to the task's memory (Nomad
			// adds it to memory; memory_max keeps its headroom above it).
			tr.Memory.MemoryMB = int64(r.MemoryMB + r.SecretsMemoryMB())
			if r.MemoryMaxMB > 0 {
				tr.Memory.MemoryMaxMB = int64(r.MemoryMaxMB + r.SecretsMemoryMB())
			}
			tr.Networks = copyNetworks(r.Networks)
		} else {
			tr.Cpu.CpuShares = structs.DefaultTaskCPU
			tr.Memory.MemoryMB = structs.DefaultTaskMemoryMB
		}
		ar.Tasks[t.Name] = tr
	}
	if tg.EphemeralDisk != nil {
		ar.Shared.DiskMB = int64(tg.EphemeralDisk.SizeMB)
	}
	if len(tg.Networks) > 0 {
		ar.Shared.Networks = copyNetworks(tg.Networks)
		for _, nw := range tg.Networks {
			if nw == nil {
				continue
			}
			for _, p := range nw.ReservedPorts {
				// The host network was checked feasible on n.
				ip, _ := n.HostNetworkAddress(p.HostNetwork)
				ar.Shared.Ports = append(ar.Shared.Ports, structs.AllocatedPort{Label: p.Label, Value: p.Value, To: p.To, HostIP: ip,
					IgnoreCollision: p.IgnoreCollision})
			}
		}
	}
	return ar
}

func copyNetworks(nets []*structs.NetworkResource) []*structs.NetworkResource {
	if len(nets) == 0 {
		return nil
	}
	out := make([]*structs.NetworkResource, 0, len(nets))
	for _, n := range nets {
		if n == nil {
			continue
		}
		c := *n
		c.ReservedPorts = append([]structs.Port(nil), n.ReservedPorts...)
		c.DynamicPorts = append([]structs.Port(nil), n.DynamicPorts...)
		out = append(out, &c)
	}
	return out
}

// updateInPlace moves a running allocation to the eval's job version
// without restarting it. In a rolling group it joins the deployment, whose
// health tracking starts over for it.
func (c *evalCtx) updateInPlace(g *groupCtx, a *structs.Allocation) {
	u := a.Copy()
	u.Job = nil
	u.EvalID = c.eval.ID
	u.JobVersion = c.job.Version
	u.ModifyTime = c.now
	if d := c.activeDeployment(); d != nil && g.rolling && u.DeploymentID != d.ID {
		u.DeploymentID = d.ID
		u.DeploymentStatus = nil
	}
	c.plan.AppendAlloc(u)
}
