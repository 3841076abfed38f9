package raftfsm

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// testLog is a realistic sequence of entries touching every message type.
func testLog(t *testing.T) [][]byte {
	t.Helper()
	var log [][]byte
	add := func(mt MessageType, body any) { log = append(log, encode(t, mt, body)) }

	for i := range 3 {
		add(NodeRegisterType, &NodeRegister{Node: testNode(id(100 + i)), Time: int64(i) * 1e9})
	}
	for j, name := range []string{"web", "api", "batch"} {
		job := testJob(name)
		if name == "batch" {
			job.Type = structs.JobTypeBatch
		}
		add(JobRegisterType, &JobRegister{Job: job, Eval: testEval(id(j+1), name, "pending"), SubmitTime: int64(j)})
		done := testEval(id(j+1), name, structs.EvalStatusComplete)
		done.QueuedAllocations = map[string]int{"web": 0, "db": 0}
		var allocs []*structs.Allocation
		for k := range 3 {
			allocs = append(allocs, testAlloc(id(1000+j*10+k), name, "web", id(100+k), id(j+1), k))
		}
		allocs = append(allocs, testAlloc(id(1000+j*10+5), name, "db", id(100), id(j+1), 0))
		add(ApplyPlanResultsType, &ApplyPlanResults{EvalID: id(j + 1), AllocsUpdated: allocs, EvalUpdates: []*structs.Evaluation{done}, Time: 50})
	}
	log = append(log, serviceEntries(t)...)
	states := map[string]*structs.TaskState{
		"srv": {State: "running", StartedAt: time.Unix(100, 0).UTC(), Events: []*structs.TaskEvent{{Type: structs.TaskStarted, Time: 5}}},
		"pg":  {State: "pending"},
	}
	add(AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{
		{ID: id(1000), ClientStatus: "running", TaskStates: states},
		{ID: id(1020), ClientStatus: "complete"}, {ID: id(1021), ClientStatus: "failed"},
	}, Time: 60})
	add(NodeStatusUpdateType, &NodeStatusUpdate{NodeID: id(101), Status: "down", Evals: []*structs.Evaluation{testEval(id(50), "web", "pending")}, Time: 70e9})
	add(ApplyPlanResultsType, &ApplyPlanResults{AllocsStopped: []*structs.Allocation{{ID: id(1001), DesiredStatus: "stop", ClientStatus: "lost"}}, Time: 80})
	j2 := testJob("web")
	j2.TaskGroups[0].Count = 5
	add(JobRegisterType, &JobRegister{Job: j2, Eval: testEval(id(60), "web", "pending"), SubmitTime: 90})
	add(JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "api", Eval: testEval(id(61), "api", "pending"), Time: 95})
	add(EvalUpsertType, &EvalUpsert{Evals: []*structs.Evaluation{testEval(id(62), "batch", "blocked")}})
	add(EvalDeleteType, &EvalDelete{EvalIDs: []string{id(50)}})
	add(JobDeregisterType, &JobDeregister{Namespace: "default", JobID: "batch", Purge: true})
	// Collect the purged job's finished allocs (1022 is still pending and stays).
	add(GCDeleteType, &GCDelete{EvalIDs: []string{id(3)}, AllocIDs: []string{id(1020), id(1021), id(1022)}})
	aclLog(add)
	log = append(log, variableEntries(t, len(log))...)
	return log
}

// aclLog adds namespace and ACL entries to a test log.
func aclLog(add func(MessageType, any)) {
	add(NamespaceUpsertType, &NamespaceUpsert{Namespaces: []*structs.Namespace{{Name: "prod", Description: "p"}, {Name: "tmp"}}})
	add(NamespaceDeleteType, &NamespaceDelete{Names: []string{"tmp"}})
	add(ACLPolicyUpsertType, &ACLPolicyUpsert{Policies: []*structs.ACLPolicy{
		{Name: "ro", Rules: `node { policy = "read" }`}, {Name: "gone", Rules: `agent { policy = "read" }`}}})
	add(ACLPolicyDeleteType, &ACLPolicyDelete{Names: []string{"gone"}})
	add(ACLRoleUpsertType, &ACLRoleUpsert{Roles: []*structs.ACLRole{{ID: id(7000), Name: "readers", Policies: []*structs.ACLRolePolicyLink{{Name: "ro"}}}}})
	created := time.Unix(1000, 0).UTC()
	add(ACLTokenBootstrapType, &ACLTokenBootstrap{Token: &structs.ACLToken{AccessorID: id(7100), SecretID: id(7101),
		Type: structs.ACLTokenTypeManagement, CreateTime: created}})
	add(ACLTokenUpsertType, &ACLTokenUpsert{Tokens: []*structs.ACLToken{
		{AccessorID: id(7200), SecretID: id(7201), Type: structs.ACLTokenTypeClient, Policies: []string{"ro"},
			Roles: []*structs.ACLTokenRoleLink{{ID: id(7000), Name: "readers"}}, CreateTime: created},
		{AccessorID: id(7300), SecretID: id(7301), Type: structs.ACLTokenTypeClient, Policies: []string{"ro"}, CreateTime: created}}})
	add(ACLTokenDeleteType, &ACLTokenDelete{AccessorIDs: []string{id(7300)}})
	add(ACLRoleUpsertType, &ACLRoleUpsert{Roles: []*structs.ACLRole{{ID: id(7400), Name: "tmp", Policies: []*structs.ACLRolePolicyLink{{Name: "ro"}}}}})
	add(ACLRoleDeleteType, &ACLRoleDelete{IDs: []string{id(7400)}})
}

func applyLog(t *testing.T, f *FSM, log [][]byte) {
	t.Helper()
	for i, data := range log {
		if res := apply(t, f, uint64(i+1), data); res.Err != nil {
			t.Fatalf("entry %d: %v", i+1, res.Err)
		}
	}
}

func TestDeterministicApply(t *testing.T) {
	log := testLog(t)
	var first []byte
	for i := range 3 {
		f := newTestFSM(t)
		applyLog(t, f, log)
		out := persist(t, f)
		if i == 0 {
			first = out
			continue
		}
		if !bytes.Equal(first, out) {
			t.Fatalf("replica %d persisted different bytes:\n%s\n---\n%s", i, first, out)
		}
	}
	for _, kind := range []string{"alloc", "job_version", "namespace", "acl_policy", "acl_token", "acl_role"} {
		if !bytes.Contains(first, []byte(`"Type":"`+kind+`"`)) {
			t.Fatalf("snapshot lacks %s:\n%s", kind, first)
		}
	}
	if !bytes.Contains(first, []byte(`"Type":"alloc"`)) || !bytes.Contains(first, []byte(`"Type":"job_version"`)) {
		t.Fatalf("snapshot lacks tables:\n%s", first)
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	src := newTestFSM(t)
	applyLog(t, src, testLog(t))
	data := persist(t, src)

	dst := newTestFSM(t)
	applyOK(t, dst, 1, JobRegisterType, &JobRegister{Job: testJob("stale")})
	store := dst.State()
	ws := memdb.NewWatchSet()
	if _, err := store.JobByID(ws, "default", "stale"); err != nil {
		t.Fatal(err)
	}
	must(t, dst.Restore(io.NopCloser(bytes.NewReader(data))))
	if dst.State() != store {
		t.Fatal("State() changed identity across restore")
	}
	if ws.Watch(time.After(10 * time.Second)) {
		t.Fatal("restore did not wake a blocking query")
	}
	if got := persist(t, dst); !bytes.Equal(got, data) {
		t.Fatalf("restored state persists differently:\n%s\n---\n%s", data, got)
	}
	if j, _ := store.JobByID(nil, "default", "stale"); j != nil {
		t.Fatal("restore kept pre-restore data")
	}
	srcIdx, _ := src.State().LatestIndex()
	dstIdx, _ := store.LatestIndex()
	if srcIdx != dstIdx || dstIdx == 0 {
		t.Fatalf("LatestIndex src %d dst %d", srcIdx, dstIdx)
	}
	snap := store.Snapshot()
	if tok, _ := snap.ACLTokenBySecret(nil, id(7201)); tok == nil || tok.AccessorID != id(7200) {
		t.Fatalf("restored token by secret: %+v", tok)
	}
	if bi, _ := snap.ACLBootstrapIndex(); bi == 0 {
		t.Fatal("restore lost the ACL bootstrap")
	}
	if ns, _ := snap.NamespaceByName(nil, "prod"); ns == nil || ns.Description != "p" {
		t.Fatalf("restored namespace: %+v", ns)
	}
	if r, _ := snap.ACLRoleByName(nil, "readers"); r == nil || r.ID != id(7000) {
		t.Fatalf("restored role: %+v", r)
	}
	a, _ := store.AllocByID(nil, id(1000))
	if a == nil || a.Job == nil || a.TaskStates["srv"].State != "running" {
		t.Fatalf("restored alloc: %+v", a)
	}

	// Both replicas continue identically from the restored state.
	next := encode(t, AllocClientUpdateType, &AllocClientUpdate{Allocs: []*structs.Allocation{
		{ID: id(1002), ClientStatus: "complete"}, {ID: id(1005), ClientStatus: "running"},
	}, Time: 1})
	n := uint64(len(testLog(t)) + 1)
	for _, f := range []*FSM{src, dst} {
		if res := apply(t, f, n, next); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if !bytes.Equal(persist(t, src), persist(t, dst)) {
		t.Fatal("replicas diverged after restore")
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	good := func() []byte {
		f := newTestFSM(t)
		applyLog(t, f, testLog(t))
		return persist(t, f)
	}()
	cases := map[string]string{
		"empty":          "",
		"garbage":        "not json at all",
		"no header":      `{"Type":"job","Data":{"ID":"x"}}` + "\n",
		"future version": `{"Type":"header","Data":{"Version":99}}` + "\n",
		"unknown type":   `{"Type":"header","Data":{"Version":1}}` + "\n" + `{"Type":"wat","Data":{}}` + "\n",
		"null object":    `{"Type":"header","Data":{"Version":1}}` + "\n" + `{"Type":"alloc","Data":null}` + "\n",
		"truncated":      string(good[:len(good)/2]),
		"cut at a line":  string(good[:bytes.LastIndexByte(good[:len(good)-1], '\n')+1]),
		"bad count":      `{"Type":"header","Data":{"Version":1}}` + "\n" + `{"Type":"end","Data":{"Count":3}}` + "\n",
		"trailing data":  string(good) + `{"Type":"job","Data":{"ID":"x"}}` + "\n",
	}
	for name, data := range cases {
		f := newTestFSM(t)
		applyOK(t, f, 1, JobRegisterType, &JobRegister{Job: testJob("keep")})
		if err := f.Restore(io.NopCloser(strings.NewReader(data))); err == nil {
			t.Errorf("%s: restore succeeded", name)
			continue
		}
		if j, _ := f.State().JobByID(nil, "default", "keep"); j == nil {
			t.Errorf("%s: failed restore changed the state", name)
		}
	}
}

// failingSink fails every write, to check Persist cancels the sink.
type failingSink struct{ bufferSink }

func (s *failingSink) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestPersistCancelsOnError(t *testing.T) {
	f := newTestFSM(t)
	applyLog(t, f, testLog(t))
	snap, err := f.Snapshot()
	must(t, err)
	var sink failingSink
	if err := snap.Persist(&sink); err == nil {
		t.Fatal("persist to failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink cancelled=%v closed=%v", sink.cancelled, sink.closed)
	}
}
