package raftfsm

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestApplyGCDelete(t *testing.T) {
	f := newTestFSM(t)
	applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode(id(100))})
	applyOK(t, f, 2, NodeRegisterType, &NodeRegister{Node: testNode(id(101))})
	applyOK(t, f, 3, NodeStatusUpdateType, &NodeStatusUpdate{NodeID: id(101), Status: structs.NodeStatusDown, Time: 1e9})
	applyOK(t, f, 4, JobRegisterType, &JobRegister{Job: testJob("old"), Eval: testEval(id(1), "old", "pending")})
	applyOK(t, f, 5, JobRegisterType, &JobRegister{Job: testJob("live"), Eval: testEval(id(2), "live", "pending")})
	applyOK(t, f, 6, ApplyPlanResultsType, &ApplyPlanResults{
		AllocsUpdated: []*structs.Allocation{
			testAlloc(id(10), "old", "web", id(100), id(1), 0),
			testAlloc(id(20), "live", "web", id(100), id(2), 0),
		},
		EvalUpdates: []*structs.Evaluation{testEval(id(1), "old", "complete"), testEval(id(2), "live", "complete")},
	})
	applyOK(t, f, 7, AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{
		{ID: id(10), ClientStatus: structs.AllocClientStatusComplete},
		{ID: id(20), ClientStatus: structs.AllocClientStatusRunning},
	}})
	applyOK(t, f, 8, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "old", Time: 5})
	st := f.State()
	old, _ := st.JobByID(nil, "default", "old")
	live, _ := st.JobByID(nil, "default", "live")
	down, _ := st.NodeByID(nil, id(101))

	// Stale references are ignored: a moved ModifyIndex, an unfinished
	// alloc, a non-terminal eval, a node that is not down.
	applyOK(t, f, 9, GCDeleteType, &GCDelete{
		Jobs:     []GCJob{{Namespace: "default", ID: "live", ModifyIndex: live.ModifyIndex - 1}},
		EvalIDs:  []string{id(99)},
		AllocIDs: []string{id(20)},
		Nodes:    []GCNode{{ID: id(100), ModifyIndex: 1}, {ID: id(101), ModifyIndex: down.ModifyIndex + 1}},
	})
	if j, _ := st.JobByID(nil, "default", "live"); j == nil {
		t.Fatal("job deleted despite a stale ModifyIndex")
	}
	if a, _ := st.AllocByID(nil, id(20)); a == nil {
		t.Fatal("running alloc deleted")
	}
	if n, _ := st.NodeByID(nil, id(100)); n == nil {
		t.Fatal("ready node deleted")
	}
	if n, _ := st.NodeByID(nil, id(101)); n == nil {
		t.Fatal("down node deleted despite a stale ModifyIndex")
	}

	applyOK(t, f, 10, GCDeleteType, &GCDelete{
		Jobs:     []GCJob{{Namespace: "default", ID: "old", ModifyIndex: old.ModifyIndex}},
		EvalIDs:  []string{id(1), id(8)},
		AllocIDs: []string{id(10)},
		Nodes:    []GCNode{{ID: id(101), ModifyIndex: down.ModifyIndex}},
	})
	if j, _ := st.JobByID(nil, "default", "old"); j != nil {
		t.Fatal("job not collected")
	}
	if v, _ := st.JobVersionsByID(nil, "default", "old"); len(v) != 0 {
		t.Fatalf("%d versions left", len(v))
	}
	if e, _ := st.EvalByID(nil, id(1)); e != nil {
		t.Fatal("eval not collected")
	}
	if a, _ := st.AllocByID(nil, id(10)); a != nil {
		t.Fatal("alloc not collected")
	}
	if n, _ := st.NodeByID(nil, id(101)); n != nil {
		t.Fatal("down node not collected")
	}
	for _, tbl := range []string{"jobs", "evals", "allocs", "nodes"} {
		if idx, _ := st.Index(tbl); idx != 10 {
			t.Fatalf("Index(%s) = %d, want 10", tbl, idx)
		}
	}
	if j, _ := st.JobByID(nil, "default", "live"); j == nil || j.Status != structs.JobStatusRunning {
		t.Fatalf("live job after GC: %+v", j)
	}
}
