package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func testReg(id, name, allocID, nodeID string, tags ...string) *structs.ServiceRegistration {
	return &structs.ServiceRegistration{
		ID: id, ServiceName: name, Namespace: structs.DefaultNamespace, NodeID: nodeID, Datacenter: "dc1",
		JobID: "web", AllocID: allocID, Tags: tags, Address: "10.0.0.1", Port: 8080,
	}
}

func serviceIDs(t *testing.T, regs []*structs.ServiceRegistration) []string {
	t.Helper()
	var out []string
	for _, r := range regs {
		out = append(out, r.ID)
	}
	return out
}

func upsertRegs(t *testing.T, s *Store, index uint64, regs ...*structs.ServiceRegistration) {
	t.Helper()
	must(t, s.write(index, func(tx *WriteTxn) error { return tx.UpsertServiceRegistrations(regs) }))
}

func TestServiceRegistrationsIndexesAndSkips(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 3)
	upsertRegs(t, s, 10,
		testReg("r1", "web", ids[0], "n1", "a"),
		testReg("r2", "web", ids[1], "n1", "b"),
		testReg("r3", "db", ids[1], "n1"),
		// Wrong node for its allocation, unknown allocation: skipped.
		testReg("forged", "web", ids[2], "n2"),
		testReg("ghost", "web", uuidN(999), "n1"),
	)
	snap := s.Snapshot()
	byName, err := snap.ServiceRegistrationsByName(nil, "default", "web")
	must(t, err)
	if got := serviceIDs(t, byName); len(got) != 2 || got[0] != "r1" || got[1] != "r2" {
		t.Fatalf("by name = %v", got)
	}
	byAlloc, _ := snap.ServiceRegistrationsByAlloc(nil, ids[1])
	byNode, _ := snap.ServiceRegistrationsByNode(nil, "n1")
	byJob, _ := snap.ServiceRegistrationsByJob(nil, "default", "web")
	all, _ := snap.ServiceRegistrations(nil, "*")
	if len(byAlloc) != 2 || len(byNode) != 3 || len(byJob) != 3 || len(all) != 3 {
		t.Fatalf("alloc %d node %d job %d all %d", len(byAlloc), len(byNode), len(byJob), len(all))
	}
	r1, _ := snap.ServiceRegistrationByID(nil, "default", "r1")
	if r1 == nil || r1.CreateIndex != 10 || r1.ModifyIndex != 10 {
		t.Fatalf("r1 = %+v", r1)
	}
	mustIndex(t, s, TableServiceRegistrations, 10)

	// An unchanged refresh writes nothing; a changed one keeps CreateIndex.
	upsertRegs(t, s, 11, testReg("r1", "web", ids[0], "n1", "a"))
	mustIndex(t, s, TableServiceRegistrations, 10)
	upsertRegs(t, s, 12, testReg("r1", "web", ids[0], "n1", "a", "new"))
	r1, _ = s.Snapshot().ServiceRegistrationByID(nil, "default", "r1")
	if r1.CreateIndex != 10 || r1.ModifyIndex != 12 || len(r1.Tags) != 2 {
		t.Fatalf("r1 after change = %+v", r1)
	}

	// A client deregisters only its own instances.
	must(t, s.write(13, func(tx *WriteTxn) error { return tx.DeleteNodeServiceRegistrations("n2", []string{"r1"}) }))
	must(t, s.write(14, func(tx *WriteTxn) error { return tx.DeleteNodeServiceRegistrations("n1", []string{"r1", "nope"}) }))
	if r, _ := s.Snapshot().ServiceRegistrationByID(nil, "default", "r1"); r != nil {
		t.Fatal("r1 survived its node's deregistration")
	}
	if err := s.write(15, func(tx *WriteTxn) error { return tx.DeleteServiceRegistration("default", "nope") }); err == nil {
		t.Fatal("operator delete of an unknown registration succeeded")
	}
}

func TestServiceRegistrationsEndWithTheirAllocation(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 4)
	var regs []*structs.ServiceRegistration
	for i, a := range ids {
		regs = append(regs, testReg(uuidN(500+i), "web", a, "n1"))
	}
	upsertRegs(t, s, 10, regs...)
	left := func() int {
		all, err := s.Snapshot().ServiceRegistrations(nil, "default")
		must(t, err)
		return len(all)
	}
	// Running keeps it; complete, lost (server side) and unknown end it, in
	// the same write as the status.
	must(t, s.UpdateAllocsFromClient(11, []*structs.Allocation{{ID: ids[0], ClientStatus: structs.AllocClientStatusRunning}}, 1))
	if left() != 4 {
		t.Fatal("a running allocation lost its registration")
	}
	must(t, s.UpdateAllocsFromClient(12, []*structs.Allocation{{ID: ids[0], ClientStatus: structs.AllocClientStatusComplete}}, 1))
	must(t, s.UpsertPlanResults(13, []*structs.Allocation{{ID: ids[1], DesiredStatus: structs.AllocDesiredStatusStop,
		ClientStatus: structs.AllocClientStatusLost}}, nil, nil, 1))
	must(t, s.UpsertPlanResults(14, []*structs.Allocation{{ID: ids[2], DesiredStatus: structs.AllocDesiredStatusRun,
		ClientStatus: structs.AllocClientStatusUnknown}}, nil, nil, 1))
	if left() != 1 {
		t.Fatalf("%d registrations left, want 1", left())
	}
	mustIndex(t, s, TableServiceRegistrations, 14)
	// A late report for the completed allocation does not bring it back.
	upsertRegs(t, s, 15, testReg(uuidN(500), "web", ids[0], "n1"))
	if left() != 1 {
		t.Fatal("a registration of a finished allocation was accepted")
	}
	// Garbage collection of the allocation removes the rest.
	must(t, s.DeleteAllocs(16, []string{ids[3]}))
	if left() != 0 {
		t.Fatal("a collected allocation kept its registration")
	}
}

// Promoting a deployment ends its canaries' canary status (so their
// clients re-register services with the normal tags): Canary cleared and
// AllocModifyIndex moved, which is what a client's watch follows.
func TestPromotionEndsCanaryStatus(t *testing.T) {
	s := newTestStore(t)
	job := testJob("web")
	must(t, s.UpsertJob(1, job, 0))
	d := &structs.Deployment{ID: "d1", Namespace: structs.DefaultNamespace, JobID: "web",
		Status:     structs.DeploymentStatusRunning,
		TaskGroups: map[string]*structs.DeploymentState{"web": {DesiredCanaries: 1, DesiredTotal: 2}}}
	must(t, s.UpsertDeployment(2, d))
	canary := testAlloc("c1", "web", "web", "n1", "e1", 0)
	canary.Job, canary.DeploymentID = job, "d1"
	canary.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
	must(t, s.UpsertAllocs(3, []*structs.Allocation{canary}))
	if got, _ := s.DeploymentByID(nil, "d1"); len(got.TaskGroups["web"].PlacedCanaries) != 1 {
		t.Fatalf("placed canaries %v", got.TaskGroups["web"].PlacedCanaries)
	}
	must(t, s.PromoteDeployment(4, "d1", nil))
	a, err := s.AllocByID(nil, "c1")
	must(t, err)
	if a.DeploymentStatus.IsCanary() || a.AllocModifyIndex != 4 {
		t.Fatalf("after promotion: canary %v, alloc modify index %d", a.DeploymentStatus.IsCanary(), a.AllocModifyIndex)
	}
	if got, _ := s.DeploymentByID(nil, "d1"); !got.TaskGroups["web"].Promoted || got.TaskGroups["web"].PlacedAllocs != 1 {
		t.Fatalf("deployment after promotion: %+v", got.TaskGroups["web"])
	}
}
