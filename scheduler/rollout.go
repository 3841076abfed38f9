package scheduler

import (
	"fmt"
	"slices"

	"github.com/orch-project/orch/structs"
)

// Rolling updates. A service job's group with an update block
// (max_parallel > 0) changes through a deployment: one per job version,
// created by the first eval that has work for that version. Within it the
// scheduler
//   - places canaries beside the old allocations when the version needs
//     destructive updates and the group asks for canaries, and goes no
//     further until they are promoted;
//   - otherwise replaces at most max_parallel old allocations at a time,
//     counting allocations of the deployment whose health is not yet known
//     against that budget, so each healthy report frees room for the next;
//   - updates in place all at once, and places missing allocations freely;
//   - stands still while the deployment is paused or after it failed;
//   - marks the deployment successful once every group runs only healthy
//     allocations of the version (and promoted canaries).
// Health is reported by clients; failure, auto-promotion and auto-revert
// are the leader's deployment watcher's.

// Stop descriptions of rollouts.
const (
	descCanaryNotNeeded = "alloc not needed as canary was not promoted"
)

// loadDeployment finds the deployment of the job's current version and
// cancels an active one of an older version or of a stopped job.
func (c *evalCtx) loadDeployment() error {
	d, err := c.snap.LatestDeploymentByJobID(nil, c.ns, c.eval.JobID)
	if err != nil {
		return fmt.Errorf("look up deployment of job %q: %w", c.eval.JobID, err)
	}
	if d == nil {
		return nil
	}
	if c.job != nil && !c.job.Stop && d.JobCreateIndex == c.job.CreateIndex && d.JobVersion == c.job.Version {
		c.deployment = d
		return nil
	}
	if d.Active() {
		desc := structs.DeploymentDescNewerJob
		if c.job == nil || c.job.Stop {
			desc = structs.DeploymentDescStoppedJob
		}
		c.plan.DeploymentUpdates = append(c.plan.DeploymentUpdates, &structs.DeploymentStatusUpdate{
			DeploymentID: d.ID, Status: structs.DeploymentStatusCancelled, StatusDescription: desc,
		})
	}
	return nil
}

// isRolling reports whether a group of the eval's job updates through deployments.
func (c *evalCtx) isRolling(tg *structs.TaskGroup) bool {
	return c.job.Type == structs.JobTypeService && tg.Update != nil && tg.Update.MaxParallel > 0
}

// activeDeployment returns the deployment placements of rolling groups join:
// the current version's, while it runs or is paused.
func (c *evalCtx) activeDeployment() *structs.Deployment {
	if c.deployment != nil && c.deployment.Active() {
		return c.deployment
	}
	return nil
}

// ensureDeployment creates the current version's deployment when there is
// none yet; a finished one (failed) is not replaced: its version gets no
// second rollout.
func (c *evalCtx) ensureDeployment() {
	if c.deployment != nil {
		return
	}
	d := &structs.Deployment{
		ID: c.newID(), Namespace: c.ns, JobID: c.job.ID, JobVersion: c.job.Version,
		JobModifyIndex: c.job.ModifyIndex, JobSpecModifyIndex: c.job.JobModifyIndex,
		JobCreateIndex: c.job.CreateIndex, TaskGroups: map[string]*structs.DeploymentState{},
		Status: structs.DeploymentStatusRunning, StatusDescription: structs.DeploymentDescRunning,
		EvalPriority: c.plan.Priority, CreateTime: c.now, ModifyTime: c.now,
	}
	for _, g := range c.groups {
		if !g.rolling {
			continue
		}
		u := g.tg.Update
		d.TaskGroups[g.tg.Name] = &structs.DeploymentState{
			AutoRevert: u.AutoRevert, AutoPromote: u.AutoPromote, ProgressDeadline: u.ProgressDeadline,
			DesiredTotal: g.tg.Count,
		}
	}
	c.deployment, c.created = d, true
	c.plan.Deployment = d
}

// canaryFate says what becomes of a canary allocation.
type canaryFate uint8

const (
	canaryPending  canaryFate = iota // awaits promotion: held beside the group's slots
	canaryPromoted                   // promoted: an ordinary allocation of the group
	canaryDiscard                    // its deployment ended unpromoted: stop it
)

func (c *evalCtx) canaryFate(a *structs.Allocation) (canaryFate, error) {
	d := c.deployment
	if d == nil || a.DeploymentID != d.ID {
		var err error
		if d, err = c.deploymentByID(a.DeploymentID); err != nil {
			return 0, err
		}
		if d == nil {
			return canaryDiscard, nil
		}
	}
	if s := d.TaskGroups[a.TaskGroup]; s != nil && s.Promoted {
		return canaryPromoted, nil
	}
	if d == c.deployment && d.Active() {
		return canaryPending, nil
	}
	return canaryDiscard, nil
}

func (c *evalCtx) deploymentByID(id string) (*structs.Deployment, error) {
	if d, ok := c.otherDeployments[id]; ok {
		return d, nil
	}
	d, err := c.snap.DeploymentByID(nil, id)
	if err != nil {
		return nil, fmt.Errorf("look up deployment %s: %w", id, err)
	}
	c.otherDeployments[id] = d
	return d, nil
}

// limitRollout applies the deployment's limits to a rolling group's
// destructive updates (slots with actUpdate), turning those that must wait
// into actKeep. It returns the canaries to place and how many the group
// wants (0 when the version needs no canaries).
func (c *evalCtx) limitRollout(g *groupCtx, slots []slot, canaries []*structs.Allocation) ([]placement, int) {
	var destructive []int
	inflight := 0
	d := c.activeDeployment()
	for i, s := range slots {
		switch {
		case s.act == actUpdate:
			destructive = append(destructive, i)
		case s.act == actInPlace:
			// Joins the deployment now; its health is yet to be seen.
			inflight++
		case s.act == actKeep && d != nil && s.a.DeploymentID == d.ID && !s.a.TerminalStatus() &&
			!s.a.DeploymentStatus.HealthSet():
			inflight++
		}
	}
	if len(destructive) == 0 {
		return nil, 0
	}
	slices.SortFunc(destructive, func(x, y int) int { return slots[x].idx - slots[y].idx })
	hold := func(from int) {
		for _, i := range destructive[from:] {
			slots[i].act = actKeep
		}
	}
	if c.deployment != nil && c.deployment.Status != structs.DeploymentStatusRunning {
		hold(0) // paused, or failed: no further progress
		return nil, 0
	}
	u := g.tg.Update
	var st *structs.DeploymentState
	if c.deployment != nil {
		st = c.deployment.TaskGroups[g.tg.Name]
	}
	if st != nil && st.UnhealthyAllocs > 0 {
		// The watcher is about to fail the deployment: replacing more
		// healthy allocations with the version that just proved bad
		// would only cost capacity.
		hold(0)
		return nil, 0
	}
	if u.Canary > 0 && (st == nil || !st.Promoted) {
		hold(0)
		taken := make(map[string]bool, len(canaries))
		for _, a := range canaries {
			taken[a.Name] = true
		}
		var out []placement
		for _, i := range destructive {
			if len(canaries)+len(out) >= u.Canary {
				break
			}
			if name := slots[i].a.Name; !taken[name] {
				taken[name] = true
				out = append(out, placement{g: g, name: name, canary: true})
			}
		}
		return out, u.Canary
	}
	hold(max(0, min(len(destructive), u.MaxParallel-inflight)))
	return nil, 0
}

// setDesiredCanaries records a group's canary count on the deployment the
// plan carries (copying an existing one into the plan first).
func (c *evalCtx) setDesiredCanaries(g *groupCtx, n int) {
	d := c.deployment
	if d == nil || d.TaskGroups[g.tg.Name] == nil || d.TaskGroups[g.tg.Name].DesiredCanaries == n {
		return
	}
	if !c.created && c.plan.Deployment == nil {
		d = d.Copy()
		c.deployment = d
		c.plan.Deployment = d
	}
	d.TaskGroups[g.tg.Name].DesiredCanaries = n
}

// rolledOut reports whether a rolling group has nothing left to do for the
// deployment: no change in this plan, no canary awaiting promotion, and
// every live allocation a healthy member of the deployment.
func (c *evalCtx) rolledOut(slots []slot, places, canaryPlaces []placement, canaries []*structs.Allocation) bool {
	d := c.deployment
	if d == nil || len(places) > 0 || len(canaryPlaces) > 0 || len(canaries) > 0 {
		return false
	}
	for _, s := range slots {
		// A failed allocation kept in its slot (its replacement waits, or
		// none is allowed) leaves the group short: not rolled out.
		if s.act != actKeep || s.a.TerminalStatus() {
			return false
		}
		if allocVersion(s.a) != c.job.Version || s.a.DeploymentID != d.ID || !s.a.DeploymentStatus.IsHealthy() {
			return false
		}
	}
	return true
}

// finishDeployment sets the new deployment's description and marks a
// running deployment successful once every rolling group rolled out.
func (c *evalCtx) finishDeployment() {
	d := c.deployment
	if d == nil {
		return
	}
	if c.created {
		if d.RequiresPromotion() {
			d.StatusDescription = structs.DeploymentDescRunningNeedsPromotion
			if allAutoPromote(d) {
				d.StatusDescription = structs.DeploymentDescRunningAutoPromotion
			}
		}
		return
	}
	if d.Status != structs.DeploymentStatusRunning || d.RequiresPromotion() {
		return
	}
	for _, g := range c.groups {
		if g.rolling && !g.rolledOut {
			return
		}
	}
	c.plan.DeploymentUpdates = append(c.plan.DeploymentUpdates, &structs.DeploymentStatusUpdate{
		DeploymentID: d.ID, Status: structs.DeploymentStatusSuccessful,
		StatusDescription: structs.DeploymentDescSuccessful,
	})
}

func allAutoPromote(d *structs.Deployment) bool {
	for _, s := range d.TaskGroups {
		if s.DesiredCanaries > 0 && !s.Promoted && !s.AutoPromote {
			return false
		}
	}
	return true
}
