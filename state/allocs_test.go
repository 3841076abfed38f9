package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// placeJob registers a job with an eval and commits a plan placing n allocs
// of group "web" on node n1, returning the alloc IDs.
func placeJob(t *testing.T, s *Store, jobType string, n int) []string {
	t.Helper()
	j := testJob("web")
	j.Type = jobType
	j.TaskGroups[0].Count = n
	must(t, s.UpsertJob(1, j, 0))
	ev := testEval(uuidN(100), "web", structs.EvalStatusPending)
	must(t, s.UpsertEvals(1, []*structs.Evaluation{ev}))
	queued := testEval(uuidN(100), "web", structs.EvalStatusPending)
	queued.QueuedAllocations = map[string]int{"web": n}
	must(t, s.UpsertEvals(2, []*structs.Evaluation{queued}))
	if got := summaryOf(t, s, "web", "web").Queued; got != n {
		t.Fatalf("queued after eval = %d, want %d", got, n)
	}
	var allocs []*structs.Allocation
	var ids []string
	for i := range n {
		a := testAlloc(uuidN(i+1), "web", "web", "n1", ev.ID, i)
		allocs = append(allocs, a)
		ids = append(ids, a.ID)
	}
	done := ev.Copy()
	done.Status = structs.EvalStatusComplete
	done.QueuedAllocations = map[string]int{"web": 0}
	must(t, s.UpsertPlanResults(3, nil, allocs, []*structs.Evaluation{done}, 1000))
	return ids
}

func TestPlanResultsAttachJobAndSummarise(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 3)

	a, err := s.AllocByID(nil, ids[0])
	must(t, err)
	if a.Job == nil || a.Job.ID != "web" || a.Job.Version != 0 {
		t.Fatalf("alloc job not attached: %+v", a.Job)
	}
	if a.CreateIndex != 3 || a.ModifyIndex != 3 || a.AllocModifyIndex != 3 || a.CreateTime != 1000 || a.ModifyTime != 1000 {
		t.Fatalf("alloc indexes/times: %+v", a)
	}
	tg := summaryOf(t, s, "web", "web")
	if tg.Starting != 3 || tg.Queued != 0 || tg.Running != 0 {
		t.Fatalf("summary after placement: %+v", tg)
	}
	if st := jobStatus(t, s, "web"); st != structs.JobStatusRunning {
		t.Fatalf("job status %q, want running", st)
	}
	mustIndex(t, s, TableAllocs, 3)
	mustIndex(t, s, TableEvals, 3)
	mustIndex(t, s, TableJobSummary, 3)
}

func TestClientUpdatesMoveSummary(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeBatch, 2)

	states := map[string]*structs.TaskState{"t": {State: structs.TaskStateRunning}}
	updates := []*structs.Allocation{
		{ID: ids[0], ClientStatus: structs.AllocClientStatusRunning, TaskStates: states,
			// Fields the client does not own are ignored.
			DesiredStatus: structs.AllocDesiredStatusStop, NodeID: "evil"},
		{ID: ids[1], ClientStatus: structs.AllocClientStatusRunning},
		{ID: "unknown-alloc", ClientStatus: structs.AllocClientStatusRunning},
	}
	must(t, s.UpdateAllocsFromClient(4, updates, 2000))
	a, _ := s.AllocByID(nil, ids[0])
	if a.ClientStatus != "running" || a.DesiredStatus != "run" || a.NodeID != "n1" || a.TaskStates["t"].State != "running" {
		t.Fatalf("client update applied wrong fields: %+v", a)
	}
	if a.ModifyTime != 2000 || a.ModifyIndex != 4 || a.AllocModifyIndex != 3 || a.CreateTime != 1000 {
		t.Fatalf("client update indexes: modify %d/%d alloc %d create %d", a.ModifyTime, a.ModifyIndex, a.AllocModifyIndex, a.CreateTime)
	}
	if tg := summaryOf(t, s, "web", "web"); tg.Running != 2 || tg.Starting != 0 {
		t.Fatalf("summary after running: %+v", tg)
	}

	must(t, s.UpdateAllocsFromClient(5, []*structs.Allocation{
		{ID: ids[0], ClientStatus: structs.AllocClientStatusComplete},
	}, 3000))
	if st := jobStatus(t, s, "web"); st != structs.JobStatusRunning {
		t.Fatalf("one alloc left running: status %q", st)
	}
	must(t, s.UpdateAllocsFromClient(6, []*structs.Allocation{
		{ID: ids[1], ClientStatus: structs.AllocClientStatusFailed},
	}, 4000))
	tg := summaryOf(t, s, "web", "web")
	if tg.Running != 0 || tg.Complete != 1 || tg.Failed != 1 {
		t.Fatalf("summary after finish: %+v", tg)
	}
	if st := jobStatus(t, s, "web"); st != structs.JobStatusDead {
		t.Fatalf("batch job with all allocs terminal and evals complete: status %q, want dead", st)
	}
	// A new pending eval makes the job pending again.
	must(t, s.UpsertEvals(7, []*structs.Evaluation{testEval(uuidN(200), "web", structs.EvalStatusPending)}))
	if st := jobStatus(t, s, "web"); st != structs.JobStatusPending {
		t.Fatalf("status with pending eval %q", st)
	}
	must(t, s.DeleteEvals(8, []string{uuidN(200), "absent"}))
	if st := jobStatus(t, s, "web"); st != structs.JobStatusDead {
		t.Fatalf("status after eval delete %q", st)
	}
}

func TestStopAndInPlaceUpdate(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 2)
	must(t, s.UpdateAllocsFromClient(4, []*structs.Allocation{{ID: ids[0], ClientStatus: "running"}, {ID: ids[1], ClientStatus: "running"}}, 0))

	// New job version; plan updates alloc 0 in place and stops alloc 1 as lost.
	j2 := testJob("web")
	j2.TaskGroups[0].Count = 1
	must(t, s.UpsertJob(5, j2, 0))
	cur, _ := s.AllocByID(nil, ids[0])
	inplace := cur.Copy()
	inplace.Job = nil
	inplace.JobVersion = 1
	inplace.ClientStatus = structs.AllocClientStatusPending // stale view: must not overwrite the client's status
	stop := &structs.Allocation{ID: ids[1], DesiredStatus: structs.AllocDesiredStatusStop,
		DesiredDescription: "alloc is lost since its node is down", ClientStatus: structs.AllocClientStatusLost}
	must(t, s.UpsertPlanResults(6, []*structs.Allocation{stop, {ID: "gone"}}, []*structs.Allocation{inplace}, nil, 5000))

	a0, _ := s.AllocByID(nil, ids[0])
	if a0.Job == nil || a0.Job.Version != 1 || a0.ClientStatus != "running" || a0.AllocModifyIndex != 6 || a0.CreateIndex != 3 {
		t.Fatalf("in-place update: job %v status %q ami %d ci %d", a0.Job, a0.ClientStatus, a0.AllocModifyIndex, a0.CreateIndex)
	}
	a1, _ := s.AllocByID(nil, ids[1])
	if a1.DesiredStatus != "stop" || a1.ClientStatus != "lost" || a1.Job == nil || a1.Job.Version != 0 || a1.NodeID != "n1" {
		t.Fatalf("stop: %+v", a1)
	}
	if _, err := s.AllocByID(nil, "gone"); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.AllocByID(nil, "gone"); g != nil {
		t.Fatal("stop of unknown alloc created it")
	}
	tg := summaryOf(t, s, "web", "web")
	if tg.Running != 1 || tg.Lost != 1 {
		t.Fatalf("summary: %+v", tg)
	}
}

func TestAllocLookups(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("web"), 0))
	prod := testJob("api")
	prod.Namespace = "prod"
	must(t, s.UpsertJob(2, prod, 0))
	a1 := testAlloc("aaaa-1", "web", "web", "n1", "e1", 0)
	a2 := testAlloc("aaab-2", "web", "web", "n2", "e1", 1)
	a3 := testAlloc("bbbb-3", "api", "web", "n1", "e2", 0)
	a3.Namespace = "prod"
	must(t, s.UpsertAllocs(3, []*structs.Allocation{a1, a2, a3}))

	check := func(name string, got []*structs.Allocation, err error, want ...string) {
		t.Helper()
		must(t, err)
		var ids []string
		for _, a := range got {
			ids = append(ids, a.ID)
		}
		if !equalStrings(ids, want) {
			t.Errorf("%s = %v, want %v", name, ids, want)
		}
	}
	got, err := s.AllocsByNode(nil, "n1")
	check("ByNode n1", got, err, "aaaa-1", "bbbb-3")
	got, err = s.AllocsByEval(nil, "e1")
	check("ByEval e1", got, err, "aaaa-1", "aaab-2")
	got, err = s.AllocsByJob(nil, "default", "web")
	check("ByJob web", got, err, "aaaa-1", "aaab-2")
	got, err = s.AllocsByJob(nil, "default", "api")
	check("ByJob default/api", got, err)
	got, err = s.AllocsByIDPrefix(nil, "default", "aaa")
	check("prefix aaa", got, err, "aaaa-1", "aaab-2")
	got, err = s.AllocsByIDPrefix(nil, "default", "b")
	check("prefix b in default", got, err)
	got, err = s.AllocsByIDPrefix(nil, "*", "")
	check("prefix all", got, err, "aaaa-1", "aaab-2", "bbbb-3")
	for _, a := range []string{"aaaa-1", "bbbb-3"} {
		al, _ := s.AllocByID(nil, a)
		if al.Job == nil {
			t.Errorf("alloc %s has no job", a)
		}
	}
	if err := s.UpsertAllocs(4, []*structs.Allocation{nil}); err == nil {
		t.Fatal("nil alloc accepted")
	}
	mustIndex(t, s, TableAllocs, 3)
}
