package state

import (
	"sync"
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestStopJobStatusFollowsAllocs(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 2)
	stop := testJob("web")
	stop.TaskGroups[0].Count = 2
	stop.Stop = true
	must(t, s.UpsertJob(10, stop, 0))
	must(t, s.UpsertEvals(10, []*structs.Evaluation{testEval(uuidN(300), "web", structs.EvalStatusPending)}))
	if st := jobStatus(t, s, "web"); st != structs.JobStatusRunning {
		t.Fatalf("stopped job with live allocs: %q, want running", st)
	}
	stops := []*structs.Allocation{{ID: ids[0], DesiredStatus: "stop"}, {ID: ids[1], DesiredStatus: "stop"}}
	done := testEval(uuidN(300), "web", structs.EvalStatusComplete)
	must(t, s.UpsertPlanResults(11, stops, nil, []*structs.Evaluation{done}, 0))
	if st := jobStatus(t, s, "web"); st != structs.JobStatusDead {
		t.Fatalf("stopped job after its allocs stopped: %q, want dead", st)
	}
	j, _ := s.JobByID(nil, "", "web")
	if j.ModifyIndex != 11 {
		t.Fatalf("status change must bump ModifyIndex: %d", j.ModifyIndex)
	}
	mustIndex(t, s, TableJobs, 11)
}

func TestSystemJobRunsUntilStopped(t *testing.T) {
	s := newTestStore(t)
	j := testJob("sys")
	j.Type = structs.JobTypeSystem
	must(t, s.UpsertJob(1, j, 0))
	if st := jobStatus(t, s, "sys"); st != structs.JobStatusRunning {
		t.Fatalf("system job status %q", st)
	}
	stop := testJob("sys")
	stop.Type = structs.JobTypeSystem
	stop.Stop = true
	must(t, s.UpsertJob(2, stop, 0))
	if st := jobStatus(t, s, "sys"); st != structs.JobStatusDead {
		t.Fatalf("stopped system job status %q", st)
	}
}

func TestPurgedIncarnationNotCounted(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 1)
	must(t, s.DeleteJob(5, "default", "web"))
	must(t, s.UpsertJob(6, testJob("web"), 0))
	must(t, s.UpdateAllocsFromClient(7, []*structs.Allocation{{ID: ids[0], ClientStatus: "running"}}, 0))
	if tg := summaryOf(t, s, "web", "web"); tg != (structs.TaskGroupSummary{}) {
		t.Fatalf("new incarnation's summary counts the old alloc: %+v", tg)
	}
	sum, _ := s.JobSummaryByID(nil, "", "web")
	if sum.CreateIndex != 6 || sum.Children == nil {
		t.Fatalf("summary: %+v", sum)
	}
}

func TestConcurrentReadsDuringWrites(t *testing.T) {
	s := newTestStore(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := s.Snapshot()
				jobs, err := snap.JobsByIDPrefix(nil, "*", "")
				if err != nil {
					t.Error(err)
					return
				}
				for _, j := range jobs {
					if _, err := snap.AllocsByJob(nil, j.Namespace, j.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		must(t, s.UpsertJob(uint64(i), testJob(uuidN(i%7)), 0))
		must(t, s.UpsertAllocs(uint64(i), []*structs.Allocation{testAlloc(uuidN(1000+i), uuidN(i%7), "web", "n1", "e", i)}))
	}
	close(stop)
	wg.Wait()
	all, _ := s.AllocsByIDPrefix(nil, "*", "")
	if len(all) != 50 {
		t.Fatalf("allocs %d", len(all))
	}
}
