package structs

// Plan is what one scheduler run wants changed: allocations to stop and to
// place, grouped by node so the plan applier can re-check each node's fit.
type Plan struct {
	EvalID   string `json:"EvalID"`
	Priority int    `json:"Priority"`
	// Job is the job version the new allocations run; nil for plans that only stop.
	Job *Job `json:"Job"`
	// AllAtOnce refuses a partial commit: all nodes fit or nothing is placed.
	AllAtOnce bool `json:"AllAtOnce"`
	// NodeUpdate holds allocations to stop or mark lost, by node.
	NodeUpdate map[string][]*Allocation `json:"NodeUpdate"`
	// NodeAllocation holds new or updated allocations, by node.
	NodeAllocation map[string][]*Allocation `json:"NodeAllocation"`
	// SnapshotIndex is the state index the scheduler planned against.
	SnapshotIndex uint64 `json:"SnapshotIndex"`

	// Deployment is the deployment the plan creates or updates (nil when
	// none); DeploymentUpdates change deployments' statuses.
	Deployment        *Deployment               `json:"Deployment"`
	DeploymentUpdates []*DeploymentStatusUpdate `json:"DeploymentUpdates"`
}

// AppendStoppedAlloc adds a stop (or lost) for alloc to the plan.
func (p *Plan) AppendStoppedAlloc(alloc *Allocation, desc, clientStatus string) {
	s := alloc.Copy()
	s.Job = nil
	s.DesiredStatus = AllocDesiredStatusStop
	s.DesiredDescription = desc
	if clientStatus != "" {
		s.ClientStatus = clientStatus
	}
	if p.NodeUpdate == nil {
		p.NodeUpdate = make(map[string][]*Allocation)
	}
	p.NodeUpdate[alloc.NodeID] = append(p.NodeUpdate[alloc.NodeID], s)
}

// AppendAlloc adds a placement to the plan.
func (p *Plan) AppendAlloc(alloc *Allocation) {
	if p.NodeAllocation == nil {
		p.NodeAllocation = make(map[string][]*Allocation)
	}
	p.NodeAllocation[alloc.NodeID] = append(p.NodeAllocation[alloc.NodeID], alloc)
}

// IsNoOp reports whether the plan changes nothing.
func (p *Plan) IsNoOp() bool {
	return len(p.NodeUpdate) == 0 && len(p.NodeAllocation) == 0 && p.Deployment == nil && len(p.DeploymentUpdates) == 0
}

// PlanResult is what the plan applier committed: possibly a subset of the
// plan when some nodes no longer fit.
type PlanResult struct {
	NodeUpdate     map[string][]*Allocation `json:"NodeUpdate"`
	NodeAllocation map[string][]*Allocation `json:"NodeAllocation"`
	// RefreshIndex is non-zero when part of the plan was rejected: the
	// scheduler must re-plan against state at least this new.
	RefreshIndex uint64 `json:"RefreshIndex"`
	// AllocIndex is the Raft index at which the result was committed.
	AllocIndex uint64 `json:"AllocIndex"`
}

// FullCommit reports whether every placement of plan was committed, and how
// many were expected and actually committed.
func (r *PlanResult) FullCommit(plan *Plan) (bool, int, int) {
	expected, actual := 0, 0
	for node, allocs := range plan.NodeAllocation {
		expected += len(allocs)
		actual += len(r.NodeAllocation[node])
	}
	return expected == actual, expected, actual
}
