package raftfsm

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func testServiceReg(n int, allocID, nodeID, jobID string) *structs.ServiceRegistration {
	return &structs.ServiceRegistration{
		ID: id(5000 + n), ServiceName: "svc-" + jobID, Namespace: "default", NodeID: nodeID, Datacenter: "dc1",
		JobID: jobID, AllocID: allocID, Tags: []string{"t"}, Address: "127.0.0.1", Port: 20000 + n,
	}
}

// serviceEntries registers an instance for each web allocation of the
// test log's jobs (one per node) and removes one by its node.
func serviceEntries(t *testing.T) [][]byte {
	t.Helper()
	var regs []*structs.ServiceRegistration
	for j, name := range []string{"web", "api", "batch"} {
		for k := range 3 {
			regs = append(regs, testServiceReg(j*10+k, id(1000+j*10+k), id(100+k), name))
		}
	}
	return [][]byte{
		encode(t, ServiceRegistrationUpsertType, &ServiceRegistrationUpsert{Services: regs}),
		encode(t, ServiceRegistrationDeleteType, &ServiceRegistrationDelete{NodeID: id(102), IDs: []string{id(5002)}}),
	}
}

// variableEntries stores two root keys and exercises every variable
// operation. The FSM never opens keys, so the key bytes are fixed stand-ins.
// base is the number of entries before them.
func variableEntries(t *testing.T, base int) [][]byte {
	t.Helper()
	key := func(n int, st string) *structs.RootKey {
		return &structs.RootKey{Meta: &structs.RootKeyMeta{KeyID: id(9000 + n), Algorithm: "aes256-gcm", State: st, CreateTime: int64(n)},
			Provider: "aead", KEK: []byte{byte(n)}, WrappedMaterial: []byte{1, 2, byte(n)}}
	}
	v := func(path, data, keyID string, lock *structs.VariableLock) *structs.VariableEncrypted {
		e := &structs.VariableEncrypted{VariableData: structs.VariableData{Data: []byte(data), KeyID: keyID}}
		e.Namespace, e.Path, e.Lock = "default", path, lock
		return e
	}
	zero := uint64(0)
	var out [][]byte
	add := func(mt MessageType, body any) { out = append(out, encode(t, mt, body)) }
	add(RootKeyUpsertType, &RootKeyUpsert{Key: key(1, structs.RootKeyStateActive)})
	add(VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpSet, Var: v("nomad/jobs/web", "s1", id(9001), nil), CheckIndex: &zero, Time: 1}})
	add(VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpSet, Var: v("app/config", "s2", id(9001), nil), Time: 2}})
	add(VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpLockAcquire,
		Var: v("app/leader", "s3", id(9001), &structs.VariableLock{ID: "lock-1", TTL: "15s", LockDelay: "15s"}), Time: 3}})
	add(VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpLockExpire,
		Var: v("app/leader", "", "", &structs.VariableLock{ID: "lock-1"}), Time: 4}})
	add(RootKeyUpsertType, &RootKeyUpsert{Key: key(2, structs.RootKeyStateActive)})
	add(RootKeyStateType, &RootKeyState{KeyID: id(9001), State: structs.RootKeyStateRekeying})
	rekeyed := v("app/config", "r2", id(9002), nil)
	rekeyed.ModifyIndex = uint64(base + 3) // the index of its write above
	stale := v("app/leader", "r3", id(9002), nil)
	stale.ModifyIndex = 1 // changed since: skipped
	add(VariablesRekeyType, &VariablesRekey{Vars: []*structs.VariableEncrypted{rekeyed, stale}, Time: 5})
	add(VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpDelete, Var: v("nomad/jobs/web", "", "", nil), Time: 6}})
	return out
}

func TestServiceEntriesRoundTrip(t *testing.T) {
	for _, data := range append(serviceEntries(t), variableEntries(t, 0)...) {
		mt, body, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Encode(mt, body)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%s does not round-trip: %v", mt, err)
		}
		if mt.String() == "" || bytes.HasPrefix([]byte(mt.String()), []byte("MessageType(")) {
			t.Fatalf("type %d has no name", uint8(mt))
		}
	}
	if _, err := Encode(VariableApplyType, &RootKeyUpsert{}); err == nil {
		t.Fatal("mismatched body encoded")
	}
}

// The instances of a node's allocations leave the catalog in the very
// entry that marks the node down.
func TestNodeDownRemovesServicesInSameEntry(t *testing.T) {
	f := newTestFSM(t)
	full := testLog(t)
	var downAt uint64
	for i, data := range full {
		mt, body, _ := Decode(data)
		if res := apply(t, f, uint64(i+1), data); res.Err != nil {
			t.Fatalf("entry %d: %v", i+1, res.Err)
		}
		if nu, ok := body.(*NodeStatusUpdate); ok && mt == NodeStatusUpdateType && nu.Status == structs.NodeStatusDown {
			downAt = uint64(i + 1)
			break
		}
	}
	st := f.State().Snapshot()
	regs, err := st.ServiceRegistrationsByNode(nil, id(101))
	must(t, err)
	if len(regs) != 0 {
		t.Fatalf("down node keeps %d registrations", len(regs))
	}
	if idx, _ := st.Index(state.TableServiceRegistrations); idx != downAt {
		t.Fatalf("service table index %d, node down entry %d", idx, downAt)
	}
	// Instances elsewhere stay, except the one its node deregistered and
	// those of allocations the clients finished (batch's 1020 and 1021).
	all, _ := st.ServiceRegistrations(nil, "*")
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	want := []string{id(5000), id(5010), id(5012), id(5022)}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("left %v, want %v", ids, want)
	}
}

func TestVariableEntriesApplied(t *testing.T) {
	f := newTestFSM(t)
	applyLog(t, f, testLog(t))
	st := f.State().Snapshot()
	if v, _ := st.VariableByPath(nil, "default", "nomad/jobs/web"); v != nil {
		t.Fatal("deleted variable present")
	}
	cfg, _ := st.VariableByPath(nil, "default", "app/config")
	if cfg == nil || string(cfg.Data) != "r2" || cfg.KeyID != id(9002) {
		t.Fatalf("rekeyed variable %+v", cfg)
	}
	leader, _ := st.VariableByPath(nil, "default", "app/leader")
	if leader == nil || leader.Lock != nil || leader.LockDelayUntil != 4+15e9 || string(leader.Data) != "s3" {
		t.Fatalf("expired lock %+v", leader)
	}
	k1, _ := st.RootKeyByID(nil, id(9001))
	k2, _ := st.RootKeyByID(nil, id(9002))
	if k1.Meta.State != structs.RootKeyStateRekeying || k2.Meta.State != structs.RootKeyStateActive {
		t.Fatalf("key states %s %s", k1.Meta.State, k2.Meta.State)
	}
	// A conflicting write is an error result that changes nothing.
	idx, _ := f.State().LatestIndex()
	zero := uint64(0)
	v := &structs.VariableEncrypted{VariableData: structs.VariableData{Data: []byte("x"), KeyID: id(9002)}}
	v.Namespace, v.Path = "default", "app/config"
	res := apply(t, f, idx+1, encode(t, VariableApplyType, &VariableApply{structs.VariableApplyRequest{Op: structs.VarOpSet, Var: v, CheckIndex: &zero}}))
	if res.Err == nil {
		t.Fatal("cas=0 on an existing variable applied")
	}
	if after, _ := f.State().LatestIndex(); after != idx {
		t.Fatal("a rejected entry changed the state")
	}
	data := persist(t, f)
	for _, kind := range []string{state.KindServiceRegistration, state.KindVariable, state.KindRootKey} {
		if !bytes.Contains(data, []byte(`"Type":"`+kind+`"`)) {
			t.Fatalf("snapshot lacks %s", kind)
		}
	}
}
