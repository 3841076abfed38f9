package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/orch-project/orch/structs"
)

// scheduleGeneric handles service and batch jobs: keep Count allocations of
// each group, replace failed and lost ones, follow job updates (through a
// deployment for rolling groups, see rollout.go) and stop what is no longer
// wanted.
func (c *evalCtx) scheduleGeneric() error {
	allocs, err := c.snap.AllocsByJob(nil, c.ns, c.eval.JobID)
	if err != nil {
		return fmt.Errorf("list allocations of job %q: %w", c.eval.JobID, err)
	}
	if err := c.loadDeployment(); err != nil {
		return err
	}
	if c.job == nil || c.job.Stop {
		c.stopAll(allocs)
		return nil
	}
	if err := c.buildNodes(); err != nil {
		return err
	}

	c.groups = make([]*groupCtx, 0, len(c.job.TaskGroups))
	byName := make(map[string]*groupCtx, len(c.job.TaskGroups))
	for _, tg := range c.job.TaskGroups {
		g := c.newGroup(tg)
		g.rolling = c.isRolling(tg)
		c.groups = append(c.groups, g)
		byName[tg.Name] = g
		c.queued[tg.Name] = 0
	}

	// One pass over the job's allocations: count live ones per node (for
	// distinct_hosts and anti-affinity), note which were already replaced,
	// and bucket them by group.
	replaced := make(map[string]bool)
	byGroup := make(map[string][]*structs.Allocation, len(c.groups))
	for _, a := range allocs {
		if a.PreviousAllocation != "" {
			replaced[a.PreviousAllocation] = true
		}
		if !a.TerminalStatus() {
			if ni := c.nodeByID(a.NodeID); ni != nil {
				c.trackJobAlloc(a.TaskGroup, ni, 1)
			}
		}
		byGroup[a.TaskGroup] = append(byGroup[a.TaskGroup], a)
	}
	// Allocations of groups the job no longer has.
	for _, name := range slices.Sorted(maps.Keys(byGroup)) {
		if byName[name] != nil {
			continue
		}
		c.stopAll(byGroup[name])
	}

	// Stops for every group first, so that placements see the freed room.
	work := make([]groupWork, len(c.groups))
	for i, g := range c.groups {
		w, err := c.reconcileGroup(g, byGroup[g.tg.Name], replaced)
		if err != nil {
			return err
		}
		work[i] = w
	}
	c.finishDeployment()
	limit := c.candidateLimit()
	for i, w := range work {
		for _, p := range w.places {
			if err := c.place(p, limit); err != nil {
				return err
			}
		}
		if err := c.fillMissing(c.groups[i], w.missing, w.used, limit); err != nil {
			return err
		}
		for _, p := range w.canaries {
			if err := c.place(p, limit); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupWork is what reconciling a group leaves to place: replacements of
// existing allocations, how many new ones fill the missing indexes, and
// canaries. The new ones are not materialized: a count of 1e9 that cannot
// be placed must cost the scheduler nothing per instance.
type groupWork struct {
	places   []placement
	missing  int
	used     map[int]bool
	canaries []placement
}

// fillMissing places the group's missing allocations, lowest free index
// first. Once one has failed, every further one fails the same way (only
// the plan got fuller), so the rest are counted at once as coalesced
// failures and queued allocations instead of one by one.
func (c *evalCtx) fillMissing(g *groupCtx, missing int, used map[int]bool, limit int) error {
	idx := 0
	for ; missing > 0; missing-- {
		if g.failed != nil {
			g.failed.CoalescedFailures += missing
			c.queued[g.tg.Name] += missing
			return nil
		}
		for used[idx] {
			idx++
		}
		if err := c.place(placement{g: g, name: structs.AllocName(c.job.ID, g.tg.Name, idx)}, limit); err != nil {
			return err
		}
		idx++
	}
	return nil
}

// stopAll stops every allocation still meant to run, or to be rescheduled:
// the job (or their group) is gone or stopped.
func (c *evalCtx) stopAll(allocs []*structs.Allocation) {
	for _, a := range allocs {
		if !a.TerminalStatus() || awaitingReschedule(a) {
			c.stopAlloc(a, descNotNeeded, "")
			if d := c.desired[a.TaskGroup]; d != nil {
				d.Stop++
			}
		}
	}
}

// slotAction is what the reconciler does with an existing allocation.
type slotAction uint8

const (
	actKeep       slotAction = iota // leave as is
	actInPlace                      // update to the new job version in place
	actUpdate                       // destructive update: stop and replace
	actMigrate                      // node draining or alloc stop: stop and replace
	actDrainStop                    // batch work drained off its node: stop, keep the slot
	actLost                         // node down or gone: mark lost and replace
	actReschedule                   // failed and eligible: replace elsewhere
	actDelay                        // failed and eligible later: defer to a follow-up eval
	actDisconnect                   // node disconnected, disconnect.replace: place a replacement, keep the original
)

// slot is an existing allocation that counts toward the group's Count.
type slot struct {
	a   *structs.Allocation
	idx int
	act slotAction
	// pinned allocations (completed batch work) hold their slot for good:
	// they are never stopped to shrink the group.
	pinned bool
	// delay and due are the reschedule delay of a failed allocation and
	// when its replacement is due (Unix ns).
	delay time.Duration
	due   int64
}

// reconcileGroup decides the fate of a group's allocations, adds the stops
// to the plan and returns the placements still to make.
func (c *evalCtx) reconcileGroup(g *groupCtx, allocs []*structs.Allocation, replaced map[string]bool) (groupWork, error) {
	tg := g.tg
	slots, canaries, err := c.groupSlots(g, allocs, replaced)
	if err != nil {
		return groupWork{}, err
	}
	slots = c.shrink(g, slots)

	var (
		canaryPlaces []placement
		wantCanaries int
	)
	if g.rolling {
		canaryPlaces, wantCanaries = c.limitRollout(g, slots, canaries)
		if len(canaryPlaces) > 0 || len(slots) < tg.Count || slices.ContainsFunc(slots, func(s slot) bool {
			return s.act != actKeep && s.act != actDelay
		}) {
			c.ensureDeployment()
		}
		if wantCanaries > 0 {
			c.setDesiredCanaries(g, wantCanaries)
		}
	}

	var (
		places  []placement
		delayed []slot
	)
	used := make(map[int]bool, len(slots))
	for _, s := range slots {
		if s.idx >= 0 {
			used[s.idx] = true
		}
		name := s.a.Name
		if s.idx < 0 {
			name = structs.AllocName(c.job.ID, tg.Name, 0)
		}
		switch s.act {
		case actKeep:
			g.desired.Ignore++
		case actInPlace:
			c.updateInPlace(g, s.a)
			g.desired.InPlaceUpdate++
		case actUpdate:
			c.stopAlloc(s.a, descUpdating, "")
			places = append(places, placement{g: g, name: name, prev: s.a})
			g.desired.DestructiveUpdate++
		case actMigrate:
			c.stopAlloc(s.a, descMigrating, "")
			places = append(places, placement{g: g, name: name, prev: s.a})
			g.desired.Migrate++
		case actDrainStop:
			c.stopAlloc(s.a, descDrained, "")
			g.desired.Stop++
		case actLost:
			c.stopAlloc(s.a, descLost, structs.AllocClientStatusLost)
			places = append(places, placement{g: g, name: name, prev: s.a})
			g.desired.Place++
		case actReschedule:
			c.stopAlloc(s.a, descRescheduled, "")
			places = append(places, placement{g: g, name: name, prev: s.a, reschedule: true, delay: s.delay})
			g.desired.RescheduleNow++
		case actDelay:
			delayed = append(delayed, s)
			g.desired.RescheduleLater++
		case actDisconnect:
			places = append(places, placement{g: g, name: name, prev: s.a})
			g.desired.Disconnect++
		}
	}
	c.deferReschedules(delayed)
	// Missing indexes are filled, lowest first, by fillMissing.
	missing := max(tg.Count-len(slots), 0)
	g.desired.Place += uint64(missing)
	g.desired.Canary += uint64(len(canaryPlaces))
	if g.rolling {
		g.rolledOut = missing == 0 && c.rolledOut(slots, places, canaryPlaces, canaries)
	}
	return groupWork{places: places, missing: missing, used: used, canaries: canaryPlaces}, nil
}

// groupSlots sorts a group's allocations: those that hold a slot (with
// what to do about each), and canaries of the current deployment awaiting
// promotion (live or not), which stand beside the slots. Canaries whose deployment ended
// unpromoted are stopped here.
func (c *evalCtx) groupSlots(g *groupCtx, allocs []*structs.Allocation, replaced map[string]bool) ([]slot, []*structs.Allocation, error) {
	tg := g.tg
	batch := c.job.Type == structs.JobTypeBatch
	slots := make([]slot, 0, len(allocs))
	var canaries []*structs.Allocation
	skip := c.reconcileReconnects(g, allocs, replaced)
	for _, a := range allocs {
		if replaced[a.ID] || a.NextAllocation != "" || skip[a.ID] {
			continue
		}
		stopped := a.DesiredStatus == structs.AllocDesiredStatusStop || a.DesiredStatus == structs.AllocDesiredStatusEvict
		if batch && stopped && a.DesiredDescription == descDrained {
			// Its slot stays taken: drained batch work is not replaced.
			slots = append(slots, slot{a: a, idx: a.Index(), pinned: true})
			continue
		}
		if stopped && !awaitingReschedule(a) {
			continue
		}
		if a.DeploymentStatus.IsCanary() {
			fate, err := c.canaryFate(a)
			if err != nil {
				return nil, nil, err
			}
			switch {
			case fate == canaryPending:
				// Counted even once failed: the deployment, not a
				// replacement canary, answers a failure.
				canaries = append(canaries, a)
				continue
			case fate == canaryDiscard && !a.TerminalStatus():
				c.stopAlloc(a, descCanaryNotNeeded, "")
				g.desired.Stop++
				continue
			case fate != canaryPromoted:
				continue
			}
		}
		s := slot{a: a, idx: a.Index()}
		switch a.ClientStatus {
		case structs.AllocClientStatusComplete:
			if !batch {
				// A finished service allocation frees its slot; the
				// missing-index fill below replaces it.
				continue
			}
			s.pinned = true
		case structs.AllocClientStatusFailed:
			var err error
			if s.act, s.delay, s.due, err = c.failedAction(a, tg); err != nil {
				return nil, nil, err
			}
		case structs.AllocClientStatusLost:
			var err error
			if s.act, s.delay, s.due, err = c.lostAction(a, tg); err != nil {
				return nil, nil, err
			}
		case structs.AllocClientStatusUnknown:
			s.act = c.unknownAction(g, a)
		default:
			ni := c.nodeByID(a.NodeID)
			switch {
			case ni == nil || ni.node.Status == structs.NodeStatusDown:
				var err error
				if s.act, s.delay, s.due, err = c.lostAction(a, tg); err != nil {
					return nil, nil, err
				}
			case a.DesiredTransition.ShouldMigrate():
				// The node drainer or an operator (alloc stop) moves it. A
				// batch allocation drained off its node is stopped, not
				// replaced: it had until the drain's deadline to finish.
				s.act = actMigrate
				if batch && ni.node.Drain {
					s.act, s.pinned = actDrainStop, true
				}
			case allocVersion(a) != c.job.Version:
				if c.canUpdateInPlace(g, a.Job) && c.nodeStillFeasible(g, ni) {
					s.act = actInPlace
				} else {
					s.act = actUpdate
				}
			}
		}
		slots = append(slots, s)
	}
	return slots, canaries, nil
}

// shrink stops the allocations beyond the group's Count: first old-version
// allocations whose index a newer one (a promoted canary) took over, then
// other old-version ones, then the highest indexes. Pinned allocations are
// never stopped.
func (c *evalCtx) shrink(g *groupCtx, slots []slot) []slot {
	excess := len(slots) - g.tg.Count
	if excess <= 0 {
		return slots
	}
	current := map[int]bool{}
	for _, s := range slots {
		if allocVersion(s.a) == c.job.Version {
			current[s.idx] = true
		}
	}
	rank := func(s slot) int {
		old := allocVersion(s.a) != c.job.Version
		switch {
		case old && current[s.idx]:
			return 0
		case old:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(slots, func(x, y slot) int {
		if rx, ry := rank(x), rank(y); rx != ry {
			return rx - ry
		}
		if x.idx != y.idx {
			return y.idx - x.idx
		}
		return int(y.a.CreateIndex) - int(x.a.CreateIndex)
	})
	kept := slots[:0]
	for _, s := range slots {
		if excess > 0 && !s.pinned {
			excess--
			status := ""
			if s.act == actLost {
				status = structs.AllocClientStatusLost
			}
			c.stopAlloc(s.a, descNotNeeded, status)
			g.desired.Stop++
			continue
		}
		kept = append(kept, s)
	}
	return kept
}

// allocVersion is the job version an allocation runs.
func allocVersion(a *structs.Allocation) uint64 {
	if a.Job != nil {
		return a.Job.Version
	}
	return a.JobVersion
}

// nodeStillFeasible reports whether a node an allocation runs on still
// satisfies the new job version's datacenters, pool, drivers and constraints.
func (c *evalCtx) nodeStillFeasible(g *groupCtx, ni *nodeInfo) bool {
	if ok, _ := newDatacenterCheck(c.job, c.dcMatch).Feasible(ni.node); !ok {
		return false
	}
	if ok, _ := newNodePoolCheck(c.job).Feasible(ni.node); !ok {
		return false
	}
	ok, _ := g.staticFeasible(ni)
	return ok
}
