package raftfsm

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/structs"
)

// TestUnderRealRaft runs the FSM inside a single-node hashicorp/raft cluster
// (in-memory log, stable and snapshot stores): results reach the leader
// through ApplyFuture.Response, and a raft-taken snapshot restores into a
// fresh FSM with identical state.
func TestUnderRealRaft(t *testing.T) {
	fsm := newTestFSM(t)
	conf := raft.DefaultConfig()
	conf.LocalID = "s1"
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	store := raft.NewInmemStore()
	snaps := raft.NewInmemSnapshotStore()
	addr, trans := raft.NewInmemTransport("")
	r, err := raft.NewRaft(conf, fsm, store, store, snaps, trans)
	must(t, err)
	defer func() { must(t, r.Shutdown().Error()) }()
	must(t, r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}).Error())

	select {
	case isLeader := <-r.LeaderCh():
		if !isLeader {
			t.Fatal("lost leadership")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leader elected")
	}

	applyRaft := func(mt MessageType, body any) *ApplyResult {
		t.Helper()
		f := r.Apply(encode(t, mt, body), 5*time.Second)
		must(t, f.Error())
		res, ok := f.Response().(*ApplyResult)
		if !ok {
			t.Fatalf("response %T", f.Response())
		}
		if res.Index != f.Index() {
			t.Fatalf("result index %d, future index %d", res.Index, f.Index())
		}
		return res
	}
	res := applyRaft(JobRegisterType, &JobRegister{Job: testJob("web"), Eval: testEval(id(1), "web", "pending")})
	must(t, res.Err)
	j, _ := fsm.State().JobByID(nil, "default", "web")
	if j == nil || j.CreateIndex != res.Index {
		t.Fatalf("job after raft apply: %+v", j)
	}
	if res := applyRaft(JobDeregisterType, &JobDeregister{JobID: "absent"}); res.Err == nil {
		t.Fatal("error result not delivered to the leader")
	}
	must(t, applyRaft(NodeRegisterType, &NodeRegister{Node: testNode("n1")}).Err)

	snapFuture := r.Snapshot()
	must(t, snapFuture.Error())
	_, rc, err := snapFuture.Open()
	must(t, err)
	fresh := newTestFSM(t)
	must(t, fresh.Restore(rc))
	if !bytes.Equal(persist(t, fsm), persist(t, fresh)) {
		t.Fatal("state restored from a raft snapshot differs")
	}
	if n, _ := fresh.State().NodeByID(nil, "n1"); n == nil || n.Status != structs.NodeStatusReady {
		t.Fatalf("restored node: %+v", n)
	}
}
