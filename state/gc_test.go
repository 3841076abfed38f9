package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestDeleteAllocsKeepsCountsAndSummaries(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("j"), 0))
	must(t, s.UpsertEvals(2, []*structs.Evaluation{testEval(uuidN(1), "j", structs.EvalStatusComplete)}))
	a1 := testAlloc(uuidN(10), "j", "web", "n1", uuidN(1), 0)
	a2 := testAlloc(uuidN(11), "j", "web", "n1", uuidN(1), 1)
	must(t, s.UpsertAllocs(3, []*structs.Allocation{a1, a2}))
	must(t, s.UpdateAllocsFromClient(4, []*structs.Allocation{
		{ID: a1.ID, ClientStatus: structs.AllocClientStatusComplete},
		{ID: a2.ID, ClientStatus: structs.AllocClientStatusRunning},
	}, 40))
	if got := jobStatus(t, s, "j"); got != structs.JobStatusRunning {
		t.Fatalf("status %s, want running", got)
	}

	// A running alloc deleted leaves the running count and the job's live count.
	must(t, s.DeleteAllocs(5, []string{a2.ID, "missing"}))
	mustIndex(t, s, TableAllocs, 5)
	if tg := summaryOf(t, s, "j", "web"); tg.Running != 0 || tg.Complete != 1 {
		t.Fatalf("summary after deleting running alloc: %+v", tg)
	}
	if got := jobStatus(t, s, "j"); got != structs.JobStatusDead {
		t.Fatalf("status %s, want dead (one complete alloc left)", got)
	}
	// A finished alloc's count stays in the summary as history.
	must(t, s.DeleteAllocs(6, []string{a1.ID}))
	if tg := summaryOf(t, s, "j", "web"); tg.Complete != 1 {
		t.Fatalf("summary lost history: %+v", tg)
	}
	if a, _ := s.AllocByID(nil, a1.ID); a != nil {
		t.Fatal("alloc not deleted")
	}
	// The eval still counts, so the job stays dead rather than pending.
	if got := jobStatus(t, s, "j"); got != structs.JobStatusDead {
		t.Fatalf("status %s, want dead", got)
	}
	must(t, s.DeleteEvals(7, []string{uuidN(1)}))
	must(t, s.DeleteJob(8, "default", "j"))
	// Nothing of the job is left in the counters: a new job with the ID starts pending.
	must(t, s.UpsertJob(9, testJob("j"), 0))
	if got := jobStatus(t, s, "j"); got != structs.JobStatusPending {
		t.Fatalf("re-registered job status %s, want pending", got)
	}
}
