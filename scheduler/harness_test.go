package scheduler

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// The real snapshot type must satisfy the scheduler's State interface.
var _ State = (*state.Snapshot)(nil)

const testNow = int64(1_700_000_000_000_000_000)

// harness drives the scheduler against a real state store, applying plans
// the way the FSM does.
type harness struct {
	t     testing.TB
	store *state.Store
	index uint64
	seed  uint64
	// now is the clock scheduler runs and state writes see; tests move it
	// to step through reschedule delays.
	now int64
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	s, err := state.NewStore()
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return &harness{t: t, store: s, index: 100, seed: 42, now: testNow}
}

func (h *harness) next() uint64 { h.index++; return h.index }

func testID(kind byte, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8%03x-%012d", n, kind, n)
}

func nodeID(n int) string { return testID(1, n) }

// mkNode is a ready raw_exec node with the given capacity.
func mkNode(n int, dc string, cpu, memMB int64) *structs.Node {
	return &structs.Node{
		ID:                    nodeID(n),
		Name:                  fmt.Sprintf("node-%d", n),
		Datacenter:            dc,
		NodeClass:             "standard",
		NodePool:              structs.DefaultNodePool,
		Status:                structs.NodeStatusReady,
		SchedulingEligibility: structs.NodeSchedulingEligible,
		Attributes: map[string]string{
			"kernel.name":               "linux",
			"unique.network.ip-address": fmt.Sprintf("10.0.%d.%d", n/250, n%250+1),
		},
		Meta: map[string]string{"rack": fmt.Sprintf("r%d", n%4)},
		Drivers: map[string]*structs.DriverInfo{
			"raw_exec": {Detected: true, Healthy: true},
		},
		NodeResources: &structs.NodeResources{
			Cpu:    structs.NodeCpuResources{CpuShares: cpu},
			Memory: structs.NodeMemoryResources{MemoryMB: memMB},
			Disk:   structs.NodeDiskResources{DiskMB: 100_000},
		},
	}
}

func (h *harness) upsertNodes(nodes ...*structs.Node) {
	h.t.Helper()
	t := h.store.WriteTxn(h.next())
	defer t.Abort()
	for _, n := range nodes {
		if err := t.UpsertNode(n); err != nil {
			h.t.Fatalf("upsert node: %v", err)
		}
	}
	if err := t.Commit(); err != nil {
		h.t.Fatalf("commit nodes: %v", err)
	}
}

func (h *harness) setNodeStatus(id, status string) {
	h.t.Helper()
	if err := h.store.UpdateNodeStatus(h.next(), id, status, 0); err != nil {
		h.t.Fatalf("node status: %v", err)
	}
}

// mkJob is a job with one group "web" of count tasks of 100 MHz / 128 MB.
func mkJob(id, typ string, count int) *structs.Job {
	return &structs.Job{
		ID: id, Name: id, Namespace: structs.DefaultNamespace, Type: typ, Priority: 50,
		Datacenters: []string{"dc1"},
		TaskGroups: []*structs.TaskGroup{{
			Name:          "web",
			Count:         count,
			EphemeralDisk: &structs.EphemeralDisk{SizeMB: 150},
			Tasks: []*structs.Task{{
				Name: "server", Driver: "raw_exec",
				Config:    map[string]any{"command": "/bin/sleep"},
				Resources: &structs.Resources{CPU: 100, MemoryMB: 128},
			}},
		}},
	}
}

// upsertJob stores a deep copy of j, as a job decoded from a Raft entry
// would be, so tests may keep mutating j for the next version.
func (h *harness) upsertJob(j *structs.Job) *structs.Job {
	h.t.Helper()
	buf, err := json.Marshal(j)
	if err != nil {
		h.t.Fatalf("encode job: %v", err)
	}
	var in structs.Job
	if err := json.Unmarshal(buf, &in); err != nil {
		h.t.Fatalf("decode job: %v", err)
	}
	if err := h.store.UpsertJob(h.next(), &in, testNow); err != nil {
		h.t.Fatalf("upsert job: %v", err)
	}
	out, err := h.store.JobByID(nil, j.Namespace, j.ID)
	if err != nil || out == nil {
		h.t.Fatalf("read back job: %v", err)
	}
	return out
}

func (h *harness) eval(job *structs.Job, trigger string) *structs.Evaluation {
	return &structs.Evaluation{
		ID: testID(2, int(h.next())), Namespace: structs.DefaultNamespace, Priority: 50,
		Type: job.Type, TriggeredBy: trigger, JobID: job.ID, Status: structs.EvalStatusPending,
	}
}

func (h *harness) schedule(ev *structs.Evaluation) *Result {
	h.t.Helper()
	res, err := Schedule(h.store.Snapshot(), ev, Config{Seed: h.seed, Now: h.now})
	if err != nil {
		h.t.Fatalf("schedule: %v", err)
	}
	if res.EvalUpdate.Status != structs.EvalStatusComplete {
		h.t.Fatalf("eval status %q", res.EvalUpdate.Status)
	}
	return res
}

// apply commits a result the way the plan applier and FSM do.
func (h *harness) apply(res *Result) {
	h.t.Helper()
	var stopped, updated []*structs.Allocation
	for _, id := range sortedKeys(res.Plan.NodeUpdate) {
		stopped = append(stopped, res.Plan.NodeUpdate[id]...)
	}
	for _, id := range sortedKeys(res.Plan.NodeAllocation) {
		updated = append(updated, res.Plan.NodeAllocation[id]...)
	}
	evals := append([]*structs.Evaluation{res.EvalUpdate}, res.CreateEvals...)
	txn := h.store.WriteTxn(h.next())
	defer txn.Abort()
	if err := txn.UpsertPlanDeployment(res.Plan.Deployment, res.Plan.DeploymentUpdates, h.now); err != nil {
		h.t.Fatalf("apply plan deployment: %v", err)
	}
	if err := txn.UpsertPlanResults(stopped, updated, evals, h.now); err != nil {
		h.t.Fatalf("apply plan: %v", err)
	}
	if err := txn.Commit(); err != nil {
		h.t.Fatalf("commit plan: %v", err)
	}
}

// run schedules and applies an eval for job.
func (h *harness) run(job *structs.Job, trigger string) *Result {
	h.t.Helper()
	res := h.schedule(h.eval(job, trigger))
	h.apply(res)
	return res
}

func (h *harness) clientStatus(allocID, status string) {
	h.t.Helper()
	up := &structs.Allocation{ID: allocID, ClientStatus: status}
	if err := h.store.UpdateAllocsFromClient(h.next(), []*structs.Allocation{up}, h.now); err != nil {
		h.t.Fatalf("client update: %v", err)
	}
}

// liveAllocs returns the job's allocations that should be running, by name.
func (h *harness) liveAllocs(jobID string) map[string]*structs.Allocation {
	h.t.Helper()
	all, err := h.store.AllocsByJob(nil, structs.DefaultNamespace, jobID)
	if err != nil {
		h.t.Fatalf("allocs by job: %v", err)
	}
	out := map[string]*structs.Allocation{}
	for _, a := range all {
		if a.TerminalStatus() {
			continue
		}
		if prev, dup := out[a.Name]; dup {
			h.t.Fatalf("two live allocs named %s: %s and %s", a.Name, prev.ID, a.ID)
		}
		out[a.Name] = a
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// placed flattens a plan's placements.
func placed(p *structs.Plan) []*structs.Allocation {
	var out []*structs.Allocation
	for _, id := range sortedKeys(p.NodeAllocation) {
		out = append(out, p.NodeAllocation[id]...)
	}
	return out
}

// stoppedAllocs flattens a plan's stops.
func stoppedAllocs(p *structs.Plan) []*structs.Allocation {
	var out []*structs.Allocation
	for _, id := range sortedKeys(p.NodeUpdate) {
		out = append(out, p.NodeUpdate[id]...)
	}
	return out
}

func names(allocs []*structs.Allocation) []string {
	out := make([]string, 0, len(allocs))
	for _, a := range allocs {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return out
}

func nameSet[V any](m map[string]V) []string { return sortedKeys(m) }

// newPlacements are a plan's placements that create allocations, as
// opposed to in-place updates of stored ones.
func (h *harness) newPlacements(p *structs.Plan) []*structs.Allocation {
	h.t.Helper()
	var out []*structs.Allocation
	for _, a := range placed(p) {
		old, err := h.store.AllocByID(nil, a.ID)
		if err != nil {
			h.t.Fatalf("alloc by id: %v", err)
		}
		if old == nil {
			out = append(out, a)
		}
	}
	return out
}

// runFollowup runs the single delayed-reschedule eval res created, at its
// WaitUntil, as the broker would release it, and applies the outcome.
func (h *harness) runFollowup(res *Result) *Result {
	h.t.Helper()
	if len(res.CreateEvals) != 1 || res.CreateEvals[0].WaitUntil.IsZero() {
		h.t.Fatalf("want one delayed follow-up eval, got %+v", res.CreateEvals)
	}
	ev, err := h.store.EvalByID(nil, res.CreateEvals[0].ID)
	if err != nil || ev == nil {
		h.t.Fatalf("follow-up eval not stored: %v", err)
	}
	h.now = ev.WaitUntil.UnixNano()
	out := h.schedule(ev.Copy())
	h.apply(out)
	return out
}
