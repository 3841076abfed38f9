package raftfsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/orch-project/orch/structs"
)

func lifecycleLog(t *testing.T) [][]byte {
	periodic := testJob("cron")
	periodic.Type = structs.JobTypeBatch
	periodic.Periodic = &structs.PeriodicConfig{Enabled: true, Spec: "* * * * *", SpecType: "cron", ProhibitOverlap: true}
	fn := testJob("fn")
	fn.Type = structs.JobTypeBatch
	fn.ParameterizedJob = &structs.ParameterizedJobConfig{Payload: "optional"}
	child := func(parent *structs.Job, id, token string) *structs.Job {
		c := *parent
		c.ID, c.Name, c.ParentID, c.Periodic = id, id, parent.ID, nil
		c.Dispatched = parent.ParameterizedJob != nil
		c.DispatchIdempotencyToken = token
		return &c
	}
	return [][]byte{
		encode(t, JobRegisterType, &JobRegister{Job: periodic, SubmitTime: 10}),
		encode(t, JobRegisterType, &JobRegister{Job: fn, SubmitTime: 10}),
		encode(t, PeriodicLaunchType, &PeriodicLaunch{Namespace: "default", JobID: "cron", Launch: 60e9,
			Child: child(periodic, "cron/periodic-60", ""), Eval: testEval(id(1), "cron/periodic-60", "pending"), Time: 61e9}),
		// A skipped tick (prohibit_overlap) records its time only.
		encode(t, PeriodicLaunchType, &PeriodicLaunch{Namespace: "default", JobID: "cron", Launch: 120e9, Time: 121e9}),
		encode(t, JobDispatchType, &JobDispatch{Child: child(fn, "fn/dispatch-1-00000001", "tok"),
			Eval: testEval(id(2), "fn/dispatch-1-00000001", "pending"), Time: 62e9}),
		// Same token: a no-op.
		encode(t, JobDispatchType, &JobDispatch{Child: child(fn, "fn/dispatch-2-00000002", "tok"),
			Eval: testEval(id(3), "fn/dispatch-2-00000002", "pending"), Time: 63e9}),
		encode(t, JobDispatchType, &JobDispatch{Child: child(fn, "fn/dispatch-3-00000003", ""),
			Eval: testEval(id(4), "fn/dispatch-3-00000003", "pending"), Time: 64e9}),
	}
}

// Launches and dispatches apply identically on every replica and survive
// a snapshot; a launch at or before the recorded one is refused alike
// everywhere; the idempotency token keeps one child.
func TestLifecycleEntriesDeterministic(t *testing.T) {
	var first []byte
	var fsms []*FSM
	for i := range 3 {
		f := newTestFSM(t)
		for n, e := range lifecycleLog(t) {
			if res := apply(t, f, uint64(n+1), e); res.Err != nil {
				t.Fatalf("entry %d: %v", n+1, res.Err)
			}
		}
		// A second leader replaying the 60 s tick, and an earlier one.
		for k, launch := range []int64{60e9, 30e9} {
			res := apply(t, f, uint64(20+k), encode(t, PeriodicLaunchType, &PeriodicLaunch{Namespace: "default", JobID: "cron",
				Launch: launch, Child: &structs.Job{ID: "cron/periodic-x", ParentID: "cron", Namespace: "default"}}))
			if !errors.Is(res.Err, ErrAlreadyLaunched) {
				t.Fatalf("relaunch at %d: %v", launch, res.Err)
			}
		}
		out := persist(t, f)
		if i == 0 {
			first = out
		} else if !bytes.Equal(first, out) {
			t.Fatalf("replica %d diverged", i)
		}
		fsms = append(fsms, f)
	}
	st := fsms[0].State()
	last, _ := st.PeriodicLaunchByID(nil, "default", "cron")
	if last == nil || last.Launch != 120e9 {
		t.Fatalf("launch record %+v", last)
	}
	kids, _ := st.ChildJobs(nil, "default", "fn")
	if len(kids) != 2 || kids[0].ID != "fn/dispatch-1-00000001" {
		t.Fatalf("dispatched children %v", kids)
	}
	sum, _ := st.JobSummaryByID(nil, "default", "fn")
	if sum.Children == nil || sum.Children.Pending != 2 {
		t.Fatalf("children summary %+v", sum.Children)
	}
	if !bytes.Contains(first, []byte(`"Type":"periodic_launch"`)) {
		t.Fatal("snapshot lacks the periodic launch table")
	}
	dst := newTestFSM(t)
	must(t, dst.Restore(io.NopCloser(bytes.NewReader(first))))
	if got := persist(t, dst); !bytes.Equal(got, first) {
		t.Fatal("restored state persists differently")
	}
	if l, _ := dst.State().PeriodicLaunchByID(nil, "default", "cron"); l == nil || l.Launch != 120e9 {
		t.Fatalf("restored launch record %+v", l)
	}

	// Purging the parent drops its launch record; its children's
	// summary rows follow them.
	f := fsms[1]
	applyOK(t, f, 30, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "cron", Purge: true})
	if l, _ := f.State().PeriodicLaunchByID(nil, "default", "cron"); l != nil {
		t.Fatal("launch record outlived its job")
	}
	applyOK(t, f, 31, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "fn/dispatch-3-00000003", Purge: true})
	if sum, _ := f.State().JobSummaryByID(nil, "default", "fn"); sum.Children.Pending != 1 {
		t.Fatalf("children summary after a purge %+v", sum.Children)
	}
}

// A parent purged and registered again counts the children it still has.
func TestChildrenSummaryAfterParentReRegistered(t *testing.T) {
	f := newTestFSM(t)
	for n, e := range lifecycleLog(t) {
		if res := apply(t, f, uint64(n+1), e); res.Err != nil {
			t.Fatalf("entry %d: %v", n+1, res.Err)
		}
	}
	fn, _ := f.State().JobByID(nil, "default", "fn")
	applyOK(t, f, 20, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "fn", Purge: true})
	again := *fn
	applyOK(t, f, 21, JobRegisterType, &JobRegister{Job: &again, SubmitTime: 70e9})
	sum, _ := f.State().JobSummaryByID(nil, "default", "fn")
	if sum == nil || sum.Children == nil || sum.Children.Pending != 2 {
		t.Fatalf("children summary of the re-registered parent: %+v", sum)
	}
	applyOK(t, f, 22, JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "fn/dispatch-1-00000001", Purge: true})
	if sum, _ := f.State().JobSummaryByID(nil, "default", "fn"); sum.Children.Pending != 1 {
		t.Fatalf("children summary after a child's purge: %+v", sum.Children)
	}
}
