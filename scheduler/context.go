package scheduler

import (
	"encoding/hex"
	"hash/fnv"
	"math/rand/v2"
	"regexp"

	version "github.com/hashicorp/go-version"

	"github.com/orch-project/orch/structs"
)

// evalCtx is the working state of one Schedule call. Everything that would
// otherwise be recomputed per placement (candidate nodes, per-node usage,
// compiled constraints, feasibility verdicts) lives here for the eval.
type evalCtx struct {
	snap  State
	eval  *structs.Evaluation
	job   *structs.Job
	ns    string
	index uint64
	now   int64
	rng   *rand.Rand

	plan        *structs.Plan
	createEvals []*structs.Evaluation
	queued      map[string]int
	failed      map[string]*structs.AllocMetric

	// nodes are the candidates: ready nodes in the job's datacenters and
	// pool, in the order returned by the store. perm is their shuffled
	// visiting order and cursor the rolling position within it.
	nodes  []*nodeInfo
	perm   []int
	cursor int
	// infos holds every node looked at, candidate or not, sorted by ID
	// (the store's order) so lookups by ID are binary searches rather than
	// a 10k-entry map built per eval.
	infos []nodeInfo
	// nodesAvailable counts candidates per datacenter; nodesInPool counts
	// nodes in the job's pool and datacenters whatever their readiness.
	nodesAvailable map[string]int
	nodesInPool    int

	// stopped holds IDs of allocations this plan stops, so that a node whose
	// usage is loaded later does not count them.
	stopped map[string]*structs.Allocation

	regexps  map[string]*regexp.Regexp
	versions map[string]version.Constraints
	semvers  map[string][]semverTerm
	dcMatch  map[string]bool
	// parsedVersions caches node attribute values parsed as versions.
	parsedVersions map[versionKey]*version.Version

	// deployment is the deployment of the job's current version (active
	// or finished), nil when there is none yet; created tells whether this
	// eval creates it. otherDeployments caches deployments of canaries
	// from earlier versions.
	deployment       *structs.Deployment
	created          bool
	groups           []*groupCtx
	otherDeployments map[string]*structs.Deployment
	// desired counts, per group, what the plan does to its allocations.
	desired map[string]*structs.DesiredUpdates

	// distinct are the eval's distinct_property counters (distinct.go).
	distinct []*distinctProperty
	// placements numbers selectNode calls (nodeInfo.seen); scratch is
	// reused for preferred candidates.
	placements int
	scratch    []*nodeInfo
}

// nodeInfo is a node plus the scheduler's incremental view of its usage.
type nodeInfo struct {
	node *structs.Node
	pos  int // position in evalCtx.nodes, -1 when not a candidate
	// capacity is fixed; used starts from the store's live allocations the
	// first time the node is considered and then follows the plan.
	loaded   bool
	capacity structs.ComparableResources
	used     structs.ComparableResources
	// ports are host ports taken on the node (reserved ranges, live
	// allocations, this plan); nil when none.
	ports map[int]struct{}
	// reserved are the node's reserved ports (also in ports), which
	// ignore_collision ports may share; shared counts the holders of
	// ignore_collision ports, which plain ports may not take.
	reserved map[int]struct{}
	shared   map[int]int
	// jobAllocs and groupAllocs count live allocations of the eval's job
	// (per group) on the node, including this plan's placements, for
	// distinct_hosts and job anti-affinity.
	jobAllocs   int
	groupAllocs map[string]int
	// cores and devices are the reserved cores and device instances held
	// on the node (exclusive.go); nil when none.
	cores   map[uint16]struct{}
	devices map[string]struct{}
	// seen marks the node as a candidate of the placement with this
	// number, so preferred candidates are not scored twice.
	seen int
}

func newEvalCtx(snap State, eval *structs.Evaluation, job *structs.Job, ns string, index uint64, cfg Config) *evalCtx {
	rng := cfg.Rand
	if rng == nil {
		// Mixing in the eval ID and snapshot index keeps IDs of different
		// evals (and of re-plans of one eval) apart even when the caller
		// passes a constant seed, while staying reproducible.
		h := fnv.New64a()
		h.Write([]byte(eval.ID))
		rng = rand.New(rand.NewPCG(cfg.Seed^h.Sum64(), uint64(cfg.Now)^index))
	}
	c := &evalCtx{
		snap: snap, eval: eval, job: job, ns: ns, index: index, now: cfg.Now, rng: rng,
		queued:   map[string]int{},
		stopped:  map[string]*structs.Allocation{},
		regexps:  map[string]*regexp.Regexp{},
		versions: map[string]version.Constraints{},
		semvers:  map[string][]semverTerm{},
		dcMatch:  map[string]bool{},

		parsedVersions: map[versionKey]*version.Version{},

		otherDeployments: map[string]*structs.Deployment{},
		desired:          map[string]*structs.DesiredUpdates{},
	}
	c.plan = &structs.Plan{EvalID: eval.ID, Priority: eval.Priority, SnapshotIndex: index}
	if job != nil {
		c.plan.AllAtOnce = job.AllAtOnce
		if c.plan.Priority == 0 {
			c.plan.Priority = job.Priority
		}
	}
	return c
}

// newID returns a v4 UUID drawn from the eval's random source, so that runs
// with the same seed produce the same IDs.
func (c *evalCtx) newID() string {
	var b [16]byte
	x, y := c.rng.Uint64(), c.rng.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(x >> (8 * i))
		b[8+i] = byte(y >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// stopAlloc adds a stop of a to the plan, releases its resources on the
// node if the node's usage is already tracked, and returns the plan's copy.
func (c *evalCtx) stopAlloc(a *structs.Allocation, desc, clientStatus string) *structs.Allocation {
	if s, dup := c.stopped[a.ID]; dup {
		return s
	}
	live := !a.TerminalStatus()
	c.plan.AppendStoppedAlloc(a, desc, clientStatus)
	list := c.plan.NodeUpdate[a.NodeID]
	s := list[len(list)-1]
	c.stopped[a.ID] = s
	if ni := c.nodeByID(a.NodeID); ni != nil && live {
		if ni.loaded {
			ni.used.Sub(a.AllocatedResources.Comparable())
			for _, p := range allocPorts(a) {
				delete(ni.ports, p)
			}
			for _, p := range allocSharedPorts(a) {
				if ni.shared[p]--; ni.shared[p] <= 0 {
					delete(ni.shared, p)
				}
			}
			ni.releaseExclusive(a.AllocatedResources)
		}
		if c.job != nil && a.JobID == c.job.ID && ni.jobAllocs > 0 {
			c.trackJobAlloc(a.TaskGroup, ni, -1)
		}
	}
	return s
}

// loadNode computes a node's usage from the store the first time it is
// needed; afterwards the plan keeps it current incrementally.
func (c *evalCtx) loadNode(ni *nodeInfo) error {
	if ni.loaded {
		return nil
	}
	allocs, err := c.snap.AllocsByNode(nil, ni.node.ID)
	if err != nil {
		return err
	}
	ni.loaded = true
	ni.capacity = ni.node.Comparable()
	for _, a := range allocs {
		if a.TerminalStatus() {
			continue
		}
		if _, gone := c.stopped[a.ID]; gone {
			continue
		}
		ni.used.Add(a.AllocatedResources.Comparable())
		ni.holdExclusive(a.AllocatedResources)
		for _, p := range allocPorts(a) {
			if ni.ports == nil {
				ni.ports = map[int]struct{}{}
			}
			ni.ports[p] = struct{}{}
		}
		for _, p := range allocSharedPorts(a) {
			ni.share(p)
		}
	}
	reserved := ni.node.HostNetworkReservedPorts()
	if r := ni.node.ReservedResources; r != nil && r.Networks.ReservedHostPorts != "" {
		reserved = append(reserved, parsePortRanges(r.Networks.ReservedHostPorts)...)
	}
	if len(reserved) > 0 {
		ni.reserved = make(map[int]struct{}, len(reserved))
		for _, p := range reserved {
			if ni.ports == nil {
				ni.ports = map[int]struct{}{}
			}
			ni.ports[p] = struct{}{}
			ni.reserved[p] = struct{}{}
		}
	}
	return nil
}

// result assembles the Result once scheduling is done.
func (c *evalCtx) result() *Result {
	up := c.eval.Copy()
	up.Status = structs.EvalStatusComplete
	up.StatusDescription = ""
	up.SnapshotIndex = c.index
	up.QueuedAllocations = c.queued
	up.ModifyTime = c.now
	if len(c.failed) > 0 {
		up.FailedTGAllocs = c.failed
	} else {
		up.FailedTGAllocs = nil
	}
	if len(c.plan.NodeAllocation) > 0 {
		c.plan.Job = c.job
	}
	if len(c.failed) > 0 && c.job != nil && (c.job.Type == structs.JobTypeService || c.job.Type == structs.JobTypeBatch) {
		b := c.blockedEval()
		up.BlockedEval = b.ID
		c.createEvals = append(c.createEvals, b)
	}
	if d := c.plan.Deployment; d != nil {
		up.DeploymentID = d.ID
	} else if c.deployment != nil && c.deployment.Active() {
		up.DeploymentID = c.deployment.ID
	}
	return &Result{
		Plan: c.plan, EvalUpdate: up, CreateEvals: c.createEvals,
		Annotations: &structs.PlanAnnotations{DesiredTGUpdates: c.desired},
	}
}

// blockedEval holds the placements that did not fit until capacity changes.
// Class eligibility is not tracked, so it escapes computed classes and any
// node change may unblock it.
func (c *evalCtx) blockedEval() *structs.Evaluation {
	return &structs.Evaluation{
		ID:                   c.newID(),
		Namespace:            c.ns,
		Priority:             c.plan.Priority,
		Type:                 c.job.Type,
		TriggeredBy:          structs.EvalTriggerQueuedAllocs,
		JobID:                c.job.ID,
		JobModifyIndex:       c.job.JobModifyIndex,
		Status:               structs.EvalStatusBlocked,
		PreviousEval:         c.eval.ID,
		EscapedComputedClass: true,
		SnapshotIndex:        c.index,
		CreateTime:           c.now,
		ModifyTime:           c.now,
	}
}

// share records one more holder of the ignore_collision port p.
func (ni *nodeInfo) share(p int) {
	if ni.shared == nil {
		ni.shared = map[int]int{}
	}
	ni.shared[p]++
}

// portTaken reports whether the group's port p collides on the node: a
// plain port with any holder or reservation, a shared one only with a
// plain holder.
func (ni *nodeInfo) portTaken(p int, shared bool) bool {
	_, held := ni.ports[p]
	if !shared {
		return held || ni.shared[p] > 0
	}
	_, reserved := ni.reserved[p]
	return held && !reserved
}
