package raftfsm

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// rolloutLog is a rollout told as log entries: a job with its source, a
// plan that creates a deployment and places into it (one canary), client
// health, a promotion, an operator's manual health, a failure that reverts
// the job, stability and a forced reschedule.
func rolloutLog(t *testing.T) [][]byte {
	t.Helper()
	var log [][]byte
	add := func(mt MessageType, body any) { log = append(log, encode(t, mt, body)) }
	add(NodeRegisterType, &NodeRegister{Node: testNode(id(100)), Time: 1e9})
	add(JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending"), SubmitTime: 5,
		Submission: &structs.JobSubmission{Source: "job \"web\" {}", Format: "hcl2"}, EnforceIndex: true})
	d := &structs.Deployment{ID: id(500), Namespace: "default", JobID: "web", JobVersion: 0, JobCreateIndex: 2,
		Status: structs.DeploymentStatusRunning, StatusDescription: structs.DeploymentDescRunning,
		TaskGroups: map[string]*structs.DeploymentState{
			"web": {DesiredTotal: 2, DesiredCanaries: 1, AutoRevert: true, ProgressDeadline: 10 * time.Minute},
		}}
	a1 := testAlloc(id(1000), "web", "web", id(100), id(1), 0)
	a1.DeploymentID = d.ID
	a1.DeploymentStatus = &structs.AllocDeploymentStatus{Canary: true}
	a2 := testAlloc(id(1001), "web", "web", id(100), id(1), 1)
	a2.DeploymentID = d.ID
	add(ApplyPlanResultsType, &ApplyPlanResults{EvalID: id(1), Deployment: d,
		AllocsUpdated: []*structs.Allocation{a1, a2}, EvalUpdates: []*structs.Evaluation{testEval(id(1), "web", "complete")}, Time: 10e9})
	yes := true
	add(AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{
		{ID: a1.ID, DeploymentID: d.ID, ClientStatus: "running", DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: &yes}},
	}, Time: 20e9})
	add(DeploymentPromoteType, &DeploymentPromote{DeploymentID: d.ID, All: true, Eval: testEval(id(2), "web", "pending"), Time: 30e9})
	add(DeploymentAllocHealthType, &DeploymentAllocHealth{DeploymentID: d.ID, Unhealthy: []string{a2.ID}, Time: 40e9,
		Update: &structs.DeploymentStatusUpdate{DeploymentID: d.ID, Status: structs.DeploymentStatusFailed, StatusDescription: "x"}})
	add(JobStabilityType, &JobStability{Namespace: "default", JobID: "web", Version: 0, Stable: true})
	v1 := testJob("web")
	v1.Meta = map[string]string{"v": "1"}
	add(JobRegisterType, &JobRegister{Job: v1, SubmitTime: 50})
	add(AllocDesiredTransitionType, &AllocDesiredTransition{Allocs: map[string]*structs.DesiredTransition{a2.ID: {ForceReschedule: &yes}},
		Evals: []*structs.Evaluation{testEval(id(3), "web", "pending")}, Time: 60e9})
	return log
}

func TestRolloutEntries(t *testing.T) {
	f := newTestFSM(t)
	applyLog(t, f, rolloutLog(t))
	st := f.State().Snapshot()
	d, _ := st.DeploymentByID(nil, id(500))
	s := d.TaskGroups["web"]
	if d.Status != structs.DeploymentStatusFailed || s.PlacedAllocs != 2 || s.HealthyAllocs != 1 ||
		s.UnhealthyAllocs != 1 || !s.Promoted || len(s.PlacedCanaries) != 1 || s.PlacedCanaries[0] != id(1000) {
		t.Fatalf("deployment after the log: %s %+v", d.Status, s)
	}
	// The progress deadline started at placement (10s) and moved with the
	// healthy report (20s), then with the promotion (30s).
	if want := time.Unix(30, 0).Add(10 * time.Minute).UTC(); !s.RequireProgressBy.Equal(want) {
		t.Fatalf("RequireProgressBy %s, want %s", s.RequireProgressBy, want)
	}
	if sub, _ := st.JobSubmission(nil, "default", "web", 0); sub == nil || sub.Format != "hcl2" {
		t.Fatalf("submission of version 0: %+v", sub)
	}
	v0, _ := st.JobByIDAndVersion(nil, "default", "web", 0)
	cur, _ := st.JobByID(nil, "default", "web")
	if !v0.Stable || cur.Version != 1 || cur.Stable {
		t.Fatalf("stability: v0 %v, current v%d %v", v0.Stable, cur.Version, cur.Stable)
	}
	a2, _ := st.AllocByID(nil, id(1001))
	if !a2.DesiredTransition.ShouldForceReschedule() || !a2.DeploymentStatus.IsUnhealthy() {
		t.Fatalf("alloc 2: %+v %+v", a2.DesiredTransition, a2.DeploymentStatus)
	}
}

func TestRolloutEntriesDeterministicAndSnapshotted(t *testing.T) {
	log := rolloutLog(t)
	a, b := newTestFSM(t), newTestFSM(t)
	applyLog(t, a, log)
	applyLog(t, b, log)
	data := persist(t, a)
	if !bytes.Equal(data, persist(t, b)) {
		t.Fatal("replicas persisted different bytes")
	}
	for _, kind := range []string{`"Type":"deployment"`, `"Type":"job_submission"`} {
		if !bytes.Contains(data, []byte(kind)) {
			t.Fatalf("snapshot lacks %s", kind)
		}
	}
	c := newTestFSM(t)
	must(t, c.Restore(io.NopCloser(bytes.NewReader(data))))
	if !bytes.Equal(persist(t, c), data) {
		t.Fatal("restored state persists differently")
	}
	// A client health report after the restore moves the same counters on
	// both replicas.
	yes := true
	next := encode(t, AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{
		{ID: id(1001), DeploymentID: id(500), DeploymentStatus: &structs.AllocDeploymentStatus{Healthy: &yes}},
	}, Time: 70e9})
	for _, f := range []*FSM{a, c} {
		if res := apply(t, f, uint64(len(log)+1), next); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if !bytes.Equal(persist(t, a), persist(t, c)) {
		t.Fatal("replicas diverged after restore")
	}
}

// Preconditions checked at apply time reject the entry as a result, with
// Nomad's wording, never halting the server.
func TestRolloutPreconditionsAreResults(t *testing.T) {
	f, halts := newHaltRecordingFSM(t)
	applyOK(t, f, 1, JobRegisterType, &JobRegister{Job: testJob("web")})
	conflict := func(index uint64, mt MessageType, body any, want string) {
		t.Helper()
		res := apply(t, f, index, encode(t, mt, body))
		var ce *ConflictError
		if !errors.As(res.Err, &ce) || ce.Msg != want {
			t.Fatalf("entry %d: %v, want conflict %q", index, res.Err, want)
		}
	}
	conflict(2, JobRegisterType, &JobRegister{Job: testJob("web"), EnforceIndex: true},
		"Enforcing job modify index 0: job already exists")
	conflict(3, JobRegisterType, &JobRegister{Job: testJob("web"), EnforceIndex: true, JobModifyIndex: 7},
		"Enforcing job modify index 7: job exists with conflicting job modify index: 1")
	conflict(4, JobRegisterType, &JobRegister{Job: testJob("new"), EnforceIndex: true, JobModifyIndex: 7},
		"Enforcing job modify index 7: job does not exist")
	applyOK(t, f, 5, JobRegisterType, &JobRegister{Job: testJob("web"), EnforceIndex: true, JobModifyIndex: 1})

	// A revert decided on a stale read of the job is refused.
	d := &structs.Deployment{ID: id(9), Namespace: "default", JobID: "web", Status: structs.DeploymentStatusRunning,
		TaskGroups: map[string]*structs.DeploymentState{"web": {}}}
	applyOK(t, f, 6, ApplyPlanResultsType, &ApplyPlanResults{Deployment: d})
	res := apply(t, f, 7, encode(t, DeploymentStatusUpdateType, &DeploymentStatusUpdate{
		Update: &structs.DeploymentStatusUpdate{DeploymentID: d.ID, Status: structs.DeploymentStatusFailed},
		Job:    testJob("web"), JobModifyIndex: 1,
	}))
	var ce *ConflictError
	if !errors.As(res.Err, &ce) {
		t.Fatalf("stale revert: %v", res.Err)
	}
	if got, _ := f.State().DeploymentByID(nil, d.ID); got.Status != structs.DeploymentStatusRunning {
		t.Fatal("a rejected entry changed the deployment")
	}
	// A finished deployment stays finished: a late status change or a
	// promotion is refused, and a late plan cannot revive it.
	applyOK(t, f, 8, DeploymentStatusUpdateType, &DeploymentStatusUpdate{
		Update: &structs.DeploymentStatusUpdate{DeploymentID: d.ID, Status: structs.DeploymentStatusFailed}})
	conflict(9, DeploymentPromoteType, &DeploymentPromote{DeploymentID: d.ID, All: true},
		"deployment "+d.ID+" is failed: deployment has already terminated")
	applyOK(t, f, 10, ApplyPlanResultsType, &ApplyPlanResults{Deployment: d, DeploymentUpdates: []*structs.DeploymentStatusUpdate{
		{DeploymentID: d.ID, Status: structs.DeploymentStatusSuccessful}}})
	if got, _ := f.State().DeploymentByID(nil, d.ID); got.Status != structs.DeploymentStatusFailed {
		t.Fatalf("late plan revived the deployment: %s", got.Status)
	}
	if len(*halts) != 0 {
		t.Fatalf("halted: %v", *halts)
	}
}
