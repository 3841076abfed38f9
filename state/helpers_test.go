package state

import (
	"fmt"
	"testing"

	"github.com/orch-project/orch/structs"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := NewStore()
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

func testJob(id string, groups ...string) *structs.Job {
	if len(groups) == 0 {
		groups = []string{"web"}
	}
	j := &structs.Job{
		Region: structs.DefaultRegion, Namespace: structs.DefaultNamespace, ID: id, Name: id,
		Type: structs.JobTypeService, Priority: 50, Datacenters: []string{"dc1"},
	}
	for _, g := range groups {
		j.TaskGroups = append(j.TaskGroups, &structs.TaskGroup{
			Name: g, Count: 2,
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"}}},
		})
	}
	return j
}

func testEval(id, jobID, status string) *structs.Evaluation {
	return &structs.Evaluation{
		ID: id, Namespace: structs.DefaultNamespace, JobID: jobID, Priority: 50,
		Type: structs.JobTypeService, TriggeredBy: structs.EvalTriggerJobRegister, Status: status,
	}
}

func testAlloc(id, jobID, group, nodeID, evalID string, idx int) *structs.Allocation {
	return &structs.Allocation{
		ID: id, Namespace: structs.DefaultNamespace, EvalID: evalID, NodeID: nodeID, JobID: jobID,
		TaskGroup: group, Name: structs.AllocName(jobID, group, idx),
		DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending,
	}
}

func testNode(id string) *structs.Node {
	return &structs.Node{
		ID: id, Name: "node-" + id, Datacenter: "dc1", NodePool: structs.DefaultNodePool,
		Status: structs.NodeStatusReady, Attributes: map[string]string{"kernel.name": "linux"},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustIndex(t *testing.T, s *Store, table string, want uint64) {
	t.Helper()
	got, err := s.Index(table)
	must(t, err)
	if got != want {
		t.Fatalf("Index(%q) = %d, want %d", table, got, want)
	}
}

func summaryOf(t *testing.T, s *Store, jobID, group string) structs.TaskGroupSummary {
	t.Helper()
	sum, err := s.JobSummaryByID(nil, structs.DefaultNamespace, jobID)
	must(t, err)
	if sum == nil {
		t.Fatalf("no summary for %s", jobID)
	}
	tg, ok := sum.Summary[group]
	if !ok {
		t.Fatalf("summary of %s has no group %q: %+v", jobID, group, sum.Summary)
	}
	return tg
}

func jobStatus(t *testing.T, s *Store, jobID string) string {
	t.Helper()
	j, err := s.JobByID(nil, structs.DefaultNamespace, jobID)
	must(t, err)
	if j == nil {
		t.Fatalf("job %s missing", jobID)
	}
	return j.Status
}

func uuidN(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", n) }
