package state

import (
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func sealedVar(path, data string, lock *structs.VariableLock) *structs.VariableEncrypted {
	v := &structs.VariableEncrypted{VariableData: structs.VariableData{Data: []byte(data), KeyID: "k1"}}
	v.Namespace, v.Path, v.Lock = "default", path, lock
	return v
}

func applyVar(s *Store, index uint64, op string, v *structs.VariableEncrypted, check *uint64, now int64) error {
	return s.write(index, func(tx *WriteTxn) error {
		return tx.ApplyVariable(&structs.VariableApplyRequest{Op: op, Var: v, CheckIndex: check, Time: now})
	})
}

func ptr(n uint64) *uint64 { return &n }

func TestVariableCheckAndSet(t *testing.T) {
	s := newTestStore(t)
	// cas=0 creates only what does not exist.
	must(t, applyVar(s, 5, structs.VarOpSet, sealedVar("a/b", "v1", nil), ptr(0), 100))
	if err := applyVar(s, 6, structs.VarOpSet, sealedVar("a/b", "v2", nil), ptr(0), 200); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("second create: %v", err)
	}
	if err := applyVar(s, 6, structs.VarOpSet, sealedVar("a/b", "v2", nil), ptr(4), 200); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("stale cas: %v", err)
	}
	must(t, applyVar(s, 7, structs.VarOpSet, sealedVar("a/b", "v2", nil), ptr(5), 300))
	v, _ := s.Snapshot().VariableByPath(nil, "default", "a/b")
	if string(v.Data) != "v2" || v.CreateIndex != 5 || v.ModifyIndex != 7 || v.CreateTime != 100 || v.ModifyTime != 300 {
		t.Fatalf("after cas update: %+v", v)
	}
	if err := applyVar(s, 8, structs.VarOpDelete, sealedVar("a/b", "", nil), ptr(5), 400); !errors.Is(err, ErrCASConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	must(t, applyVar(s, 9, structs.VarOpDelete, sealedVar("a/b", "", nil), ptr(7), 400))
	if v, _ := s.Snapshot().VariableByPath(nil, "default", "a/b"); v != nil {
		t.Fatal("variable survived delete")
	}
	// Deleting what is gone is fine; a rekey of it is not found.
	must(t, applyVar(s, 10, structs.VarOpDelete, sealedVar("a/b", "", nil), nil, 500))
	if err := applyVar(s, 11, structs.VarOpRekey, sealedVar("a/b", "x", nil), nil, 500); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rekey of missing: %v", err)
	}
}

func TestVariableLocks(t *testing.T) {
	s := newTestStore(t)
	lock := &structs.VariableLock{ID: "L1", TTL: "15s", LockDelay: "10s"}
	must(t, applyVar(s, 1, structs.VarOpLockAcquire, sealedVar("l", "{}", lock), nil, int64(time.Second)))
	// A second acquire, a write and a delete without the lock ID conflict.
	other := &structs.VariableLock{ID: "L2", TTL: "15s"}
	for _, c := range []struct {
		op string
		v  *structs.VariableEncrypted
	}{
		{structs.VarOpLockAcquire, sealedVar("l", "x", other)},
		{structs.VarOpSet, sealedVar("l", "x", nil)},
		{structs.VarOpSet, sealedVar("l", "x", &structs.VariableLock{ID: "L2"})},
		{structs.VarOpDelete, sealedVar("l", "", nil)},
		{structs.VarOpLockRelease, sealedVar("l", "", &structs.VariableLock{ID: "L2"})},
	} {
		if err := applyVar(s, 2, c.op, c.v, nil, int64(2*time.Second)); !errors.Is(err, ErrLockConflict) {
			t.Fatalf("%s without the lock: %v", c.op, err)
		}
	}
	// The holder writes; the lock stays.
	must(t, applyVar(s, 3, structs.VarOpSet, sealedVar("l", "held", &structs.VariableLock{ID: "L1"}), nil, int64(3*time.Second)))
	v, _ := s.Snapshot().VariableByPath(nil, "default", "l")
	if v.Lock == nil || v.Lock.ID != "L1" || string(v.Data) != "held" {
		t.Fatalf("after holder write: %+v", v)
	}
	// Expiry starts the lock delay: no acquire before it ends.
	must(t, applyVar(s, 4, structs.VarOpLockExpire, sealedVar("l", "", &structs.VariableLock{ID: "L1"}), nil, int64(4*time.Second)))
	if err := applyVar(s, 5, structs.VarOpLockAcquire, sealedVar("l", "", other), nil, int64(13*time.Second)); !errors.Is(err, ErrLockConflict) {
		t.Fatalf("acquire in lock delay: %v", err)
	}
	must(t, applyVar(s, 5, structs.VarOpLockAcquire, sealedVar("l", "", other), nil, int64(14*time.Second)))
	v, _ = s.Snapshot().VariableByPath(nil, "default", "l")
	if v.Lock.ID != "L2" || string(v.Data) != "held" {
		t.Fatalf("bare acquire should keep items: %+v", v)
	}
	// A voluntary release has no delay.
	must(t, applyVar(s, 6, structs.VarOpLockRelease, sealedVar("l", "", other), nil, int64(15*time.Second)))
	must(t, applyVar(s, 7, structs.VarOpLockAcquire, sealedVar("l", "", lock), nil, int64(15*time.Second)))
	// Writing with a lock ID to an unlocked variable is refused.
	if err := applyVar(s, 8, structs.VarOpSet, sealedVar("free", "x", &structs.VariableLock{ID: "L9"}), nil, 1); !errors.Is(err, ErrLockConflict) {
		t.Fatalf("write claiming a lock: %v", err)
	}
}

func TestVariableListingOrderAndPaging(t *testing.T) {
	s := newTestStore(t)
	i := uint64(1)
	for _, ns := range []string{"default", "prod"} {
		for _, p := range []string{"b/1", "a/2", "a/1", "c"} {
			v := sealedVar(p, "x", nil)
			v.Namespace = ns
			must(t, applyVar(s, i, structs.VarOpSet, v, nil, 1))
			i++
		}
	}
	collect := func(ns, prefix, fromNS, fromPath string, max int) []string {
		var out []string
		must(t, s.Snapshot().Variables(nil, ns, prefix, fromNS, fromPath, func(v *structs.VariableEncrypted) bool {
			out = append(out, v.Namespace+":"+v.Path)
			return len(out) < max
		}))
		return out
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	eq(collect("default", "", "", "", 10), "default:a/1", "default:a/2", "default:b/1", "default:c")
	eq(collect("prod", "a/", "", "", 10), "prod:a/1", "prod:a/2")
	eq(collect("default", "", "default", "a/2", 2), "default:a/2", "default:b/1")
	eq(collect("*", "a/", "", "", 10), "default:a/1", "default:a/2", "prod:a/1", "prod:a/2")
	eq(collect("*", "", "prod", "b/1", 10), "prod:b/1", "prod:c")
}

func TestRootKeysOneActive(t *testing.T) {
	s := newTestStore(t)
	key := func(id, st string) *structs.RootKey {
		return &structs.RootKey{Meta: &structs.RootKeyMeta{KeyID: id, State: st}, Provider: "aead"}
	}
	must(t, s.write(1, func(tx *WriteTxn) error { return tx.UpsertRootKey(key("k1", structs.RootKeyStateActive)) }))
	must(t, s.write(2, func(tx *WriteTxn) error { return tx.UpsertRootKey(key("k2", structs.RootKeyStateActive)) }))
	must(t, s.write(3, func(tx *WriteTxn) error { return tx.UpsertRootKey(key("k3", structs.RootKeyStatePrepublished)) }))
	states := func() map[string]string {
		keys, err := s.Snapshot().RootKeys(nil)
		must(t, err)
		out := map[string]string{}
		for _, k := range keys {
			out[k.Meta.KeyID] = k.Meta.State
		}
		return out
	}
	if st := states(); st["k1"] != "inactive" || st["k2"] != "active" || st["k3"] != "prepublished" {
		t.Fatalf("states %v", st)
	}
	must(t, s.write(4, func(tx *WriteTxn) error { return tx.SetRootKeyState("k3", structs.RootKeyStateActive) }))
	if st := states(); st["k2"] != "inactive" || st["k3"] != "active" {
		t.Fatalf("states after activation %v", st)
	}
	// The active key and, without force, a key in use stay.
	if err := s.write(5, func(tx *WriteTxn) error { return tx.DeleteRootKey("k3", true) }); err == nil {
		t.Fatal("deleted the active key")
	}
	must(t, applyVar(s, 6, structs.VarOpSet, sealedVar("x", "d", nil), nil, 1)) // sealed with k1
	if err := s.write(7, func(tx *WriteTxn) error { return tx.DeleteRootKey("k1", false) }); !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("delete of a key in use: %v", err)
	}
	must(t, s.write(8, func(tx *WriteTxn) error { return tx.DeleteRootKey("k2", false) }))
	if _, ok := states()["k2"]; ok {
		t.Fatal("k2 not deleted")
	}
}
