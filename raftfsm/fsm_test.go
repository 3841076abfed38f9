package raftfsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func TestApplyJobLifecycle(t *testing.T) {
	f := newTestFSM(t)
	s := f.State()
	applyOK(t, f, 5, JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending"), SubmitTime: 100})

	j, err := s.JobByID(nil, "default", "web")
	must(t, err)
	if j == nil || j.CreateIndex != 5 || j.SubmitTime != 100 || j.Status != structs.JobStatusPending {
		t.Fatalf("registered job: %+v", j)
	}
	ev, _ := s.EvalByID(nil, id(1))
	if ev == nil || ev.JobModifyIndex != 5 || ev.CreateIndex != 5 {
		t.Fatalf("register eval: %+v", ev)
	}

	// Stop: a new version with Stop set.
	applyOK(t, f, 6, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "web", Eval: testEval(id(2), "web", "pending"), Time: 200})
	j, _ = s.JobByID(nil, "default", "web")
	if !j.Stop || j.Version != 1 || j.SubmitTime != 200 {
		t.Fatalf("stopped job: stop %v version %d submit %d", j.Stop, j.Version, j.SubmitTime)
	}
	if ev, _ := s.EvalByID(nil, id(2)); ev == nil || ev.JobModifyIndex != 6 {
		t.Fatalf("deregister eval: %+v", ev)
	}

	// Purge.
	applyOK(t, f, 7, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "web", Purge: true})
	if j, _ := s.JobByID(nil, "default", "web"); j != nil {
		t.Fatal("purged job still present")
	}
	if vs, _ := s.JobVersionsByID(nil, "default", "web"); len(vs) != 0 {
		t.Fatal("purged versions still present")
	}

	// Stopping or purging an absent job is an error result and writes nothing.
	for _, purge := range []bool{false, true} {
		res := apply(t, f, 8, encode(t, JobDeregisterType, &JobDeregister{JobID: "web", Purge: purge, Eval: testEval(id(3), "web", "pending")}))
		if !errors.Is(res.Err, state.ErrNotFound) {
			t.Fatalf("deregister absent (purge=%v): %v", purge, res.Err)
		}
	}
	if ev, _ := s.EvalByID(nil, id(3)); ev != nil {
		t.Fatal("failed entry left its eval behind")
	}
	if idx, _ := s.LatestIndex(); idx != 7 {
		t.Fatalf("LatestIndex %d after failed entries", idx)
	}
}

func TestApplyPlanNodeDownAndClientUpdates(t *testing.T) {
	f := newTestFSM(t)
	s := f.State()
	applyOK(t, f, 1, NodeRegisterType, &NodeRegister{Node: testNode("n1"), Time: 3_000_000_000})
	applyOK(t, f, 2, NodeRegisterType, &NodeRegister{Node: testNode("n2")})
	n, _ := s.NodeByID(nil, "n1")
	if n == nil || n.StatusUpdatedAt != 3 || n.CreateIndex != 1 {
		t.Fatalf("node: %+v", n)
	}
	applyOK(t, f, 3, JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending")})

	done := testEval(id(1), "web", structs.EvalStatusComplete)
	done.QueuedAllocations = map[string]int{"web": 0, "db": 1}
	plan := &ApplyPlanResults{
		EvalID: id(1),
		AllocsUpdated: []*structs.Allocation{
			testAlloc(id(10), "web", "web", "n1", id(1), 0),
			testAlloc(id(11), "web", "web", "n1", id(1), 1),
			testAlloc(id(12), "web", "web", "n2", id(1), 1),
		},
		EvalUpdates: []*structs.Evaluation{done},
		Time:        5000,
	}
	applyOK(t, f, 4, ApplyPlanResultsType, plan)
	allocs, _ := s.AllocsByEval(nil, id(1))
	if len(allocs) != 3 {
		t.Fatalf("placed %d allocs", len(allocs))
	}
	for _, a := range allocs {
		if a.Job == nil || a.Job.ID != "web" || a.CreateTime != 5000 {
			t.Fatalf("placed alloc: job %v create %d", a.Job, a.CreateTime)
		}
	}
	sum, _ := s.JobSummaryByID(nil, "default", "web")
	if sum.Summary["web"].Starting != 3 || sum.Summary["db"].Queued != 1 {
		t.Fatalf("summary after plan: %+v", sum.Summary)
	}

	// Client reports, including one for an unknown alloc (skipped).
	applyOK(t, f, 5, AllocClientUpdateType, &AllocClientUpdate{
		Allocs: []*structs.Allocation{
			{ID: id(10), ClientStatus: "running"}, {ID: id(11), ClientStatus: "complete"},
			{ID: id(12), ClientStatus: "running"}, {ID: "nope", ClientStatus: "running"},
		},
		Evals: []*structs.Evaluation{testEval(id(2), "web", "pending")},
		Time:  6000,
	})
	a, _ := s.AllocByID(nil, id(10))
	if a.ClientStatus != "running" || a.ModifyTime != 6000 || a.ModifyIndex != 5 {
		t.Fatalf("client update: %+v", a)
	}
	if ev, _ := s.EvalByID(nil, id(2)); ev == nil {
		t.Fatal("client update eval missing")
	}

	// Node down: non-terminal allocs on it become lost; the finished one stays.
	applyOK(t, f, 6, NodeStatusUpdateType, &NodeStatusUpdate{NodeID: "n1", Status: structs.NodeStatusDown,
		Evals: []*structs.Evaluation{testEval(id(3), "web", "pending")}, Time: 9_000_000_000})
	n, _ = s.NodeByID(nil, "n1")
	if n.Status != "down" || n.StatusUpdatedAt != 9 {
		t.Fatalf("node after down: %+v", n)
	}
	if a, _ := s.AllocByID(nil, id(10)); a.ClientStatus != "lost" || a.ClientDescription != "node is down" || a.ModifyTime != 9_000_000_000 {
		t.Fatalf("alloc on down node: %q %q", a.ClientStatus, a.ClientDescription)
	}
	if a, _ := s.AllocByID(nil, id(11)); a.ClientStatus != "complete" {
		t.Fatalf("finished alloc changed: %q", a.ClientStatus)
	}
	if a, _ := s.AllocByID(nil, id(12)); a.ClientStatus != "running" {
		t.Fatalf("alloc on other node changed: %q", a.ClientStatus)
	}
	sum, _ = s.JobSummaryByID(nil, "default", "web")
	if tg := sum.Summary["web"]; tg.Lost != 1 || tg.Running != 1 || tg.Complete != 1 {
		t.Fatalf("summary after node down: %+v", tg)
	}

	// Plan stop of the lost alloc keeps it lost and marks it stopped.
	applyOK(t, f, 7, ApplyPlanResultsType, &ApplyPlanResults{
		AllocsStopped: []*structs.Allocation{{ID: id(10), DesiredStatus: "stop", DesiredDescription: "lost"}},
		Time:          10_000,
	})
	if a, _ := s.AllocByID(nil, id(10)); a.DesiredStatus != "stop" || a.ClientStatus != "lost" || a.AllocModifyIndex != 7 {
		t.Fatalf("stopped lost alloc: %+v", a)
	}

	// Unknown node is an error.
	if res := apply(t, f, 8, encode(t, NodeStatusUpdateType, &NodeStatusUpdate{NodeID: "ghost", Status: "down"})); res.Err == nil {
		t.Fatal("status of unknown node accepted")
	}
}

func TestApplyEvalUpsertDelete(t *testing.T) {
	f := newTestFSM(t)
	s := f.State()
	applyOK(t, f, 1, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{testEval("e1", "web", "pending"), testEval("e2", "web", "blocked")}})
	upd := testEval("e1", "web", "complete")
	applyOK(t, f, 2, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{upd}})
	e, _ := s.EvalByID(nil, "e1")
	if e.Status != "complete" || e.CreateIndex != 1 || e.ModifyIndex != 2 {
		t.Fatalf("eval update: %+v", e)
	}
	applyOK(t, f, 3, EvalDeleteType, &EvalDelete{EvalIDs: []string{"e1", "missing"}})
	if e, _ := s.EvalByID(nil, "e1"); e != nil {
		t.Fatal("deleted eval present")
	}
	if es, _ := s.EvalsByJob(nil, "default", "web"); len(es) != 1 || es[0].ID != "e2" {
		t.Fatalf("remaining evals: %v", es)
	}
}

// Entries every replica rejects alike (deterministic validation) are an
// error result, logged, and change nothing.
func TestApplyRejectedEntryIsAResult(t *testing.T) {
	f, halts := newHaltRecordingFSM(t)
	bad := map[string][]byte{
		"null body":        append([]byte{byte(JobRegisterType)}, "null"...),
		"job without id":   encode(t, JobRegisterType, &JobRegister{Job: &structs.Job{}}),
		"missing node":     encode(t, NodeRegisterType, &NodeRegister{}),
		"missing node id":  encode(t, NodeStatusUpdateType, &NodeStatusUpdate{Status: "down"}),
		"nil alloc":        encode(t, AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{nil}}),
		"nil plan alloc":   encode(t, ApplyPlanResultsType, &ApplyPlanResults{AllocsUpdated: []*structs.Allocation{nil}}),
		"nil eval":         encode(t, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{nil}}),
		"eval without id":  encode(t, EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{{JobID: "x"}}}),
		"deregister no id": encode(t, JobDeregisterType, &JobDeregister{}),
		"nil group":        encode(t, JobRegisterType, &JobRegister{Job: &structs.Job{ID: "x", TaskGroups: []*structs.TaskGroup{nil}}}),
	}
	for name, data := range bad {
		res := apply(t, f, 1, data)
		if res.Err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(*halts) != 0 {
		t.Fatalf("rejected entries halted the server: %v", *halts)
	}
	if idx, _ := f.State().LatestIndex(); idx != 0 {
		t.Fatalf("rejected entries wrote state up to index %d", idx)
	}
	// Unknown types flagged as ignorable are skipped without error.
	if res := apply(t, f, 2, []byte{byte(99 | IgnoreUnknownTypeFlag), '{', '}'}); res.Err != nil {
		t.Fatalf("ignorable unknown type: %v", res.Err)
	}
	if len(*halts) != 0 || f.AppliedIndex() != 2 {
		t.Fatalf("ignorable entry: halts %v, applied index %d", *halts, f.AppliedIndex())
	}
}

// An entry the FSM cannot apply stops the server, with the entry's index,
// type and the cause in the message; nothing of it reaches the state.
func TestApplyHaltsOnEntryItCannotApply(t *testing.T) {
	for name, tc := range map[string]struct {
		data  []byte
		typ   MessageType
		cause string
	}{
		"empty":        {nil, 0, "empty log entry"},
		"unknown type": {[]byte{42, '{', '}'}, 42, "unknown message type 42"},
		"bad json":     {append([]byte{byte(JobRegisterType)}, "{{"...), JobRegisterType, "decode JobRegister body"},
		"wrong shape":  {append([]byte{byte(EvalUpsertType)}, `{"Evals":"x"}`...), EvalUpsertType, "decode EvalUpsert body"},
	} {
		t.Run(name, func(t *testing.T) {
			f, halts := newHaltRecordingFSM(t)
			apply(t, f, 7, tc.data)
			if len(*halts) != 1 {
				t.Fatalf("halts: %v", *halts)
			}
			h := (*halts)[0]
			if h.Index != 7 || h.Type != tc.typ || !strings.Contains(h.Error(), tc.cause) ||
				!strings.Contains(h.Error(), "raft entry 7") {
				t.Fatalf("halt: index %d type %v: %v", h.Index, h.Type, h)
			}
		})
	}
}

func TestApplyHaltsWhenAHandlerPanics(t *testing.T) {
	f, halts := newHaltRecordingFSM(t)
	f.beforeApply = func(body any) {
		if _, ok := body.(*NodeRegister); ok {
			var m map[string]int
			m["boom"] = 1 // a handler bug: write to a nil map
		}
	}
	res := apply(t, f, 3, encode(t, NodeRegisterType, &NodeRegister{Node: testNode("n1")}))
	if len(*halts) != 1 || res.Err == nil {
		t.Fatalf("halts %v, result %v", *halts, res.Err)
	}
	h := (*halts)[0]
	if h.Index != 3 || h.Type != NodeRegisterType || !strings.Contains(h.Error(), "handler panicked: assignment to entry in nil map") {
		t.Fatalf("halt: %v", h)
	}
	if n, _ := f.State().NodeByID(nil, "n1"); n != nil {
		t.Fatal("the panicking entry's write reached the state")
	}
	// The store is usable afterwards: the panic did not leave its write lock held.
	f.beforeApply = nil
	applyOK(t, f, 4, NodeRegisterType, &NodeRegister{Node: testNode("n1")})
}

// Without a Halt hook the FSM panics: raft's FSM goroutine does not
// recover, so the process stops (see server's TestServerStopsOnEntryItCannotApply).
func TestApplyDefaultHaltPanics(t *testing.T) {
	f := newTestFSM(t)
	defer func() {
		r := recover()
		he, ok := r.(*HaltError)
		if !ok || he.Index != 9 {
			t.Fatalf("recovered %v", r)
		}
	}()
	f.Apply(&raft.Log{Index: 9, Data: []byte{42}})
	t.Fatal("Apply returned")
}
