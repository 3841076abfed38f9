package services

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

func testAlloc() *structs.Allocation {
	job := &structs.Job{ID: "shop", Name: "shop", Namespace: "default", TaskGroups: []*structs.TaskGroup{{Name: "web"}}}
	return &structs.Allocation{ID: "8b7e3c1a-0000-4000-8000-000000000001", Name: "shop.web[2]", Namespace: "default",
		JobID: "shop", TaskGroup: "web", Job: job}
}

func TestBuildRegistrations(t *testing.T) {
	alloc := testAlloc()
	node := &structs.Node{ID: "node-1", Datacenter: "dc1", Attributes: map[string]string{"unique.network.ip-address": "10.1.2.3"}}
	ports := []structs.AllocatedPort{{Label: "http", Value: 23456, To: 8080, HostIP: "10.1.2.3"}}
	env := taskenv.Build(taskenv.NodeInfo{Node: node}, alloc, &structs.Task{Name: "app"}, taskenv.Dirs{})
	svcs := []*structs.Service{
		{Name: "${NOMAD_JOB_NAME}-api", PortLabel: "http", Tags: []string{"idx-${NOMAD_ALLOC_INDEX}"},
			Meta: map[string]string{"alloc": "${NOMAD_ALLOC_ID}"}},
		{Name: "fixed", PortLabel: "9000", AddressMode: "host"},
		{Name: "elsewhere", PortLabel: "http", Address: "lb.example.com"},
	}
	insts, err := Build(alloc, "app", svcs, env, node, ports, "")
	if err != nil {
		t.Fatal(err)
	}
	r := insts[0].Reg
	if r.ID != "_nomad-task-"+alloc.ID+"-app-shop-api-http" || r.ServiceName != "shop-api" || r.Address != "10.1.2.3" ||
		r.Port != 23456 || r.Tags[0] != "idx-2" || r.Meta["alloc"] != alloc.ID || r.NodeID != "node-1" ||
		r.Datacenter != "dc1" || r.JobID != "shop" || r.Namespace != "default" {
		t.Fatalf("first: %+v", r)
	}
	if r := insts[1].Reg; r.Port != 9000 || r.Address != "10.1.2.3" {
		t.Fatalf("numeric port: %+v", r)
	}
	if r := insts[2].Reg; r.Address != "lb.example.com" || r.Port != 23456 {
		t.Fatalf("custom address: %+v", r)
	}
	group, err := Build(alloc, "", svcs[:1], env, node, ports, "")
	if err != nil || group[0].Reg.ID != "_nomad-task-"+alloc.ID+"-group-web-shop-api-http" {
		t.Fatalf("group service: %+v %v", group, err)
	}
	// A canary not yet promoted registers canary_tags and canary_meta.
	canary := *alloc
	canary.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
	cs := []*structs.Service{{Name: "c", PortLabel: "http", Tags: []string{"live"}, CanaryTags: []string{"canary-${NOMAD_ALLOC_INDEX}"},
		Meta: map[string]string{"v": "1"}, CanaryMeta: map[string]string{"v": "canary"}}}
	ci, err := Build(&canary, "app", cs, env, node, ports, "")
	if err != nil || ci[0].Reg.Tags[0] != "canary-2" || ci[0].Reg.Meta["v"] != "canary" {
		t.Fatalf("canary: %+v %v", ci[0].Reg, err)
	}
	canary.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: false} // promoted
	if ci, _ := Build(&canary, "app", cs, env, node, ports, ""); ci[0].Reg.Tags[0] != "live" || ci[0].Reg.Meta["v"] != "1" {
		t.Fatalf("promoted canary: %+v", ci[0].Reg)
	}
	for _, bad := range []*structs.Service{
		{Name: "bad_name!", PortLabel: "http"},
		{Name: "x", PortLabel: "nolabel"},
		{Name: "x", PortLabel: "http", AddressMode: "driver"},
		{Name: "x", PortLabel: "http", AddressMode: "host", Address: "1.2.3.4"},
	} {
		if _, err := Build(alloc, "app", []*structs.Service{bad}, env, node, ports, ""); err == nil {
			t.Fatalf("accepted %+v", bad)
		}
	}
}

// nodeCatalog is the Catalog of one node against a real server, with a
// switch to fail calls (a server that cannot be reached).
type nodeCatalog struct {
	srv    *server.Server
	nodeID string
	fail   atomic.Bool
	mu     sync.Mutex
	calls  int
}

var errCutOff = errors.New("servers unreachable")

func (c *nodeCatalog) UpsertServices(ctx context.Context, regs []*structs.ServiceRegistration) error {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if c.fail.Load() {
		return errCutOff
	}
	_, err := c.srv.UpsertServiceRegistrations(ctx, c.nodeID, regs)
	return err
}

func (c *nodeCatalog) DeregisterServices(ctx context.Context, ids []string) error {
	if c.fail.Load() {
		return errCutOff
	}
	_, err := c.srv.DeregisterNodeServices(ctx, c.nodeID, ids)
	return err
}

// runningAllocs registers a node and a job of n allocations and waits for
// their placement.
func runningAllocs(t *testing.T, srv *server.Server, n int) (*structs.Node, []*structs.Allocation) {
	t.Helper()
	node := httpapitest.TestNode("n1", "")
	if _, err := srv.RegisterNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: "web", Name: "web", Namespace: "default", Region: "global", Type: structs.JobTypeService,
		Priority: 50, Datacenters: []string{"dc1"}, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: n, EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10},
			RestartPolicy:    &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: "fail"},
			ReschedulePolicy: &structs.ReschedulePolicy{},
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
				Resources: &structs.Resources{CPU: 10, MemoryMB: 10}}},
		}}}
	if _, err := srv.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		allocs, _ := srv.State().AllocsByJob(nil, "default", "web")
		if len(allocs) == n {
			return node, allocs
		}
		if time.Now().After(deadline) {
			t.Fatal("allocations not placed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func catalogNames(t *testing.T, srv *server.Server) map[string]string {
	t.Helper()
	regs, err := srv.State().Snapshot().ServiceRegistrations(nil, "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range regs {
		out[r.ID] = r.Status
	}
	return out
}

func waitCatalog(t *testing.T, srv *server.Server, what string, ok func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(catalogNames(t, srv)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, catalogNames(t, srv))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The registrar batches, retries while the servers cannot be reached, and
// converges on the servers' catalog; Flush waits for it.
func TestRegistrarConvergesThroughOutages(t *testing.T) {
	srv := servertest.Server(t)
	node, allocs := runningAllocs(t, srv, 3)
	cat := &nodeCatalog{srv: srv, nodeID: node.ID}
	r := NewRegistrar(cat, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	reg := func(i int, status string) *structs.ServiceRegistration {
		return &structs.ServiceRegistration{ID: "svc-" + allocs[i].ID, ServiceName: "web", Namespace: "default",
			NodeID: node.ID, JobID: "web", AllocID: allocs[i].ID, Address: "127.0.0.1", Port: 8000 + i, Status: status}
	}
	r.Set(reg(0, "pending"), reg(1, "pending"), reg(2, "pending"))
	flushCtx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	if err := r.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	if got := catalogNames(t, srv); len(got) != 3 {
		t.Fatalf("after flush: %v", got)
	}
	cat.mu.Lock()
	calls := cat.calls
	cat.mu.Unlock()
	if calls != 1 {
		t.Fatalf("three registrations took %d calls", calls)
	}

	// Cut off: changes wait, then arrive once the servers answer again.
	cat.fail.Store(true)
	r.Set(reg(0, "passing"))
	r.Remove(reg(2, "").ID)
	time.Sleep(300 * time.Millisecond)
	if got := catalogNames(t, srv); got["svc-"+allocs[0].ID] != "pending" || len(got) != 3 {
		t.Fatalf("a cut-off client changed the catalog: %v", got)
	}
	cat.fail.Store(false)
	waitCatalog(t, srv, "the changes after the outage", func(m map[string]string) bool {
		return len(m) == 2 && m["svc-"+allocs[0].ID] == "passing"
	})

	// The servers drop an instance behind the client's back (an operator
	// delete); the periodic full resync puts it back.
	if _, err := srv.DeleteServiceRegistration(ctx, "default", "web", "svc-"+allocs[1].ID); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.fullSync = true
	r.mu.Unlock()
	r.wake()
	waitCatalog(t, srv, "the resync", func(m map[string]string) bool { return len(m) == 2 })
}

func TestAllocChecksPassing(t *testing.T) {
	a := newAllocChecks()
	if !a.Passing() {
		t.Fatal("no checks should pass")
	}
	res := func(mode string) *structs.CheckQueryResult { return &structs.CheckQueryResult{Mode: mode} }
	a.add("c1", "r1", res(structs.CheckModeHealthiness), structs.HealthPending, false)
	a.add("c2", "r1", res(structs.CheckModeReadiness), structs.HealthCritical, false)
	a.add("c3", "r2", res(structs.CheckModeHealthiness), structs.HealthPassing, true)
	<-a.Changed()
	if a.Passing() {
		t.Fatal("a pending healthiness check passes")
	}
	if !a.set("c1", res(structs.CheckModeHealthiness), structs.HealthPassing, false) {
		t.Fatal("health change not reported")
	}
	if a.set("c1", res(structs.CheckModeHealthiness), structs.HealthPassing, false) {
		t.Fatal("unchanged health reported as a change")
	}
	select {
	case <-a.Changed():
	default:
		t.Fatal("Changed did not fire")
	}
	// Readiness checks do not count; a warning counts with ignore_warnings.
	a.set("c3", res(structs.CheckModeHealthiness), structs.HealthWarning, true)
	if !a.Passing() {
		t.Fatal("readiness or ignored warnings failed the allocation")
	}
	if h := a.serviceHealth("r1"); h != structs.HealthCritical {
		t.Fatalf("service r1 health %q", h)
	}
	if h := a.serviceHealth("r2"); h != structs.HealthWarning {
		t.Fatalf("service r2 health %q", h)
	}
	a.remove([]string{"c1", "c2", "c3"})
	if h := a.serviceHealth("r1"); h != "" {
		t.Fatalf("health without checks %q", h)
	}
}

// Deployment health waits for every healthiness check the job declares
// for the allocation's group and long-running tasks to be registered.
func TestForHealthExpectsDeclaredChecks(t *testing.T) {
	check := func(onUpdate string) *structs.ServiceCheck {
		return &structs.ServiceCheck{Name: "c", Type: "tcp", OnUpdate: onUpdate}
	}
	alloc := testAlloc()
	tg := alloc.Job.TaskGroups[0]
	tg.Services = []*structs.Service{{Name: "g", Checks: []*structs.ServiceCheck{check(""), check("ignore")}}}
	tg.Tasks = []*structs.Task{
		{Name: "main", Services: []*structs.Service{{Name: "m", Checks: []*structs.ServiceCheck{check("ignore_warnings")}}}},
		{Name: "side", Lifecycle: &structs.TaskLifecycle{Hook: "prestart", Sidecar: true},
			Services: []*structs.Service{{Name: "s", Checks: []*structs.ServiceCheck{check("")}}}},
		{Name: "init", Lifecycle: &structs.TaskLifecycle{Hook: "prestart"},
			Services: []*structs.Service{{Name: "i", Checks: []*structs.ServiceCheck{check("")}}}},
	}
	if n := expectedChecks(alloc); n != 3 {
		t.Fatalf("expected checks %d, want 3 (group healthiness, main, sidecar)", n)
	}
	st := NewStore()
	a := st.ForHealth(alloc)
	if a.Passing() {
		t.Fatal("passing before any declared check registered")
	}
	res := &structs.CheckQueryResult{Mode: structs.CheckModeHealthiness}
	for _, id := range []string{"c1", "c2"} {
		a.add(id, "r", res, structs.HealthPassing, false)
	}
	if a.Passing() {
		t.Fatal("passing with 2 of 3 checks registered")
	}
	a.add("c3", "r", res, structs.HealthPassing, false)
	if !a.Passing() {
		t.Fatal("not passing with every check registered and passing")
	}
}

// TestAllocAddressMode: address_mode "alloc" is the allocation's own
// address and the port inside its namespace (to); without an address of
// its own (host networking) it is an error, not the node's address.
func TestAllocAddressMode(t *testing.T) {
	ports := []structs.AllocatedPort{{Label: "http", Value: 25000, To: 8080, HostIP: "10.0.0.5"}}
	ip, port, err := serviceAddress(AddressModeAlloc, "", "http", nil, ports, "172.26.64.7")
	if err != nil || ip != "172.26.64.7" || port != 8080 {
		t.Fatalf("alloc mode: %s:%d %v", ip, port, err)
	}
	if ip, port, err = serviceAddress(AddressModeAlloc, "", "9090", nil, ports, "172.26.64.7"); err != nil || port != 9090 || ip != "172.26.64.7" {
		t.Fatalf("alloc mode with a numeric port: %s:%d %v", ip, port, err)
	}
	if _, _, err := serviceAddress(AddressModeAlloc, "", "http", nil, ports, ""); err == nil {
		t.Fatal("alloc mode without an allocation address was accepted")
	}
	if ip, port, _ := serviceAddress(AddressModeHost, "", "http", nil, ports, "172.26.64.7"); ip != "10.0.0.5" || port != 25000 {
		t.Fatalf("host mode: %s:%d", ip, port)
	}
}
