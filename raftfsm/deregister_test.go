package raftfsm

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// TestDeregisterNoShutdownDelay: a stop asking for no shutdown delay marks
// the job's live allocations (DesiredTransition.NoShutdownDelay, with a new
// AllocModifyIndex so clients fetch it); the scheduler's stop keeps the
// mark; finished allocations and other stops are left alone.
func TestDeregisterNoShutdownDelay(t *testing.T) {
	f := newTestFSM(t)
	s := f.State()
	applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode("n1")})
	applyOK(t, f, 2, JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending")})
	applyOK(t, f, 3, ApplyPlanResultsType, &ApplyPlanResults{EvalID: id(1), Time: 10, AllocsUpdated: []*structs.Allocation{
		testAlloc(id(10), "web", "web", "n1", id(1), 0), testAlloc(id(11), "web", "web", "n1", id(1), 1),
	}})
	applyOK(t, f, 4, AllocClientUpdateType, &AllocClientUpdate{Time: 20,
		Allocs: []*structs.Allocation{{ID: id(10), ClientStatus: "running"}, {ID: id(11), ClientStatus: "complete"}}})

	applyOK(t, f, 5, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "web", NoShutdownDelay: true,
		Eval: testEval(id(2), "web", "pending"), Time: 30})
	live, _ := s.AllocByID(nil, id(10))
	if !live.DesiredTransition.ShouldIgnoreShutdownDelay() || live.AllocModifyIndex != 5 {
		t.Fatalf("live alloc: transition %+v alloc modify %d", live.DesiredTransition, live.AllocModifyIndex)
	}
	if done, _ := s.AllocByID(nil, id(11)); done.DesiredTransition.NoShutdownDelay != nil || done.AllocModifyIndex != 3 {
		t.Fatalf("finished alloc touched: %+v", done)
	}
	applyOK(t, f, 6, ApplyPlanResultsType, &ApplyPlanResults{Time: 40,
		AllocsStopped: []*structs.Allocation{{ID: id(10), DesiredStatus: "stop", DesiredDescription: "job deregistered"}}})
	if a, _ := s.AllocByID(nil, id(10)); a.DesiredStatus != "stop" || !a.DesiredTransition.ShouldIgnoreShutdownDelay() {
		t.Fatalf("stopped alloc lost the mark: %+v", a)
	}

	// A plain stop marks nothing.
	applyOK(t, f, 7, JobRegisterType, &JobRegister{Job: testJob("api"), Eval: testEval(id(3), "api", "pending")})
	applyOK(t, f, 8, ApplyPlanResultsType, &ApplyPlanResults{EvalID: id(3), Time: 50, AllocsUpdated: []*structs.Allocation{
		testAlloc(id(20), "api", "web", "n1", id(3), 0)}})
	applyOK(t, f, 9, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "api", Eval: testEval(id(4), "api", "pending"), Time: 60})
	if a, _ := s.AllocByID(nil, id(20)); a.DesiredTransition.NoShutdownDelay != nil {
		t.Fatalf("plain stop marked the alloc: %+v", a.DesiredTransition)
	}
}
