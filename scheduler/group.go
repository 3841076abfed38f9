package scheduler

import (
	"reflect"

	"github.com/orch-project/orch/structs"
)

// reasonDistinctHosts is the ConstraintFiltered key for distinct_hosts rejections.
const reasonDistinctHosts = structs.ConstraintDistinctHosts

// groupCtx is a task group compiled for the eval: its resource ask, its
// chain of static checks and the per-node verdicts of that chain.
type groupCtx struct {
	tg  *structs.TaskGroup
	ask structs.ComparableResources
	// ports are the static host ports the group reserves.
	ports         []int
	sharedPorts   []int
	selfCollision bool
	// checks are the node-static checks: drivers and constraints at job,
	// group and task level. Their verdicts never change within an eval, so
	// they are cached per candidate position in feas: 0 unknown, 1
	// feasible, k>=2 rejected for reasons[k-2].
	checks    []nodeCheck
	feas      []int32
	reasons   []string
	reasonIdx map[string]int32
	// distinct_hosts at job level keeps the job's allocations on separate
	// nodes; at group level, the group's. distinct are the
	// distinct_property constraints that apply to the group.
	distinctJob, distinctGroup bool
	distinct                   []*distinctProperty
	// coreTasks are the tasks reserving cores (cores in all); devices the
	// tasks' device blocks, deviceAffinity whether any has affinities.
	coreTasks      []taskCores
	cores          int
	devices        []*deviceAsk
	deviceAffinity bool
	// prefs index the candidates by the group's affinities and spreads;
	// nil without them.
	prefs *prefs
	// failed is the metric of the group's first failed placement; later
	// failures only bump its CoalescedFailures.
	failed *structs.AllocMetric
	// inPlace caches, per older job version, whether the group changed only
	// in ways that allow updating allocations in place.
	inPlace map[uint64]bool

	// desired counts what the plan does to the group's allocations.
	desired *structs.DesiredUpdates
	// rolling groups are updated through a deployment (see rollout.go);
	// rolledOut reports that the deployment has nothing left to do here.
	rolling   bool
	rolledOut bool
	// updateBudget is how many more destructive updates a system job's
	// group may make in this eval (-1: no limit); heldUpdates records
	// that some had to wait.
	updateBudget int
	heldUpdates  bool
}

func (c *evalCtx) newGroup(tg *structs.TaskGroup) *groupCtx {
	g := &groupCtx{tg: tg, reasonIdx: map[string]int32{}, inPlace: map[uint64]bool{}, desired: &structs.DesiredUpdates{}}
	c.desired[tg.Name] = g.desired
	for _, t := range tg.Tasks {
		cpu, mem := int64(structs.DefaultTaskCPU), int64(structs.DefaultTaskMemoryMB)
		if t.Resources != nil {
			cpu, mem = int64(t.Resources.CPU), int64(t.Resources.MemoryMB+t.Resources.SecretsMemoryMB())
			if n := t.Resources.Cores; n > 0 {
				// Reserved cores bring their own MHz, which depends on
				// the node (coresMHz).
				cpu = 0
				g.coreTasks = append(g.coreTasks, taskCores{task: t.Name, n: n})
				g.cores += n
			}
		}
		g.ask.CPU += cpu
		g.ask.MemoryMB += mem
	}
	if tg.EphemeralDisk != nil {
		g.ask.DiskMB = int64(tg.EphemeralDisk.SizeMB)
	}
	g.ports, g.sharedPorts, g.selfCollision = groupStaticPorts(tg)

	g.checks = append(g.checks, newDriverCheck(tg))
	if hv := newHostVolumeCheck(tg); hv != nil {
		g.checks = append(g.checks, hv)
	}
	if hn := newHostNetworkCheck(tg); hn != nil {
		g.checks = append(g.checks, hn)
	}
	if nc := newNetworkModeCheck(tg); nc != nil {
		g.checks = append(g.checks, nc)
	}
	if g.devices = c.compileDevices(tg); len(g.devices) > 0 {
		g.checks = append(g.checks, devicesCheck{asks: g.devices})
		for _, d := range g.devices {
			g.deviceAffinity = g.deviceAffinity || d.affSum > 0
		}
	}
	addConstraints := func(cs []*structs.Constraint, groupLevel bool) {
		for _, sc := range cs {
			if sc == nil {
				continue
			}
			switch sc.Operand {
			case structs.ConstraintDistinctHosts:
				if sc.RTarget == "" || sc.RTarget == "true" {
					if groupLevel {
						g.distinctGroup = true
					} else {
						g.distinctJob = true
					}
				}
				continue
			case structs.ConstraintDistinctProperty:
				group := ""
				if groupLevel {
					group = tg.Name
				}
				g.distinct = append(g.distinct, c.distinctFor(sc, group))
				continue
			}
			g.checks = append(g.checks, c.compileConstraint(sc))
		}
	}
	addConstraints(c.job.Constraints, false)
	addConstraints(tg.Constraints, true)
	for _, t := range tg.Tasks {
		addConstraints(t.Constraints, true)
	}
	g.feas = make([]int32, len(c.nodes))
	if c.job.Type == structs.JobTypeService || c.job.Type == structs.JobTypeBatch {
		// System jobs go to every feasible node: preferences do not apply.
		aff, spr := c.compileAffinities(tg), c.compileSpreads(tg)
		if aff != nil || spr != nil {
			g.prefs = &prefs{aff: aff, spread: spr}
		}
	}
	return g
}

// staticFeasible runs the group's static checks on a node, consulting the
// per-eval cache for candidate nodes.
func (g *groupCtx) staticFeasible(ni *nodeInfo) (bool, string) {
	if ni.pos < 0 || ni.pos >= len(g.feas) {
		return runChecks(g.checks, ni.node)
	}
	switch v := g.feas[ni.pos]; v {
	case 0:
	case 1:
		return true, ""
	default:
		return false, g.reasons[v-2]
	}
	ok, reason := runChecks(g.checks, ni.node)
	if ok {
		g.feas[ni.pos] = 1
		return true, ""
	}
	k, seen := g.reasonIdx[reason]
	if !seen {
		k = int32(len(g.reasons))
		g.reasons = append(g.reasons, reason)
		g.reasonIdx[reason] = k
	}
	g.feas[ni.pos] = k + 2
	return false, reason
}

// fits reports the first resource dimension the group would exhaust on the
// node, or "" when it fits. The node's usage must be loaded.
func (g *groupCtx) fits(ni *nodeInfo) string {
	if dim := g.fitsExclusive(ni); dim != "" {
		return dim
	}
	after := ni.used
	after.Add(g.ask)
	after.CPU += g.coresMHz(ni)
	switch {
	case after.CPU > ni.capacity.CPU:
		return "cpu"
	case after.MemoryMB > ni.capacity.MemoryMB:
		return "memory"
	case after.DiskMB > ni.capacity.DiskMB:
		return "disk"
	}
	if g.selfCollision {
		return "network: reserved port collision"
	}
	for _, p := range g.ports {
		if ni.portTaken(p, false) {
			return "network: reserved port collision"
		}
	}
	for _, p := range g.sharedPorts {
		if ni.portTaken(p, true) {
			return "network: reserved port collision"
		}
	}
	return ""
}

// claim records a placement of the group on the node and grants the
// allocation's cores and devices there.
func (c *evalCtx) claim(g *groupCtx, ni *nodeInfo, ar *structs.AllocatedResources) {
	ni.used.Add(g.ask)
	ni.used.CPU += g.coresMHz(ni)
	for _, p := range g.ports {
		if ni.ports == nil {
			ni.ports = map[int]struct{}{}
		}
		ni.ports[p] = struct{}{}
	}
	for _, p := range g.sharedPorts {
		ni.share(p)
	}
	g.grantExclusive(ni, ar)
	c.trackJobAlloc(g.tg.Name, ni, 1)
	if g.prefs != nil && g.prefs.spread != nil && g.prefs.spread.built {
		g.prefs.spread.placed(ni)
	}
}

func (ni *nodeInfo) addGroup(name string, d int) {
	if ni.groupAllocs == nil {
		ni.groupAllocs = map[string]int{}
	}
	ni.groupAllocs[name] += d
}

// canUpdateInPlace reports whether an allocation running the group as
// defined in old can take the eval's job version without being replaced:
// only fields that do not affect what runs or where may differ.
func (c *evalCtx) canUpdateInPlace(g *groupCtx, old *structs.Job) bool {
	if old == nil {
		return false
	}
	if v, ok := g.inPlace[old.Version]; ok {
		return v
	}
	ok := false
	// Job-level affinities and spreads shape where the group goes, so a
	// change to them replaces its allocations, as in Nomad; a change to
	// constraints keeps them where the node still satisfies them.
	if otg := old.LookupTaskGroup(g.tg.Name); otg != nil && reflect.DeepEqual(old.Meta, c.job.Meta) &&
		reflect.DeepEqual(old.Affinities, c.job.Affinities) && reflect.DeepEqual(old.Spreads, c.job.Spreads) {
		ok = reflect.DeepEqual(placementView(otg), placementView(g.tg))
	}
	g.inPlace[old.Version] = ok
	return ok
}

// placementView is a copy of tg without the fields that can change in place
// (count, update/migrate/reschedule policies, service registrations).
func placementView(tg *structs.TaskGroup) *structs.TaskGroup {
	v := *tg
	v.Count = 0
	v.Update, v.Migrate, v.ReschedulePolicy = nil, nil, nil
	v.Services = nil
	v.Tasks = make([]*structs.Task, len(tg.Tasks))
	for i, t := range tg.Tasks {
		tc := *t
		tc.Services = nil
		v.Tasks[i] = &tc
	}
	return &v
}

// TaskChangeDestructive reports whether changing a task from old to new
// replaces its allocations (rather than updating them in place), by the
// rule canUpdateInPlace applies to whole groups.
func TaskChangeDestructive(old, new *structs.Task) bool {
	o, n := *old, *new
	o.Services, n.Services = nil, nil
	return !reflect.DeepEqual(&o, &n)
}
