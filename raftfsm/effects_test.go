package raftfsm

import (
	"bytes"
	"slices"
	"sort"
	"testing"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

type commitRecord struct {
	index    uint64
	evals    []string
	statuses []string
	freed    bool
}

func newRecordingFSM(t *testing.T) (*FSM, *[]commitRecord) {
	t.Helper()
	s, err := state.NewStore()
	must(t, err)
	var recs []commitRecord
	f := NewWithOptions(s, Options{OnCommit: func(index uint64, eff state.Effects) {
		r := commitRecord{index: index, freed: eff.CapacityFreed}
		for _, e := range eff.Evals {
			if e.ModifyIndex != index {
				t.Errorf("eval %s reported with ModifyIndex %d at index %d", e.ID, e.ModifyIndex, index)
			}
			r.evals = append(r.evals, e.ID)
			r.statuses = append(r.statuses, e.Status)
		}
		recs = append(recs, r)
	}})
	return f, &recs
}

// Every entry type that writes evaluations reports them through OnCommit,
// with their Raft indexes: the leader enqueues from there, so a write path
// cannot forget to. Rejected entries report nothing.
func TestOnCommitReportsEveryEvalAnEntryWrites(t *testing.T) {
	f, recs := newRecordingFSM(t)
	applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode("n1"), Evals: []*structs.Evaluation{testEval(id(1), "sys", "pending")}})
	applyOK(t, f, 2, JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(2), "web", "pending")})
	applyOK(t, f, 3, ApplyPlanResultsType, &ApplyPlanResults{
		AllocsUpdated: []*structs.Allocation{testAlloc(id(10), "web", "web", "n1", id(2), 0)},
		EvalUpdates:   []*structs.Evaluation{testEval(id(2), "web", "complete"), testEval(id(3), "web", "blocked")},
	})
	applyOK(t, f, 4, AllocClientUpdateType, &AllocClientUpdate{
		Allocs: []*structs.Allocation{{ID: id(10), ClientStatus: "failed"}},
		Evals:  []*structs.Evaluation{testEval(id(4), "web", "pending")},
	})
	applyOK(t, f, 5, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{testEval(id(5), "web", "pending")}})
	applyOK(t, f, 6, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "web", Eval: testEval(id(6), "web", "pending")})
	if res := apply(t, f, 7, encode(t, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{testEval(id(7), "web", "pending"), nil}})); res.Err == nil {
		t.Fatal("entry with a nil eval accepted")
	}
	want := []commitRecord{
		{index: 1, evals: []string{id(1)}, statuses: []string{"pending"}, freed: true},
		{index: 2, evals: []string{id(2)}, statuses: []string{"pending"}},
		{index: 3, evals: []string{id(2), id(3)}, statuses: []string{"complete", "blocked"}},
		{index: 4, evals: []string{id(4)}, statuses: []string{"pending"}, freed: true},
		{index: 5, evals: []string{id(5)}, statuses: []string{"pending"}},
		{index: 6, evals: []string{id(6)}, statuses: []string{"pending"}},
	}
	if len(*recs) != len(want) {
		t.Fatalf("commits reported: %+v", *recs)
	}
	for i, w := range want {
		g := (*recs)[i]
		if g.index != w.index || g.freed != w.freed || !slices.Equal(g.evals, w.evals) || !slices.Equal(g.statuses, w.statuses) {
			t.Errorf("commit %d: got %+v, want %+v", i, g, w)
		}
	}
}

// The race the node-down evals used to lose: the leader decides a node is
// down, a plan places an allocation there, then the status update commits.
// The allocation is marked lost in the update's transaction, and the same
// transaction evaluates its job, so it is replaced. Replicas derive the
// same eval IDs.
func TestNodeDownEvaluatesAllocPlacedAfterTheDecision(t *testing.T) {
	run := func() (*FSM, *[]commitRecord) {
		f, recs := newRecordingFSM(t)
		applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode("n1")})
		applyOK(t, f, 2, JobRegisterType, &JobRegister{Job: testJob("early"), Eval: testEval(id(1), "early", "pending")})
		applyOK(t, f, 3, ApplyPlanResultsType, &ApplyPlanResults{AllocsUpdated: []*structs.Allocation{testAlloc(id(10), "early", "web", "n1", id(1), 0)}})
		// The leader decides the node is down here; its entry carries no
		// precomputed evals.
		down := encode(t, NodeStatusUpdateType, &NodeStatusUpdate{NodeID: "n1", Status: structs.NodeStatusDown, NodeEvals: true, Time: 7e9})
		// Meanwhile a plan places a new job's allocation on the node.
		applyOK(t, f, 4, JobRegisterType, &JobRegister{Job: testJob("late"), Eval: testEval(id(2), "late", "pending")})
		applyOK(t, f, 5, ApplyPlanResultsType, &ApplyPlanResults{AllocsUpdated: []*structs.Allocation{testAlloc(id(11), "late", "web", "n1", id(2), 0)}})
		if res := apply(t, f, 6, down); res.Err != nil {
			t.Fatal(res.Err)
		}
		return f, recs
	}
	f, recs := run()
	s := f.State()
	for _, a := range []string{id(10), id(11)} {
		if al, _ := s.AllocByID(nil, a); al.ClientStatus != structs.AllocClientStatusLost {
			t.Fatalf("alloc %s on the down node: %s", a, al.ClientStatus)
		}
	}
	last := (*recs)[len(*recs)-1]
	if last.index != 6 || len(last.evals) != 2 {
		t.Fatalf("node-down commit: %+v", last)
	}
	jobs := map[string]bool{}
	for _, eid := range last.evals {
		e, _ := s.EvalByID(nil, eid)
		if e == nil || e.Status != "pending" || e.NodeID != "n1" || e.TriggeredBy != structs.EvalTriggerNodeUpdate || e.CreateTime != 7e9 {
			t.Fatalf("node-down eval: %+v", e)
		}
		jobs[e.JobID] = true
	}
	if !jobs["early"] || !jobs["late"] {
		t.Fatalf("node-down evals cover jobs %v, want early and late", jobs)
	}
	// A second replica applying the same log has the same state, eval IDs included.
	f2, recs2 := run()
	if !bytes.Equal(persist(t, f), persist(t, f2)) {
		t.Fatal("replicas differ after the node-down entry")
	}
	a, b := append([]string(nil), last.evals...), append([]string(nil), (*recs2)[len(*recs2)-1].evals...)
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Fatalf("eval IDs differ across replicas: %v vs %v", a, b)
	}
}

func TestDerivedIDIsAUUIDAndDependsOnEveryPart(t *testing.T) {
	a := DerivedID(5, "node-down", "n1", "default", "web")
	if len(a) != 36 || a[14] != '5' || a != DerivedID(5, "node-down", "n1", "default", "web") {
		t.Fatalf("derived ID %q", a)
	}
	for _, other := range []string{
		DerivedID(6, "node-down", "n1", "default", "web"),
		DerivedID(5, "node-down", "n1", "default", "web2"),
		DerivedID(5, "node-down", "n1d", "efault", "web"),
	} {
		if other == a {
			t.Fatalf("collision: %s", a)
		}
	}
}

func TestAppliedIndexWakesWaiters(t *testing.T) {
	f := newTestFSM(t)
	done := make(chan error, 1)
	go func() { done <- f.WaitForIndex(t.Context(), 3) }()
	applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode("n1")})
	apply(t, f, 2, encode(t, JobDeregisterType, &JobDeregister{JobID: "absent"})) // rejected, still applied
	select {
	case err := <-done:
		t.Fatalf("woke at index %d: %v", f.AppliedIndex(), err)
	default:
	}
	applyOK(t, f, 3, NodeRegisterType, &NodeRegister{Node: testNode("n2")})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A restored FSM knows how far its snapshot had applied.
	fresh := newTestFSM(t)
	must(t, fresh.Restore(nopCloser{bytes.NewReader(persist(t, f))}))
	if fresh.AppliedIndex() != 3 {
		t.Fatalf("restored applied index %d", fresh.AppliedIndex())
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
