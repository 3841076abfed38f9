package server

import (
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// planGC chooses what garbage collection deletes, from one consistent
// snapshot. "Old" below means last modified before now minus the
// threshold of the kind; an allocation is finished when its client is
// (complete, failed or lost), whatever its desired status.
//
//   - Jobs: a stopped job, or a batch job whose status is dead, goes with
//     all its evals and allocs once every eval is terminal and old and every
//     alloc is finished and old (job threshold; the job's SubmitTime, which
//     a stop also stamps, must be old too).
//     A periodic or parameterized parent goes only with the last of its
//     children: while one remains, `job status` of the parent lists it.
//   - Evals: a terminal, old eval goes once each of its allocs is finished
//     and old (eval threshold).
//   - Allocs: a finished, old alloc whose eval is gone (or goes now) is
//     deleted unless the scheduler still needs it. For a job that exists and
//     is not stopped, that is the newest alloc of each slot — its name, plus
//     its node for system and sysbatch jobs — of the job's current
//     incarnation: the scheduler counts a complete batch alloc as done work,
//     and a failed or lost one carries the reschedule history its
//     replacement will inherit. Allocs of purged jobs, of earlier
//     incarnations of a job ID, of stopped jobs and superseded allocs go.
//   - Nodes: a node down for longer than the node threshold with no
//     unfinished alloc is deleted; its finished allocs follow the rules above.
//   - Deployments: a finished deployment last changed before the eval
//     threshold (Nomad's deployment_gc_threshold is also 1h) goes, unless it
//     is its job's newest: the scheduler reads that one.
//
// The result is ordered groups: one per collected job (the job ahead of its
// evals and allocs), then loose evals and allocs, then nodes.
func planGC(snap *state.Snapshot, now time.Time, th gcThresholds) ([]*raftfsm.GCDelete, error) {
	p := &gcPlanner{
		snap:     snap,
		evalCut:  now.Add(-th.eval).UnixNano(),
		jobCut:   now.Add(-th.job).UnixNano(),
		nodeCut:  now.Add(-th.node),
		gcJobs:   map[structs.NamespacedID]bool{},
		liveJobs: map[structs.NamespacedID]*gcJobInfo{},
	}
	var groups []*raftfsm.GCDelete
	jobGroups, err := p.jobs()
	if err != nil {
		return nil, err
	}
	groups = append(groups, jobGroups...)
	loose := &raftfsm.GCDelete{}
	gone, err := p.evals(loose)
	if err != nil {
		return nil, err
	}
	if err := p.allocs(loose, gone); err != nil {
		return nil, err
	}
	if loose.Len() > 0 {
		groups = append(groups, loose)
	}
	nodes, err := p.nodes()
	if err != nil {
		return nil, err
	}
	if nodes.Len() > 0 {
		groups = append(groups, nodes)
	}
	deps, err := gcDeployments(snap, p.evalCut)
	if err != nil {
		return nil, err
	}
	if deps.Len() > 0 {
		groups = append(groups, deps)
	}
	return groups, nil
}

type gcPlanner struct {
	snap            *state.Snapshot
	evalCut, jobCut int64 // Unix nanoseconds
	nodeCut         time.Time
	gcJobs          map[structs.NamespacedID]bool
	liveJobs        map[structs.NamespacedID]*gcJobInfo
}

// gcJobInfo is what the alloc rule needs of a job: nil job when the job is
// purged or stopped, else the newest alloc ID of each slot.
type gcJobInfo struct {
	job    *structs.Job
	newest map[string]*structs.Allocation
}

func finishedBefore(a *structs.Allocation, cut int64) bool {
	return a.ClientTerminalStatus() && a.ModifyTime < cut
}

func (p *gcPlanner) jobs() ([]*raftfsm.GCDelete, error) {
	jobs, err := p.snap.JobsByIDPrefix(nil, "*", "")
	if err != nil {
		return nil, err
	}
	var out, parents []*raftfsm.GCDelete
	for _, j := range jobs {
		if !j.Stop && (j.Type != structs.JobTypeBatch || j.Status != structs.JobStatusDead) {
			continue
		}
		if j.IsPeriodic() || j.IsParameterized() {
			// Decided once every child has been judged.
			if j.SubmitTime < p.jobCut {
				parents = append(parents, &raftfsm.GCDelete{Jobs: []raftfsm.GCJob{{Namespace: j.Namespace, ID: j.ID, ModifyIndex: j.ModifyIndex}}})
			}
			continue
		}
		if j.SubmitTime >= p.jobCut {
			continue
		}
		g, err := p.jobGroup(j)
		if err != nil {
			return nil, err
		}
		if g != nil {
			out = append(out, g)
			p.gcJobs[structs.NamespacedID{Namespace: j.Namespace, ID: j.ID}] = true
		}
	}
	for _, g := range parents {
		j := g.Jobs[0]
		kids, err := p.snap.ChildJobs(nil, j.Namespace, j.ID)
		if err != nil {
			return nil, err
		}
		all := true
		for _, k := range kids {
			all = all && p.gcJobs[structs.NamespacedID{Namespace: k.Namespace, ID: k.ID}]
		}
		if all {
			out = append(out, g)
			p.gcJobs[structs.NamespacedID{Namespace: j.Namespace, ID: j.ID}] = true
		}
	}
	return out, nil
}

// jobGroup returns the deletion of j with its evals and allocs, or nil if
// any of them is unfinished or recent.
func (p *gcPlanner) jobGroup(j *structs.Job) (*raftfsm.GCDelete, error) {
	evals, err := p.snap.EvalsByJob(nil, j.Namespace, j.ID)
	if err != nil {
		return nil, err
	}
	allocs, err := p.snap.AllocsByJob(nil, j.Namespace, j.ID)
	if err != nil {
		return nil, err
	}
	g := &raftfsm.GCDelete{Jobs: []raftfsm.GCJob{{Namespace: j.Namespace, ID: j.ID, ModifyIndex: j.ModifyIndex}}}
	for _, e := range evals {
		if !e.Terminal() || e.ModifyTime >= p.jobCut {
			return nil, nil
		}
		g.EvalIDs = append(g.EvalIDs, e.ID)
	}
	for _, a := range allocs {
		if !finishedBefore(a, p.jobCut) {
			return nil, nil
		}
		g.AllocIDs = append(g.AllocIDs, a.ID)
	}
	return g, nil
}

// evals adds the collectable evals to out and returns their IDs.
func (p *gcPlanner) evals(out *raftfsm.GCDelete) (map[string]bool, error) {
	evals, err := p.snap.EvalsByIDPrefix(nil, "*", "")
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, e := range evals {
		if !e.Terminal() || e.ModifyTime >= p.evalCut || p.gcJobs[structs.NamespacedID{Namespace: e.Namespace, ID: e.JobID}] {
			continue
		}
		allocs, err := p.snap.AllocsByEval(nil, e.ID)
		if err != nil {
			return nil, err
		}
		ok := true
		for _, a := range allocs {
			if !finishedBefore(a, p.evalCut) {
				ok = false
				break
			}
		}
		if ok {
			out.EvalIDs = append(out.EvalIDs, e.ID)
			gone[e.ID] = true
		}
	}
	return gone, nil
}

// allocs adds the collectable allocs whose eval is gone to out.
func (p *gcPlanner) allocs(out *raftfsm.GCDelete, goneEvals map[string]bool) error {
	allocs, err := p.snap.AllocsByIDPrefix(nil, "*", "")
	if err != nil {
		return err
	}
	for _, a := range allocs {
		if !finishedBefore(a, p.evalCut) || p.gcJobs[structs.NamespacedID{Namespace: a.Namespace, ID: a.JobID}] {
			continue
		}
		if !goneEvals[a.EvalID] {
			e, err := p.snap.EvalByID(nil, a.EvalID)
			if err != nil {
				return err
			}
			if e != nil {
				continue
			}
		}
		keep, err := p.needed(a)
		if err != nil {
			return err
		}
		if !keep {
			out.AllocIDs = append(out.AllocIDs, a.ID)
		}
	}
	return nil
}

// needed reports whether the scheduler still needs a finished alloc.
func (p *gcPlanner) needed(a *structs.Allocation) (bool, error) {
	key := structs.NamespacedID{Namespace: a.Namespace, ID: a.JobID}
	info, ok := p.liveJobs[key]
	if !ok {
		var err error
		if info, err = p.jobInfo(key); err != nil {
			return false, err
		}
		p.liveJobs[key] = info
	}
	if info.job == nil || !sameIncarnation(a, info.job) {
		return false, nil
	}
	n := info.newest[gcSlot(info.job, a)]
	return n != nil && n.ID == a.ID, nil
}

func (p *gcPlanner) jobInfo(key structs.NamespacedID) (*gcJobInfo, error) {
	job, err := p.snap.JobByID(nil, key.Namespace, key.ID)
	if err != nil {
		return nil, err
	}
	if job == nil || job.Stop {
		return &gcJobInfo{}, nil
	}
	allocs, err := p.snap.AllocsByJob(nil, key.Namespace, key.ID)
	if err != nil {
		return nil, err
	}
	info := &gcJobInfo{job: job, newest: make(map[string]*structs.Allocation, len(allocs))}
	for _, a := range allocs {
		if !sameIncarnation(a, job) {
			continue
		}
		slot := gcSlot(job, a)
		if cur := info.newest[slot]; cur == nil || a.CreateIndex > cur.CreateIndex {
			info.newest[slot] = a
		}
	}
	return info, nil
}

// sameIncarnation reports whether a belongs to job rather than to an
// earlier, purged job with the same ID.
func sameIncarnation(a *structs.Allocation, job *structs.Job) bool {
	return a.Job == nil || a.Job.CreateIndex == job.CreateIndex
}

// gcSlot is the place an alloc fills in its job: system jobs run one alloc
// per node under the same name.
func gcSlot(job *structs.Job, a *structs.Allocation) string {
	if job.Type == structs.JobTypeSystem || job.Type == structs.JobTypeSysBatch {
		return a.Name + "\x00" + a.NodeID
	}
	return a.Name
}

func (p *gcPlanner) nodes() (*raftfsm.GCDelete, error) {
	out := &raftfsm.GCDelete{}
	nodes, err := p.snap.NodesByIDPrefix(nil, "")
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Status != structs.NodeStatusDown || !time.Unix(n.StatusUpdatedAt, 0).Before(p.nodeCut) {
			continue
		}
		allocs, err := p.snap.AllocsByNode(nil, n.ID)
		if err != nil {
			return nil, err
		}
		busy := false
		for _, a := range allocs {
			if !a.ClientTerminalStatus() {
				busy = true
				break
			}
		}
		if !busy {
			out.Nodes = append(out.Nodes, raftfsm.GCNode{ID: n.ID, ModifyIndex: n.ModifyIndex})
		}
	}
	return out, nil
}
