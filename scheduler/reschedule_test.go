package scheduler

import (
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// failAt reports alloc failed with its task finished at finished; the
// report itself is written at h.now.
func (h *harness) failAt(allocID string, finished int64) {
	h.t.Helper()
	up := &structs.Allocation{ID: allocID, ClientStatus: structs.AllocClientStatusFailed, TaskStates: map[string]*structs.TaskState{
		"server": {State: structs.TaskStateDead, Failed: true, FinishedAt: time.Unix(0, finished)},
	}}
	if err := h.store.UpdateAllocsFromClient(h.next(), []*structs.Allocation{up}, h.now); err != nil {
		h.t.Fatalf("client update: %v", err)
	}
}

func (h *harness) alloc(id string) *structs.Allocation {
	h.t.Helper()
	a, err := h.store.AllocByID(nil, id)
	if err != nil || a == nil {
		h.t.Fatalf("alloc %s: %v", id, err)
	}
	return a
}

// delayedJob is a service job of count allocations with the given policy,
// placed on three nodes.
func delayedJob(t *testing.T, count int, p *structs.ReschedulePolicy) (*harness, *structs.Job) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000), mkNode(3, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, count)
	job.TaskGroups[0].ReschedulePolicy = p
	job = h.upsertJob(job)
	h.run(job, structs.EvalTriggerJobRegister)
	return h, job
}

func ns(t int64) time.Time { return time.Unix(0, t).UTC() }

func TestRescheduleDelayDefersToFollowupEval(t *testing.T) {
	h, job := delayedJob(t, 1, &structs.ReschedulePolicy{Unlimited: true, Delay: 30 * time.Second, DelayFunction: delayConstant})
	failed := h.liveAllocs("web")["web.web[0]"]
	failTime := testNow + int64(time.Second)
	// The client reports a little after the task died: the delay runs
	// from the task's finish, not from the report.
	h.now = failTime + int64(500*time.Millisecond)
	h.failAt(failed.ID, failTime)
	h.now = failTime + int64(2*time.Second)

	ev := h.eval(job, structs.EvalTriggerRetryFailedAlloc)
	res := h.schedule(ev)
	if p := placed(res.Plan); len(p) != 0 {
		t.Fatalf("replaced before the delay: %v", names(p))
	}
	if len(res.CreateEvals) != 1 {
		t.Fatalf("want one follow-up eval, got %d", len(res.CreateEvals))
	}
	fe := res.CreateEvals[0]
	if fe.Status != structs.EvalStatusPending || fe.TriggeredBy != structs.EvalTriggerRetryFailedAlloc ||
		fe.PreviousEval != ev.ID || fe.JobID != job.ID || fe.Type != structs.JobTypeService ||
		!fe.WaitUntil.Equal(ns(failTime+int64(30*time.Second))) {
		t.Fatalf("follow-up eval wrong: %+v", fe)
	}
	if res.EvalUpdate.BlockedEval != "" || res.EvalUpdate.QueuedAllocations["web"] != 0 {
		t.Fatalf("delayed reschedule counted as unplaced: %+v", res.EvalUpdate)
	}
	h.apply(res)
	stored := h.alloc(failed.ID)
	if stored.FollowupEvalID != fe.ID || stored.ClientStatus != structs.AllocClientStatusFailed ||
		stored.TaskStates["server"] == nil || !awaitingReschedule(stored) {
		t.Fatalf("failed alloc not parked on its follow-up: %+v", stored)
	}

	// Another eval before the delay passes leaves the parked alloc alone.
	h.now = failTime + int64(10*time.Second)
	again := h.schedule(h.eval(job, structs.EvalTriggerRetryFailedAlloc))
	if !again.Plan.IsNoOp() || len(again.CreateEvals) != 0 {
		t.Fatalf("second eval acted: plan %+v, evals %+v", again.Plan, again.CreateEvals)
	}
	h.apply(again)

	// The follow-up released early (e.g. after a leader change) defers again
	// to the same time rather than replacing now.
	h.now = failTime + int64(20*time.Second)
	early := h.schedule(fe.Copy())
	if len(placed(early.Plan)) != 0 || len(early.CreateEvals) != 1 || !early.CreateEvals[0].WaitUntil.Equal(fe.WaitUntil) {
		t.Fatalf("early follow-up: placed %v, evals %+v", names(placed(early.Plan)), early.CreateEvals)
	}

	res = h.runFollowup(res)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].Name != "web.web[0]" || p[0].PreviousAllocation != failed.ID || p[0].NodeID == failed.NodeID {
		t.Fatalf("replacement wrong: %+v", p)
	}
	tr := p[0].RescheduleTracker
	if tr == nil || len(tr.Events) != 1 || tr.Events[0].Delay != 30*time.Second || tr.Events[0].RescheduleTime != h.now {
		t.Fatalf("tracker wrong: %+v", tr)
	}
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].ID != failed.ID || st[0].DesiredDescription != descRescheduled {
		t.Fatalf("failed alloc not marked rescheduled: %+v", st)
	}
	if len(res.CreateEvals) != 0 {
		t.Fatalf("follow-up created more evals: %+v", res.CreateEvals)
	}
	if live := h.liveAllocs("web"); len(live) != 1 || live["web.web[0]"].ID != p[0].ID {
		t.Fatalf("live after follow-up: %v", nameSet(live))
	}
	// Nothing is left to do: the old alloc is replaced.
	if res := h.schedule(h.eval(job, structs.EvalTriggerRetryFailedAlloc)); !res.Plan.IsNoOp() || len(res.CreateEvals) != 0 {
		t.Fatalf("eval after replacement acted")
	}
}

func TestRescheduleExponentialCappedAtMaxDelay(t *testing.T) {
	h, job := delayedJob(t, 1, &structs.ReschedulePolicy{
		Unlimited: true, Delay: 10 * time.Second, DelayFunction: delayExponential, MaxDelay: 35 * time.Second,
	})
	cur := h.liveAllocs("web")["web.web[0]"]
	step := func(wantDelay time.Duration) {
		t.Helper()
		h.now += int64(time.Second)
		h.failAt(cur.ID, h.now)
		failTime := h.now
		res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
		if len(placed(res.Plan)) != 0 || len(res.CreateEvals) != 1 {
			t.Fatalf("want deferral, got placed %v evals %d", names(placed(res.Plan)), len(res.CreateEvals))
		}
		if got := res.CreateEvals[0].WaitUntil.Sub(ns(failTime)); got != wantDelay {
			t.Fatalf("delay %v, want %v", got, wantDelay)
		}
		res = h.runFollowup(res)
		p := placed(res.Plan)
		if len(p) != 1 || p[0].PreviousAllocation != cur.ID {
			t.Fatalf("not replaced: %+v", p)
		}
		ev := p[0].RescheduleTracker.Events
		if ev[len(ev)-1].Delay != wantDelay {
			t.Fatalf("recorded delay %v, want %v", ev[len(ev)-1].Delay, wantDelay)
		}
		cur = h.alloc(p[0].ID)
	}
	for _, d := range []time.Duration{10, 20, 35, 35} {
		step(d * time.Second)
	}
	// A replacement that ran longer than MaxDelay before failing starts the
	// series over.
	h.now += int64(time.Hour)
	step(10 * time.Second)
	step(20 * time.Second)
}

func TestRescheduleDelaySeries(t *testing.T) {
	const s = time.Second
	tracker := func(delays ...time.Duration) *structs.RescheduleTracker {
		tr := &structs.RescheduleTracker{}
		for i, d := range delays {
			tr.Events = append(tr.Events, &structs.RescheduleEvent{RescheduleTime: int64(i) * int64(s), Delay: d})
		}
		return tr
	}
	fib := &structs.ReschedulePolicy{Delay: 10 * s, DelayFunction: delayFibonacci, MaxDelay: 45 * s}
	exp := &structs.ReschedulePolicy{Delay: 10 * s, DelayFunction: delayExponential}
	cases := []struct {
		name string
		p    *structs.ReschedulePolicy
		tr   *structs.RescheduleTracker
		fail int64
		want time.Duration
	}{
		{"constant ignores history", &structs.ReschedulePolicy{Delay: 5 * s, DelayFunction: delayConstant}, tracker(5*s, 5*s), 0, 5 * s},
		{"empty function is constant", &structs.ReschedulePolicy{Delay: 5 * s}, tracker(5 * s), 0, 5 * s},
		{"zero delay", &structs.ReschedulePolicy{DelayFunction: delayExponential}, tracker(0), 0, 0},
		{"fib first", fib, nil, 0, 10 * s},
		{"fib second", fib, tracker(10 * s), 0, 10 * s},
		{"fib third", fib, tracker(10*s, 10*s), 0, 20 * s},
		{"fib fifth", fib, tracker(10*s, 10*s, 20*s, 30*s), 0, 45 * s},
		{"fib capped", fib, tracker(10*s, 10*s, 20*s, 30*s, 45*s), 0, 45 * s},
		{"fib reset after long run", fib, tracker(20*s, 30*s, 45*s), int64(time.Hour), 10 * s},
		{"fib restarts series after reset", fib, tracker(30*s, 45*s, 10*s), 3 * int64(s), 10 * s},
		{"fib grows after restart", fib, tracker(45*s, 10*s, 10*s), 4 * int64(s), 20 * s},
		{"exp without cap grows", exp, tracker(10*s, 20*s, 40*s), 0, 80 * s},
		{"exp from pre-delay events", exp, tracker(0), 0, 20 * s},
		{"exp saturates", exp, tracker(time.Duration(1) << 62), 0, time.Duration(1<<63 - 1)},
	}
	for _, tc := range cases {
		if got := rescheduleDelay(tc.p, tc.tr, tc.fail); got != tc.want {
			t.Errorf("%s: delay %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRescheduleFollowupsCoalesceWithinWindow(t *testing.T) {
	h, job := delayedJob(t, 3, &structs.ReschedulePolicy{Unlimited: true, Delay: 30 * time.Second, DelayFunction: delayConstant})
	live := h.liveAllocs("web")
	a0, a1, a2 := live["web.web[0]"], live["web.web[1]"], live["web.web[2]"]
	h.failAt(a0.ID, testNow)
	h.failAt(a1.ID, testNow+int64(300*time.Millisecond))
	h.failAt(a2.ID, testNow+int64(5*time.Second))
	h.now = testNow + int64(6*time.Second)
	res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if len(placed(res.Plan)) != 0 || len(res.CreateEvals) != 2 {
		t.Fatalf("placed %v, %d follow-ups; want none and 2", names(placed(res.Plan)), len(res.CreateEvals))
	}
	first, second := res.CreateEvals[0], res.CreateEvals[1]
	if !first.WaitUntil.Equal(ns(testNow+int64(30*time.Second))) || !second.WaitUntil.Equal(ns(testNow+int64(35*time.Second))) {
		t.Fatalf("wait times %v, %v", first.WaitUntil, second.WaitUntil)
	}
	for id, want := range map[string]string{a0.ID: first.ID, a1.ID: first.ID, a2.ID: second.ID} {
		if got := h.alloc(id).FollowupEvalID; got != want {
			t.Fatalf("alloc %s follow-up %s, want %s", id, got, want)
		}
	}

	// The first follow-up replaces both allocs of its window, not the third.
	out := h.runFollowup(&Result{CreateEvals: []*structs.Evaluation{first}})
	if got := names(placed(out.Plan)); len(got) != 2 || got[0] != "web.web[0]" || got[1] != "web.web[1]" {
		t.Fatalf("first follow-up placed %v", got)
	}
	if len(out.CreateEvals) != 0 || len(stoppedAllocs(out.Plan)) != 2 {
		t.Fatalf("first follow-up touched the third alloc: evals %d, stops %d", len(out.CreateEvals), len(stoppedAllocs(out.Plan)))
	}
	out = h.runFollowup(&Result{CreateEvals: []*structs.Evaluation{second}})
	if got := names(placed(out.Plan)); len(got) != 1 || got[0] != "web.web[2]" {
		t.Fatalf("second follow-up placed %v", got)
	}
	if n := len(h.liveAllocs("web")); n != 3 {
		t.Fatalf("%d live allocs", n)
	}
}

func TestRescheduleZeroDelayIsImmediate(t *testing.T) {
	h, job := delayedJob(t, 1, &structs.ReschedulePolicy{Unlimited: true})
	failed := h.liveAllocs("web")["web.web[0]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)
	res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].PreviousAllocation != failed.ID || len(res.CreateEvals) != 0 {
		t.Fatalf("not replaced at once: placed %v, evals %d", names(p), len(res.CreateEvals))
	}
	if d := p[0].RescheduleTracker.Events[0].Delay; d != 0 {
		t.Fatalf("recorded delay %v", d)
	}
}

func TestRescheduleBatchDefaultDelay(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := h.upsertJob(mkJob("crunch", structs.JobTypeBatch, 1))
	h.run(job, structs.EvalTriggerJobRegister)
	failed := h.liveAllocs("crunch")["crunch.web[0]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)
	res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if len(placed(res.Plan)) != 0 || len(res.CreateEvals) != 1 ||
		!res.CreateEvals[0].WaitUntil.Equal(ns(testNow+int64(5*time.Second))) || res.CreateEvals[0].Type != structs.JobTypeBatch {
		t.Fatalf("batch failure not deferred 5s: placed %v, evals %+v", names(placed(res.Plan)), res.CreateEvals)
	}
	res = h.runFollowup(res)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].RescheduleTracker.Events[0].Delay != 5*time.Second {
		t.Fatalf("batch replacement wrong: %+v", p)
	}
}

func TestRescheduleLostFollowupIsRecreated(t *testing.T) {
	h, job := delayedJob(t, 1, &structs.ReschedulePolicy{Unlimited: true, Delay: 30 * time.Second, DelayFunction: delayConstant})
	failed := h.liveAllocs("web")["web.web[0]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)
	res := h.schedule(h.eval(job, structs.EvalTriggerRetryFailedAlloc))
	// A partial commit keeps the stops but drops the evals.
	if err := h.store.UpsertPlanResults(h.next(), stoppedAllocs(res.Plan), nil, nil, h.now); err != nil {
		t.Fatalf("apply stops: %v", err)
	}
	if h.alloc(failed.ID).FollowupEvalID == "" {
		t.Fatalf("follow-up ID not stored")
	}
	res = h.run(job, structs.EvalTriggerRetryFailedAlloc)
	if len(placed(res.Plan)) != 0 || len(res.CreateEvals) != 1 {
		t.Fatalf("lost follow-up not recreated: placed %v, evals %d", names(placed(res.Plan)), len(res.CreateEvals))
	}
	if got := h.alloc(failed.ID).FollowupEvalID; got != res.CreateEvals[0].ID {
		t.Fatalf("alloc follows %s, want %s", got, res.CreateEvals[0].ID)
	}
}

func TestRescheduleParkedAllocStoppedWithJob(t *testing.T) {
	h, job := delayedJob(t, 1, &structs.ReschedulePolicy{Unlimited: true, Delay: 30 * time.Second, DelayFunction: delayConstant})
	failed := h.liveAllocs("web")["web.web[0]"]
	h.clientStatus(failed.ID, structs.AllocClientStatusFailed)
	h.run(job, structs.EvalTriggerRetryFailedAlloc)

	stopped := mkJob("web", structs.JobTypeService, 1)
	stopped.Stop = true
	res := h.run(h.upsertJob(stopped), structs.EvalTriggerJobDeregister)
	if st := stoppedAllocs(res.Plan); len(st) != 1 || st[0].ID != failed.ID || st[0].DesiredDescription != descNotNeeded {
		t.Fatalf("parked alloc not stopped with its job: %+v", st)
	}
	if a := h.alloc(failed.ID); awaitingReschedule(a) {
		t.Fatalf("alloc still parked after job stop")
	}
	// Running the job again starts fresh instead of rescheduling the old failure.
	res = h.run(h.upsertJob(mkJob("web", structs.JobTypeService, 1)), structs.EvalTriggerJobRegister)
	if p := placed(res.Plan); len(p) != 1 || p[0].PreviousAllocation != "" {
		t.Fatalf("re-run placed %+v", p)
	}
}
