package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestClientUpdateNeverRevivesTerminalAlloc(t *testing.T) {
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: "j", Namespace: "default", Type: structs.JobTypeService,
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1}}}
	if err := s.UpsertJob(1, job, 0); err != nil {
		t.Fatal(err)
	}
	a := &structs.Allocation{ID: "a1", Namespace: "default", JobID: "j", TaskGroup: "g", NodeID: "n",
		DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending}
	if err := s.UpsertAllocs(2, []*structs.Allocation{a}); err != nil {
		t.Fatal(err)
	}
	for i, st := range []string{structs.AllocClientStatusRunning, structs.AllocClientStatusLost, structs.AllocClientStatusRunning} {
		if err := s.UpdateAllocsFromClient(uint64(3+i), []*structs.Allocation{{ID: "a1", ClientStatus: st}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.AllocByID(nil, "a1")
	if got.ClientStatus != structs.AllocClientStatusLost {
		t.Fatalf("client status %q, want lost to stay", got.ClientStatus)
	}
}
