package raftfsm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	bodies := map[MessageType]any{
		JobRegisterType: &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending"),
			Submission: &structs.JobSubmission{Source: "job {}", Format: "hcl2"}, SubmitTime: 42},
		JobDeregisterType:     &JobDeregister{Namespace: "default", JobID: "web", Purge: true, Time: 7},
		NodeRegisterType:      &NodeRegister{Node: testNode("n1"), Time: 9},
		NodeStatusUpdateType:  &NodeStatusUpdate{NodeID: "n1", Status: "down", Time: 10},
		AllocClientUpdateType: &AllocClientUpdate{Allocs: []*structs.Allocation{{ID: "a", ClientStatus: "running"}}},
		ApplyPlanResultsType:  &ApplyPlanResults{EvalID: "e", AllocsUpdated: []*structs.Allocation{testAlloc("a", "web", "web", "n1", "e", 0)}},
		EvalUpsertType:        &EvalUpsert{Evals: []*structs.Evaluation{testEval("e", "web", "pending")}},
		EvalDeleteType:        &EvalDelete{EvalIDs: []string{"e"}},
		DeploymentStatusUpdateType: &DeploymentStatusUpdate{Update: &structs.DeploymentStatusUpdate{DeploymentID: "d", Status: "failed"},
			Job: testJob("web"), JobModifyIndex: 4, Time: 11},
		DeploymentPromoteType:      &DeploymentPromote{DeploymentID: "d", Groups: []string{"web"}, Time: 12},
		DeploymentAllocHealthType:  &DeploymentAllocHealth{DeploymentID: "d", Healthy: []string{"a"}, Unhealthy: []string{"b"}},
		JobStabilityType:           &JobStability{Namespace: "default", JobID: "web", Version: 2, Stable: true},
		AllocDesiredTransitionType: &AllocDesiredTransition{Allocs: map[string]*structs.DesiredTransition{"a": {}}, Time: 13},
		GCDeleteType: &GCDelete{Jobs: []GCJob{{Namespace: "default", ID: "web", ModifyIndex: 3}},
			EvalIDs: []string{"e"}, AllocIDs: []string{"a"}, Nodes: []GCNode{{ID: "n1", ModifyIndex: 4}}},
	}
	for mt, body := range bodies {
		buf, err := Encode(mt, body)
		must(t, err)
		if MessageType(buf[0]) != mt {
			t.Fatalf("%s: type byte %d", mt, buf[0])
		}
		gt, got, err := Decode(buf)
		must(t, err)
		if gt != mt || !reflect.DeepEqual(got, body) {
			t.Errorf("%s: round trip gave %s %#v", mt, gt, got)
		}
	}
	// Value bodies encode like pointers.
	if _, err := Encode(EvalDeleteType, EvalDelete{EvalIDs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeRejectsMismatch(t *testing.T) {
	if _, err := Encode(JobRegisterType, &EvalDelete{}); err == nil {
		t.Fatal("mismatched body accepted")
	}
	if _, err := Encode(MessageType(99), &EvalDelete{}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := Encode(JobRegisterType, nil); err == nil {
		t.Fatal("nil body accepted")
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for name, buf := range map[string][]byte{
		"empty":        nil,
		"unknown type": {99, '{', '}'},
		"bad json":     append([]byte{byte(JobRegisterType)}, "{not json"...),
		"wrong shape":  append([]byte{byte(EvalDeleteType)}, `{"EvalIDs":"notalist"}`...),
	} {
		if _, _, err := Decode(buf); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
