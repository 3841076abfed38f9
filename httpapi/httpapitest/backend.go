// Package httpapitest is scaffolding for tests of the HTTP layer and the
// CLI: a ServerBackend that writes straight into a real state.Store, with a
// trivial first-fit placement instead of the real scheduler, and a
// ClientBackend over real directories. The real server is covered by the
// end-to-end tests.
package httpapitest

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Backend implements httpapi.ServerBackend over a real state store.
type Backend struct {
	store *state.Store
	fsm   *raftfsm.FSM

	mu         sync.Mutex
	index      uint64
	leader     bool
	leaderHTTP string
	members    []*structs.AgentMember
}

// NewBackend returns a leader backend with an empty store.
func NewBackend() (*Backend, error) {
	st, err := state.NewStore()
	if err != nil {
		return nil, fmt.Errorf("creating store: %w", err)
	}
	return &Backend{
		store:  st,
		fsm:    raftfsm.New(st, nil),
		leader: true,
		members: []*structs.AgentMember{{
			Name: "test.global", Addr: "127.0.0.1", Port: 4648, Status: "alive",
			Tags: map[string]string{structs.TagRole: "server", structs.TagRegion: "global",
				structs.TagDatacenter: "dc1", structs.TagRaftAddr: "127.0.0.1:4647", structs.TagVersion: structs.Version},
		}},
	}, nil
}

// SetLeader makes the backend the leader, or a follower of leaderHTTP
// ("" for no known leader).
func (b *Backend) SetLeader(leader bool, leaderHTTP string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leader, b.leaderHTTP = leader, leaderHTTP
}

// next reserves the next write index.
func (b *Backend) next() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	return b.index
}

func now() int64 { return time.Now().UnixNano() }

func (b *Backend) State() *state.Store { return b.store }

func (b *Backend) IsLeader() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leader
}

func (b *Backend) LeaderHTTPAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leaderHTTP
}

func (b *Backend) Leader() string {
	if b.IsLeader() {
		return "127.0.0.1:4647"
	}
	if b.LeaderHTTPAddr() != "" {
		return "127.0.0.2:4647"
	}
	return ""
}

func (b *Backend) Peers() []string                 { return []string{"127.0.0.1:4647"} }
func (b *Backend) Members() []*structs.AgentMember { return b.members }
func (b *Backend) Region() string                  { return "global" }
func (b *Backend) Datacenter() string              { return "dc1" }
func (b *Backend) NodeName() string                { return "test.global" }

// Write applies fn at a fresh index, for tests that set up state directly.
func (b *Backend) Write(fn func(st *state.Store, index uint64) error) error {
	return fn(b.store, b.next())
}

// RegisterJob stores the job and an evaluation, then places it at once.
func (b *Backend) RegisterJob(ctx context.Context, req *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	job := req.Job
	ns, err := b.store.NamespaceByName(nil, job.Namespace)
	if err != nil {
		return nil, err
	}
	if ns == nil {
		return nil, &httpErr{http.StatusBadRequest, fmt.Sprintf("job %q is in nonexistent namespace %q", job.ID, job.Namespace)}
	}
	if err := ns.AllowsJob(job); err != nil {
		return nil, &httpErr{http.StatusBadRequest, err.Error()}
	}
	idx := b.next()
	if err := b.store.UpsertJob(idx, job, now()); err != nil {
		return nil, &httpErr{http.StatusInternalServerError, err.Error()}
	}
	stored, err := b.store.JobByID(nil, job.Namespace, job.ID)
	if err != nil || stored == nil {
		return nil, fmt.Errorf("reading back job: %v", err)
	}
	eval := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: stored.Namespace, Priority: stored.Priority, Type: stored.Type,
		TriggeredBy: structs.EvalTriggerJobRegister, JobID: stored.ID, JobModifyIndex: stored.JobModifyIndex,
		Status: structs.EvalStatusPending, CreateTime: now(), ModifyTime: now(),
	}
	evalIdx := b.next()
	if err := b.store.UpsertEvals(evalIdx, []*structs.Evaluation{eval}); err != nil {
		return nil, err
	}
	if err := b.place(stored, eval); err != nil {
		return nil, err
	}
	return &structs.JobRegisterResponse{EvalID: eval.ID, EvalCreateIndex: evalIdx, JobModifyIndex: idx, Index: evalIdx}, nil
}

// place puts every missing allocation of the job on ready nodes round
// robin, or records a placement failure when there is none.
func (b *Backend) place(job *structs.Job, eval *structs.Evaluation) error {
	nodes, err := b.store.NodesByIDPrefix(nil, "")
	if err != nil {
		return err
	}
	var ready []*structs.Node
	for _, n := range nodes {
		if n.Ready() {
			ready = append(ready, n)
		}
	}
	existing, err := b.store.AllocsByJob(nil, job.Namespace, job.ID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, a := range existing {
		if !a.TerminalStatus() {
			have[a.Name] = true
		}
	}
	done := eval.Copy()
	done.Status = structs.EvalStatusComplete
	done.ModifyTime = now()
	var placed []*structs.Allocation
	var evals []*structs.Evaluation
	for _, tg := range job.TaskGroups {
		for i := 0; i < tg.Count; i++ {
			name := structs.AllocName(job.ID, tg.Name, i)
			if have[name] {
				continue
			}
			if len(ready) == 0 {
				if done.FailedTGAllocs == nil {
					done.FailedTGAllocs = map[string]*structs.AllocMetric{}
				}
				m := done.FailedTGAllocs[tg.Name]
				if m == nil {
					m = &structs.AllocMetric{NodesEvaluated: len(nodes), NodesFiltered: len(nodes),
						ConstraintFiltered: map[string]int{"${node.status} = ready": len(nodes)}}
					done.FailedTGAllocs[tg.Name] = m
				} else {
					m.CoalescedFailures++
				}
				continue
			}
			n := ready[len(placed)%len(ready)]
			placed = append(placed, &structs.Allocation{
				ID: structs.GenerateUUID(), Namespace: job.Namespace, EvalID: eval.ID, Name: name,
				NodeID: n.ID, NodeName: n.Name, JobID: job.ID, JobVersion: job.Version, TaskGroup: tg.Name,
				DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending,
				Metrics: &structs.AllocMetric{NodesEvaluated: len(nodes)},
			})
		}
	}
	evals = append(evals, done)
	if len(done.FailedTGAllocs) > 0 {
		blocked := &structs.Evaluation{
			ID: structs.GenerateUUID(), Namespace: job.Namespace, Priority: job.Priority, Type: job.Type,
			TriggeredBy: structs.EvalTriggerQueuedAllocs, JobID: job.ID, Status: structs.EvalStatusBlocked,
			PreviousEval: eval.ID, CreateTime: now(), ModifyTime: now(),
		}
		done.BlockedEval = blocked.ID
		evals = append(evals, blocked)
	}
	return b.store.UpsertPlanResults(b.next(), nil, placed, evals, now())
}

// DeregisterJob stops (or purges) the job and its allocations; an unknown
// job is a no-op, as on the real server.
func (b *Backend) DeregisterJob(ctx context.Context, ns, id string, opts structs.JobDeregisterOptions) (*structs.JobDeregisterResponse, error) {
	purge := opts.Purge
	job, err := b.store.JobByID(nil, ns, id)
	if err != nil {
		return nil, err
	}
	if job == nil {
		return &structs.JobDeregisterResponse{}, nil
	}
	allocs, err := b.store.AllocsByJob(nil, ns, id)
	if err != nil {
		return nil, err
	}
	if opts.NoShutdownDelay {
		yes := true
		if err := b.store.UpdateJobAllocsDesiredTransition(b.next(), ns, id,
			structs.DesiredTransition{NoShutdownDelay: &yes}, now()); err != nil {
			return nil, err
		}
	}
	idx := b.next()
	if purge {
		err = b.store.DeleteJob(idx, ns, id)
	} else {
		stopped := *job
		stopped.Stop = true
		err = b.store.UpsertJob(idx, &stopped, 0)
	}
	if err != nil {
		return nil, err
	}
	eval := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: ns, Priority: job.Priority, Type: job.Type,
		TriggeredBy: structs.EvalTriggerJobDeregister, JobID: id, Status: structs.EvalStatusComplete,
		CreateTime: now(), ModifyTime: now(),
	}
	var stops []*structs.Allocation
	for _, a := range allocs {
		if !a.TerminalStatus() {
			s := a.Copy()
			s.Job = nil
			s.DesiredStatus, s.DesiredDescription = structs.AllocDesiredStatusStop, "alloc not needed since job was stopped"
			stops = append(stops, s)
		}
	}
	evalIdx := b.next()
	if err := b.store.UpsertPlanResults(evalIdx, stops, nil, []*structs.Evaluation{eval}, now()); err != nil {
		return nil, err
	}
	return &structs.JobDeregisterResponse{EvalID: eval.ID, EvalCreateIndex: evalIdx, JobModifyIndex: idx, Index: evalIdx}, nil
}

// RegisterNode stores the node as ready, as the control channel would.
func (b *Backend) RegisterNode(ctx context.Context, node *structs.Node) (*structs.GenericResponse, error) {
	n := *node
	if n.Status == "" {
		n.Status = structs.NodeStatusReady
	}
	idx := b.next()
	if err := b.store.UpsertNode(idx, &n); err != nil {
		return nil, err
	}
	return &structs.GenericResponse{Index: idx}, nil
}

// UpdateAllocsFromClient applies client status reports.
func (b *Backend) UpdateAllocsFromClient(ctx context.Context, allocs []*structs.Allocation) (*structs.GenericResponse, error) {
	idx := b.next()
	if err := b.store.UpdateAllocsFromClient(idx, allocs, now()); err != nil {
		return nil, err
	}
	return &structs.GenericResponse{Index: idx}, nil
}

type httpErr struct {
	code int
	msg  string
}

func (e *httpErr) Error() string   { return e.msg }
func (e *httpErr) StatusCode() int { return e.code }

// Client implements httpapi.ClientBackend over a map of alloc dirs.
type Client struct {
	ID     string
	mu     sync.Mutex
	dirs   map[string]string
	allocs map[string]*structs.Allocation
	checks map[string]map[string]*structs.CheckQueryResult
}

// NewClient returns a client backend for node id.
func NewClient(id string) *Client {
	return &Client{ID: id, dirs: map[string]string{}, allocs: map[string]*structs.Allocation{}}
}

// SetAllocation records the client's copy of an allocation it runs.
func (c *Client) SetAllocation(a *structs.Allocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.allocs[a.ID] = a
}

func (c *Client) Allocation(allocID string) (*structs.Allocation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.allocs[allocID]
	return a, ok
}

// AddAlloc makes dir the directory of allocID.
func (c *Client) AddAlloc(allocID, dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirs[allocID] = dir
}

func (c *Client) AllocDir(allocID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dirs[allocID]
	return d, ok
}

func (c *Client) NodeID() string { return c.ID }

// CheckResults returns the results set with SetCheckResults.
func (c *Client) CheckResults(allocID string) map[string]*structs.CheckQueryResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks[allocID]
}

// SetCheckResults sets an allocation's check results.
func (c *Client) SetCheckResults(allocID string, res map[string]*structs.CheckQueryResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checks == nil {
		c.checks = map[string]map[string]*structs.CheckQueryResult{}
	}
	c.checks[allocID] = res
}

// TestNode returns a ready node with some capacity.
func TestNode(name, httpAddr string) *structs.Node {
	return &structs.Node{
		ID: structs.GenerateUUID(), SecretID: structs.GenerateUUID(), Name: name, Datacenter: "dc1", HTTPAddr: httpAddr, NodePool: "default",
		Status: structs.NodeStatusReady, SchedulingEligibility: structs.NodeSchedulingEligible,
		Attributes: map[string]string{"unique.network.ip-address": "127.0.0.1", "nomad.version": structs.Version},
		NodeResources: &structs.NodeResources{
			Cpu:    structs.NodeCpuResources{CpuShares: 4000, TotalCpuCores: 2},
			Memory: structs.NodeMemoryResources{MemoryMB: 8192},
			Disk:   structs.NodeDiskResources{DiskMB: 100000},
		},
		Drivers: map[string]*structs.DriverInfo{"raw_exec": {Detected: true, Healthy: true}},
	}
}

// SortedIDs returns the IDs of allocs, sorted.
func SortedIDs(allocs []*structs.Allocation) []string {
	ids := make([]string, 0, len(allocs))
	for _, a := range allocs {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	return ids
}

// ScaleJob checks the request as the server does, applies it to the store
// and places what a larger count is missing.
func (b *Backend) ScaleJob(ctx context.Context, ns, jobID string, req *structs.ScalingRequest) (*structs.JobRegisterResponse, error) {
	job, err := b.store.JobByID(nil, ns, jobID)
	if err != nil {
		return nil, err
	}
	if job == nil {
		return nil, &httpErr{http.StatusNotFound, "job not found"}
	}
	group := req.Target[structs.ScalingTargetGroup]
	if err := jobspec.CheckScale(job, group, req.Count, req.Error); err != nil {
		return nil, &httpErr{http.StatusBadRequest, err.Error()}
	}
	idx := b.next()
	evalID := structs.GenerateUUID()
	ev := &structs.ScalingEvent{Time: now(), Count: req.Count, Message: req.Message, Error: req.Error, Meta: req.Meta}
	if req.Count != nil {
		ev.EvalID = &evalID
	}
	if err := b.store.ScaleJob(idx, ns, jobID, group, req.Count, ev, now()); err != nil {
		return nil, err
	}
	stored, err := b.store.JobByID(nil, ns, jobID)
	if err != nil || stored == nil {
		return nil, fmt.Errorf("reading back job: %v", err)
	}
	resp := &structs.JobRegisterResponse{JobModifyIndex: stored.JobModifyIndex, Index: idx}
	if req.Count == nil {
		return resp, nil
	}
	eval := &structs.Evaluation{
		ID: evalID, Namespace: stored.Namespace, Priority: stored.Priority, Type: stored.Type,
		TriggeredBy: "job-scaling", JobID: stored.ID, JobModifyIndex: stored.JobModifyIndex,
		Status: structs.EvalStatusPending, CreateTime: now(), ModifyTime: now(),
	}
	evalIdx := b.next()
	if err := b.store.UpsertEvals(evalIdx, []*structs.Evaluation{eval}); err != nil {
		return nil, err
	}
	if err := b.place(stored, eval); err != nil {
		return nil, err
	}
	resp.EvalID, resp.EvalCreateIndex, resp.Index = eval.ID, evalIdx, evalIdx
	return resp, nil
}
