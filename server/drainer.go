package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// The node drainer is a leader-only loop (architecture-next §2): it reads
// the draining nodes from state, decides which of their allocations may
// leave now, and commits those marks (DesiredTransition.Migrate, with an
// evaluation of each job, in one entry) through Raft; the scheduler then
// stops and replaces them. A new leader rebuilds everything from state:
// the drainer keeps no memory between rounds.
//
// Per allocation on a draining node:
//   - service: a group's allocations leave max_parallel (its migrate
//     block) at a time, counted across every draining node: an allocation
//     is marked only while at least count - max_parallel of the group's
//     allocations are running, healthy and not leaving. A replacement
//     counts once the client found it healthy (migrate's health_check,
//     min_healthy_time, healthy_deadline; client/health).
//   - batch and sysbatch: left to finish; stopped (not replaced) at the
//     deadline.
//   - system: stopped (not replaced) once every other allocation on the
//     node is gone, or at the deadline; left alone with IgnoreSystemJobs.
//
// At the drain's deadline every allocation still there is marked at once.
// When none is left (ignored system ones aside) the drain is complete and
// the node stays ineligible.

const (
	// drainerPace bounds how often the drainer runs a round: client
	// reports arrive in bursts, and one round answers them all.
	drainerPace = 50 * time.Millisecond
	// drainerRetry paces a round after a failed commit.
	drainerRetry = time.Second
)

func (s *Server) nodeDrainer(ctx context.Context) {
	for {
		ws := memdb.NewWatchSet()
		next, err := s.drainRound(ctx, ws)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("node drainer", "error", err)
			next = time.Now().Add(drainerRetry)
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !next.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, next)
		}
		_ = ws.WatchCtx(wctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(drainerPace):
		}
	}
}

// drainRound plans one round on a fresh snapshot and commits it. It
// returns when the next drain deadline falls (zero when none).
func (s *Server) drainRound(ctx context.Context, ws memdb.WatchSet) (time.Time, error) {
	snap := s.State().Snapshot()
	nodes, err := snap.DrainingNodes(ws)
	if err != nil {
		return time.Time{}, err
	}
	if len(nodes) == 0 {
		return time.Time{}, nil
	}
	p, err := planDrain(snap, ws, nodes, time.Now())
	if err != nil {
		return time.Time{}, err
	}
	if err := s.commitDrainMarks(ctx, p); err != nil {
		return p.next, err
	}
	var errs []error
	for _, n := range p.done {
		errs = append(errs, s.completeDrain(ctx, n))
	}
	return p.next, errors.Join(errs...)
}

// drainPlan is what one round decided.
type drainPlan struct {
	// migrate are the allocations to mark, in ID order.
	migrate []*structs.Allocation
	// done are the nodes whose drain is complete.
	done []*structs.Node
	// next is the earliest drain deadline still ahead.
	next time.Time
}

// groupKey names a job's group across namespaces.
type groupKey struct {
	ns, job, group string
}

// planDrain decides a round from snap: pure, so tests drive it directly.
func planDrain(snap *state.Snapshot, ws memdb.WatchSet, nodes []*structs.Node, now time.Time) (*drainPlan, error) {
	p := &drainPlan{}
	waiting := map[groupKey][]*structs.Allocation{}
	for _, n := range nodes {
		allocs, err := snap.AllocsByNode(ws, n.ID)
		if err != nil {
			return nil, err
		}
		hasDeadline, deadline := n.DrainStrategy.DeadlineTime()
		forced := hasDeadline && !now.Before(deadline)
		if hasDeadline && !forced && (p.next.IsZero() || deadline.Before(p.next)) {
			p.next = deadline
		}
		if planNode(p, n, allocs, forced, waiting) {
			p.done = append(p.done, n)
		}
	}
	if err := planGroups(p, snap, ws, waiting); err != nil {
		return nil, err
	}
	slices.SortFunc(p.migrate, func(a, b *structs.Allocation) int { return strings.Compare(a.ID, b.ID) })
	return p, nil
}

// planNode sorts one draining node's allocations: marks what may leave at
// once, queues service allocations for their group's budget, and reports
// whether the node is done.
func planNode(p *drainPlan, n *structs.Node, allocs []*structs.Allocation, forced bool, waiting map[groupKey][]*structs.Allocation) bool {
	ignoreSystem := n.DrainStrategy.IgnoreSystemJobs
	var system []*structs.Allocation // system allocations not marked yet
	others, systemLeft := 0, 0
	for _, a := range allocs {
		if a.TerminalStatus() {
			continue
		}
		typ := allocJobType(a)
		if typ == structs.JobTypeSystem {
			if ignoreSystem {
				continue
			}
			systemLeft++
			if !a.DesiredTransition.ShouldMigrate() {
				system = append(system, a)
			}
			continue
		}
		others++
		switch {
		case a.DesiredTransition.ShouldMigrate():
			// Marked already: the scheduler is moving it.
		case forced:
			p.migrate = append(p.migrate, a)
		case typ == structs.JobTypeService:
			k := groupKey{a.Namespace, a.JobID, a.TaskGroup}
			waiting[k] = append(waiting[k], a)
		}
		// batch and sysbatch finish on their own until the deadline.
	}
	if forced || others == 0 {
		p.migrate = append(p.migrate, system...)
	}
	return others == 0 && systemLeft == 0
}

// planGroups marks, per service group, as many waiting allocations as its
// migrate budget allows: healthy - (count - max_parallel), where healthy
// counts the group's allocations that run, proved healthy and are not
// leaving, on any node.
func planGroups(p *drainPlan, snap *state.Snapshot, ws memdb.WatchSet, waiting map[groupKey][]*structs.Allocation) error {
	keys := make([]groupKey, 0, len(waiting))
	for k := range waiting {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		return strings.Compare(a.ns+"\x00"+a.job+"\x00"+a.group, b.ns+"\x00"+b.job+"\x00"+b.group)
	})
	for _, k := range keys {
		cands := waiting[k]
		slices.SortFunc(cands, func(a, b *structs.Allocation) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
		job, err := snap.JobByID(ws, k.ns, k.job)
		if err != nil {
			return err
		}
		var tg *structs.TaskGroup
		if job != nil && !job.Stop {
			tg = job.LookupTaskGroup(k.group)
		}
		if tg == nil {
			// Nothing to keep running: the scheduler stops these anyway.
			p.migrate = append(p.migrate, cands...)
			continue
		}
		all, err := snap.AllocsByJob(ws, k.ns, k.job)
		if err != nil {
			return err
		}
		budget := healthyInGroup(all, k.group) - (tg.Count - migrateParallel(tg))
		for i := 0; i < len(cands) && i < budget; i++ {
			p.migrate = append(p.migrate, cands[i])
		}
	}
	return nil
}

// healthyInGroup counts a group's allocations that run, proved healthy and
// are not being moved.
func healthyInGroup(allocs []*structs.Allocation, group string) int {
	n := 0
	for _, a := range allocs {
		if a.TaskGroup == group && a.DesiredStatus == structs.AllocDesiredStatusRun &&
			a.ClientStatus == structs.AllocClientStatusRunning && !a.DesiredTransition.ShouldMigrate() &&
			a.DeploymentStatus.IsHealthy() {
			n++
		}
	}
	return n
}

func migrateParallel(tg *structs.TaskGroup) int {
	if tg.Migrate == nil || tg.Migrate.MaxParallel <= 0 {
		return 1
	}
	return tg.Migrate.MaxParallel
}

func allocJobType(a *structs.Allocation) string {
	if a.Job == nil {
		return ""
	}
	return a.Job.Type
}

// commitDrainMarks marks the plan's allocations for migration and
// evaluates each of their jobs, in one entry.
func (s *Server) commitDrainMarks(ctx context.Context, p *drainPlan) error {
	if len(p.migrate) == 0 {
		return nil
	}
	now := s.now()
	yes := true
	body := &raftfsm.AllocDesiredTransition{Allocs: make(map[string]*structs.DesiredTransition, len(p.migrate)), Time: now}
	seen := map[structs.NamespacedID]bool{}
	for _, a := range p.migrate {
		body.Allocs[a.ID] = &structs.DesiredTransition{Migrate: &yes}
		key := structs.NamespacedID{Namespace: a.Namespace, ID: a.JobID}
		if seen[key] || a.Job == nil {
			continue
		}
		seen[key] = true
		body.Evals = append(body.Evals, &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: a.Namespace, Priority: a.Job.Priority, Type: a.Job.Type,
			TriggeredBy: structs.EvalTriggerNodeDrain, JobID: a.JobID, NodeID: a.NodeID,
			Status: structs.EvalStatusPending, CreateTime: now, ModifyTime: now,
		})
	}
	if _, err := s.raftApplyCtx(ctx, raftfsm.AllocDesiredTransitionType, body); err != nil {
		return err
	}
	s.logger.Info("node drainer marked allocations for migration", "count", len(p.migrate), "jobs", len(body.Evals))
	return nil
}

// completeDrain ends a node's drain the drainer found finished; the node
// stays ineligible. A drain changed meanwhile is left for the next round.
func (s *Server) completeDrain(ctx context.Context, n *structs.Node) error {
	now := time.Unix(0, s.now()).UTC()
	_, err := s.raftApplyCtx(ctx, raftfsm.NodeDrainUpdateType, &raftfsm.NodeDrainUpdate{
		NodeID: n.ID, Complete: true, Expect: n.DrainStrategy, Time: now.UnixNano(),
		Event: &structs.NodeEvent{Subsystem: structs.NodeEventSubsystemDrain, Message: structs.NodeEventDrainComplete, Timestamp: now},
	})
	var se *statusError
	if errors.As(err, &se) && se.code == 409 {
		return nil
	}
	if err == nil {
		s.logger.Info("node drain complete", "node_id", n.ID, "name", n.Name)
	}
	return err
}
