package raftfsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func newTestFSM(t *testing.T) *FSM {
	t.Helper()
	s, err := state.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	return New(s, nil)
}

// newHaltRecordingFSM returns an FSM whose Halt records instead of panicking.
func newHaltRecordingFSM(t *testing.T) (*FSM, *[]*HaltError) {
	t.Helper()
	s, err := state.NewStore()
	if err != nil {
		t.Fatal(err)
	}
	var halts []*HaltError
	return NewWithOptions(s, Options{Halt: func(e *HaltError) { halts = append(halts, e) }}), &halts
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func encode(t *testing.T, mt MessageType, body any) []byte {
	t.Helper()
	b, err := Encode(mt, body)
	must(t, err)
	return b
}

// apply feeds raw data at index and returns the result.
func apply(t *testing.T, f *FSM, index uint64, data []byte) *ApplyResult {
	t.Helper()
	res, ok := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}).(*ApplyResult)
	if !ok {
		t.Fatalf("Apply did not return *ApplyResult")
	}
	if res.Index != index {
		t.Fatalf("ApplyResult.Index = %d, want %d", res.Index, index)
	}
	return res
}

// applyOK applies a message and fails the test on an error result.
func applyOK(t *testing.T, f *FSM, index uint64, mt MessageType, body any) {
	t.Helper()
	if res := apply(t, f, index, encode(t, mt, body)); res.Err != nil {
		t.Fatalf("apply %s at %d: %v", mt, index, res.Err)
	}
}

func testJob(id string) *structs.Job {
	return &structs.Job{
		Region: structs.DefaultRegion, Namespace: structs.DefaultNamespace, ID: id, Name: id,
		Type: structs.JobTypeService, Priority: 50, Datacenters: []string{"dc1"},
		TaskGroups: []*structs.TaskGroup{
			{Name: "web", Count: 2, Tasks: []*structs.Task{{Name: "srv", Driver: "raw_exec",
				Config: map[string]any{"command": "/bin/sleep", "args": []any{"60"}}, Env: map[string]string{"B": "2", "A": "1"}}}},
			{Name: "db", Count: 1, Tasks: []*structs.Task{{Name: "pg", Driver: "raw_exec"}}},
		},
	}
}

func testEval(id, jobID, status string) *structs.Evaluation {
	return &structs.Evaluation{ID: id, Namespace: structs.DefaultNamespace, JobID: jobID, Priority: 50,
		Type: structs.JobTypeService, TriggeredBy: structs.EvalTriggerJobRegister, Status: status}
}

func testNode(id string) *structs.Node {
	return &structs.Node{ID: id, Name: "node-" + id, Datacenter: "dc1", NodePool: "default",
		Status: structs.NodeStatusReady, Attributes: map[string]string{"kernel.name": "linux", "cpu.arch": "amd64"}}
}

func testAlloc(id, jobID, group, nodeID, evalID string, idx int) *structs.Allocation {
	return &structs.Allocation{ID: id, Namespace: structs.DefaultNamespace, EvalID: evalID, NodeID: nodeID,
		JobID: jobID, TaskGroup: group, Name: structs.AllocName(jobID, group, idx),
		DesiredStatus: structs.AllocDesiredStatusRun, ClientStatus: structs.AllocClientStatusPending}
}

func id(n int) string { return fmt.Sprintf("%08x-1111-4000-8000-000000000000", n) }

// bufferSink is an in-memory raft.SnapshotSink.
type bufferSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }

// persist snapshots f and returns the persisted bytes.
func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	must(t, err)
	defer snap.Release()
	var sink bufferSink
	must(t, snap.Persist(&sink))
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}
