package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client", "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := db.NodeID(); err != nil || id != "" {
		t.Fatalf("fresh NodeID = %q, %v", id, err)
	}
	if err := db.PutNodeID("node-123"); err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: "j", TaskGroups: []*structs.TaskGroup{{Name: "g", Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "sleep", "args": []any{"10"}}}}}}}
	a := &structs.Allocation{ID: "a1", JobID: "j", TaskGroup: "g", Job: job, ClientStatus: structs.AllocClientStatusRunning}
	if err := db.PutTask("a1", "t", &TaskLocal{}); err == nil {
		t.Fatal("PutTask before PutAlloc succeeded")
	}
	if err := db.PutAlloc(a); err != nil {
		t.Fatal(err)
	}
	started := time.Unix(1700000000, 0).UTC()
	tl := &TaskLocal{
		Handle: &drivers.TaskHandle{Version: 1, Driver: "raw_exec", DriverState: json.RawMessage(`{"Pid":42}`), StartedAt: started,
			Config: &drivers.TaskConfig{ID: "a1/t", Name: "t", Env: map[string]string{"A": "b"}}},
		State: &structs.TaskState{State: structs.TaskStateRunning, Restarts: 2, StartedAt: started,
			Events: []*structs.TaskEvent{{Type: structs.TaskStarted, Time: 5}}},
	}
	if err := db.PutTask("a1", "t", tl); err != nil {
		t.Fatal(err)
	}
	if err := db.PutAlloc(&structs.Allocation{ID: "a2", Job: job}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAlloc("a2"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAlloc("never"); err != nil {
		t.Fatalf("deleting unknown alloc: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if id, _ := db.NodeID(); id != "node-123" {
		t.Fatalf("NodeID after reopen = %q", id)
	}
	allocs, err := db.Allocs()
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || allocs[0].Alloc.ID != "a1" || allocs[0].Alloc.Job.TaskGroups[0].Tasks[0].Config["command"] != "sleep" {
		t.Fatalf("allocs = %+v", allocs)
	}
	got := allocs[0].Tasks["t"]
	if got == nil || got.State.Restarts != 2 || got.Handle.Config.ID != "a1/t" || string(got.Handle.DriverState) != `{"Pid":42}` ||
		!got.Handle.StartedAt.Equal(started) || got.State.Events[0].Type != structs.TaskStarted {
		t.Fatalf("task = %+v", got)
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, []byte("this is not a bolt file, not at all, nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open of corrupt file: %v", err)
	}
	defer db.Close()
	if id, _ := db.NodeID(); id != "" {
		t.Fatal("fresh state expected")
	}
	m, _ := filepath.Glob(path + ".corrupt.*")
	if len(m) != 1 {
		t.Fatalf("corrupt file not kept aside: %v", m)
	}
}
