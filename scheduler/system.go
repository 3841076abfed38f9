package scheduler

import (
	"fmt"
	"sort"
	"time"

	"github.com/orch-project/orch/structs"
)

// scheduleSystem handles system and sysbatch jobs: one allocation of each
// group on every ready node of the job's datacenters and pool that passes
// the group's checks. Each node is evaluated exactly once. An eval carrying
// a NodeID (a node joined or changed) looks at that node only.
func (c *evalCtx) scheduleSystem() error {
	allocs, err := c.snap.AllocsByJob(nil, c.ns, c.eval.JobID)
	if err != nil {
		return fmt.Errorf("list allocations of job %q: %w", c.eval.JobID, err)
	}
	scoped := c.eval.NodeID != ""
	if scoped {
		kept := allocs[:0:0]
		for _, a := range allocs {
			if a.NodeID == c.eval.NodeID {
				kept = append(kept, a)
			}
		}
		allocs = kept
	}
	if c.job == nil || c.job.Stop {
		c.stopAll(allocs)
		return nil
	}

	var nodes []*structs.Node
	if scoped {
		n, err := c.snap.NodeByID(nil, c.eval.NodeID)
		if err != nil {
			return fmt.Errorf("look up node %s: %w", c.eval.NodeID, err)
		}
		if n != nil {
			nodes = []*structs.Node{n}
		}
	} else if nodes, err = c.snap.NodesByIDPrefix(nil, ""); err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	c.addNodes(nodes)

	groups := make([]*groupCtx, 0, len(c.job.TaskGroups))
	byName := make(map[string]*groupCtx, len(c.job.TaskGroups))
	for _, tg := range c.job.TaskGroups {
		g := c.newGroup(tg)
		g.updateBudget = -1
		if u := tg.Update; u != nil && u.MaxParallel > 0 {
			g.updateBudget = u.MaxParallel
		}
		groups = append(groups, g)
		byName[tg.Name] = g
		c.queued[tg.Name] = 0
	}

	// Bucket the job's allocations by node, stopping those of removed
	// groups and those on nodes that can no longer run the job.
	byNode := make(map[string][]*structs.Allocation)
	for _, a := range allocs {
		if !a.TerminalStatus() {
			if ni := c.nodeByID(a.NodeID); ni != nil {
				c.trackJobAlloc(a.TaskGroup, ni, 1)
			}
		}
		if byName[a.TaskGroup] == nil {
			if !a.TerminalStatus() {
				c.stopAlloc(a, descNotNeeded, "")
			}
			continue
		}
		byNode[a.NodeID] = append(byNode[a.NodeID], a)
	}
	nodeIDs := make([]string, 0, len(byNode))
	for id := range byNode {
		nodeIDs = append(nodeIDs, id)
	}
	sort.Strings(nodeIDs)
	for _, id := range nodeIDs {
		ni := c.nodeByID(id)
		if ni != nil && ni.pos >= 0 {
			continue
		}
		for _, a := range byNode[id] {
			if a.TerminalStatus() || a.ClientStatus == structs.AllocClientStatusUnknown {
				// Unknown: its node is disconnected and may come back
				// before lost_after; the servers mark it lost otherwise.
				continue
			}
			switch {
			case ni == nil || ni.node.Status == structs.NodeStatusDown:
				c.stopAlloc(a, descLost, structs.AllocClientStatusLost)
			case a.DesiredTransition.ShouldMigrate():
				// Drained (or stopped by an operator) off a node that takes
				// no new work: stopped, not replaced.
				c.stopAlloc(a, descMigrating, "")
			case c.inJobScope(ni.node):
				// Ineligible or draining: what runs there keeps running,
				// as in Nomad; the node drainer stops it when its turn comes.
			default:
				c.stopAlloc(a, descNodeInelig, "")
			}
		}
	}

	var places []placement
	for _, ni := range c.nodes {
		onNode := byNode[ni.node.ID]
		for _, g := range groups {
			places = c.reconcileSystemNode(g, ni, onNode, places)
		}
	}
	for _, p := range places {
		if err := c.place(p, 1); err != nil {
			return err
		}
	}
	c.staggerRest(groups)
	return nil
}

// staggerRest schedules the next round of a system job's rolling update:
// when some group held back destructive updates past its max_parallel, a
// follow-up eval runs after the group's stagger, as Nomad does for system
// jobs.
func (c *evalCtx) staggerRest(groups []*groupCtx) {
	var wait time.Duration
	for _, g := range groups {
		if g.heldUpdates && (wait == 0 || g.tg.Update.Stagger < wait) {
			wait = max(g.tg.Update.Stagger, time.Second)
		}
	}
	if wait == 0 {
		return
	}
	ev := c.followupEval(c.now + int64(wait))
	ev.TriggeredBy = structs.EvalTriggerRollingUpdate
	c.createEvals = append(c.createEvals, ev)
}

// reconcileSystemNode settles one group on one candidate node, appending
// the placement it needs, if any.
func (c *evalCtx) reconcileSystemNode(g *groupCtx, ni *nodeInfo, onNode []*structs.Allocation, places []placement) []placement {
	feasible, _ := g.staticFeasible(ni)
	var current *structs.Allocation // the allocation that satisfies the node
	var replace *structs.Allocation // an old-version allocation to replace
	for _, a := range onNode {
		if a.TaskGroup != g.tg.Name {
			continue
		}
		if a.DesiredStatus == structs.AllocDesiredStatusStop || a.DesiredStatus == structs.AllocDesiredStatusEvict ||
			a.ClientStatus == structs.AllocClientStatusLost {
			continue
		}
		if !feasible || current != nil {
			// Constraints no longer met, or a duplicate.
			if !a.TerminalStatus() {
				c.stopAlloc(a, descNotNeeded, "")
			}
			continue
		}
		if a.DesiredTransition.ShouldMigrate() && !a.ClientTerminalStatus() {
			// Stopped by an operator (alloc stop): as in Nomad, a system
			// allocation is not replaced by its stop; it ends complete and
			// a later evaluation of the node places the job there again.
			c.stopAlloc(a, descMigrating, "")
			g.desired.Migrate++
			current = a
			continue
		}
		if a.ClientTerminalStatus() {
			// Finished (or failed) work of the current version is not
			// re-run; of an older version it is run again.
			if allocVersion(a) == c.job.Version {
				current = a
			}
			continue
		}
		if allocVersion(a) == c.job.Version {
			current = a
			continue
		}
		if c.canUpdateInPlace(g, a.Job) {
			c.updateInPlace(g, a)
			g.desired.InPlaceUpdate++
			current = a
			continue
		}
		if g.updateBudget == 0 {
			// max_parallel reached: this node waits for the next round.
			g.heldUpdates = true
			g.desired.Ignore++
			current = a
			continue
		}
		if g.updateBudget > 0 {
			g.updateBudget--
		}
		c.stopAlloc(a, descUpdating, "")
		g.desired.DestructiveUpdate++
		replace = a
	}
	if !feasible || current != nil {
		return places
	}
	if replace == nil {
		g.desired.Place++
	}
	return append(places, placement{
		g: g, name: structs.AllocName(c.job.ID, g.tg.Name, 0), prev: replace, node: ni,
	})
}
