package state

import (
	"errors"
	"fmt"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableVariables holds variables, sealed (structs.VariableEncrypted).
const TableVariables = "variables"

// Errors of variable writes. The leader answers both with 409 and the
// variable as it stands.
var (
	ErrCASConflict  = errors.New("check-and-set conflict")
	ErrLockConflict = errors.New("lock conflict")
)

func variableSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableVariables: {
			Name: TableVariables,
			Indexes: map[string]*memdb.IndexSchema{
				"id":     {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "Path")},
				"key_id": {Name: "key_id", Indexer: &memdb.StringFieldIndex{Field: "KeyID"}},
			},
		},
	}
}

// VariableByPath returns a stored variable, or nil.
func (s *Snapshot) VariableByPath(ws memdb.WatchSet, ns, path string) (*structs.VariableEncrypted, error) {
	obj, err := s.first(ws, TableVariables, "id", normNamespace(ns), path)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.VariableEncrypted), nil
}

// Variables calls fn for each variable of namespace ns ("*" for every
// namespace) whose path starts with prefix, in (namespace, path) order,
// beginning at the first one at or after (fromNS, fromPath), until fn
// returns false. The watch covers the whole listing.
func (s *Snapshot) Variables(ws memdb.WatchSet, ns, prefix, fromNS, fromPath string, fn func(*structs.VariableEncrypted) bool) error {
	var it memdb.ResultIterator
	var err error
	switch {
	case ns != "*":
		ns = normNamespace(ns)
		if fromNS != "" && fromNS != ns {
			return nil
		}
		it, err = s.get(ws, TableVariables, "id_prefix", ns, prefix)
	default:
		it, err = s.get(ws, TableVariables, "id")
	}
	if err != nil {
		return err
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		v := obj.(*structs.VariableEncrypted)
		if !strings.HasPrefix(v.Path, prefix) {
			continue
		}
		if fromNS != "" && (v.Namespace < fromNS || v.Namespace == fromNS && v.Path < fromPath) {
			continue
		}
		if !fn(v) {
			return nil
		}
	}
	return nil
}

// VariablesByKeyID returns the variables sealed with a root key.
func (s *Snapshot) VariablesByKeyID(ws memdb.WatchSet, keyID string) ([]*structs.VariableEncrypted, error) {
	it, err := s.get(ws, TableVariables, "key_id", keyID)
	if err != nil {
		return nil, err
	}
	var out []*structs.VariableEncrypted
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.VariableEncrypted))
	}
	return out, nil
}

// ApplyVariable performs one variable operation (structs.VarOp*) at the
// transaction's index. Conflicts (check index, locks, lock delay) are
// errors wrapping ErrCASConflict or ErrLockConflict and change nothing.
func (t *WriteTxn) ApplyVariable(req *structs.VariableApplyRequest) error {
	in := req.Var
	if in == nil {
		return errors.New("variable operation: missing variable")
	}
	ns := normNamespace(in.Namespace)
	obj, err := t.txn.First(TableVariables, "id", ns, in.Path)
	if err != nil {
		return fmt.Errorf("variable lookup %s: %w", in.Path, err)
	}
	existing, _ := obj.(*structs.VariableEncrypted)
	if c := req.CheckIndex; c != nil {
		var cur uint64
		if existing != nil {
			cur = existing.ModifyIndex
		}
		if cur != *c {
			return fmt.Errorf("%w: variable %q has modify index %d, not %d", ErrCASConflict, in.Path, cur, *c)
		}
	}
	switch req.Op {
	case structs.VarOpSet, structs.VarOpRekey:
		return t.setVariable(req, ns, existing)
	case structs.VarOpDelete:
		return t.deleteVariable(in, existing)
	case structs.VarOpLockAcquire:
		return t.lockVariable(req, ns, existing)
	case structs.VarOpLockRelease, structs.VarOpLockExpire:
		return t.unlockVariable(req, existing)
	}
	return fmt.Errorf("unknown variable operation %q", req.Op)
}

func (t *WriteTxn) putVariable(v *structs.VariableEncrypted) error {
	if err := t.txn.Insert(TableVariables, v); err != nil {
		return fmt.Errorf("insert variable %s: %w", v.Path, err)
	}
	t.touch(TableVariables)
	return nil
}

func (t *WriteTxn) setVariable(req *structs.VariableApplyRequest, ns string, existing *structs.VariableEncrypted) error {
	in := req.Var
	if len(in.Data) == 0 || in.KeyID == "" {
		return fmt.Errorf("variable %q: missing sealed data", in.Path)
	}
	if req.Op == structs.VarOpRekey {
		// Re-sealed contents: the variable is unchanged for its readers.
		if existing == nil {
			return fmt.Errorf("rekey variable %q: %w", in.Path, ErrNotFound)
		}
		v := existing.Copy()
		v.VariableData = in.VariableData
		return t.putVariable(v)
	}
	if err := checkLockHolder(in, existing); err != nil {
		return err
	}
	v := &structs.VariableEncrypted{VariableData: in.VariableData}
	v.Namespace, v.Path = ns, in.Path
	v.CreateIndex, v.CreateTime = t.index, req.Time
	if existing != nil {
		v.CreateIndex, v.CreateTime = existing.CreateIndex, existing.CreateTime
		v.Lock = existing.Metadata().Lock
		v.LockDelayUntil = existing.LockDelayUntil
	}
	v.ModifyIndex, v.ModifyTime = t.index, req.Time
	return t.putVariable(v)
}

// checkLockHolder refuses a write to a locked variable by anyone but the
// lock's holder, and a write claiming a lock that is not held.
func checkLockHolder(in, existing *structs.VariableEncrypted) error {
	var held *structs.VariableLock
	if existing != nil {
		held = existing.Lock
	}
	var claimed string
	if in.Lock != nil {
		claimed = in.Lock.ID
	}
	switch {
	case held == nil && claimed != "":
		return fmt.Errorf("%w: variable %q is not locked", ErrLockConflict, in.Path)
	case held != nil && claimed != held.ID:
		return fmt.Errorf("%w: variable %q is locked", ErrLockConflict, in.Path)
	}
	return nil
}

func (t *WriteTxn) deleteVariable(in, existing *structs.VariableEncrypted) error {
	if existing == nil {
		return nil
	}
	if err := checkLockHolder(in, existing); err != nil {
		return err
	}
	if err := t.txn.Delete(TableVariables, existing); err != nil {
		return fmt.Errorf("delete variable %s: %w", in.Path, err)
	}
	t.touch(TableVariables)
	return nil
}

func (t *WriteTxn) lockVariable(req *structs.VariableApplyRequest, ns string, existing *structs.VariableEncrypted) error {
	in := req.Var
	if in.Lock == nil || in.Lock.ID == "" {
		return fmt.Errorf("lock variable %q: missing lock", in.Path)
	}
	if existing != nil && existing.Lock != nil {
		return fmt.Errorf("%w: variable %q is already locked", ErrLockConflict, in.Path)
	}
	if existing != nil && req.Time < existing.LockDelayUntil {
		return fmt.Errorf("%w: variable %q is in its lock delay for another %s", ErrLockConflict, in.Path,
			time.Duration(existing.LockDelayUntil-req.Time).Round(time.Millisecond))
	}
	v := &structs.VariableEncrypted{}
	v.Namespace, v.Path = ns, in.Path
	v.CreateIndex, v.CreateTime = t.index, req.Time
	if existing != nil {
		v.CreateIndex, v.CreateTime = existing.CreateIndex, existing.CreateTime
		v.VariableData = existing.VariableData
	}
	// New items replace the old ones; a bare acquire keeps them.
	if len(in.Data) > 0 {
		v.VariableData = in.VariableData
	}
	if len(v.Data) == 0 {
		return fmt.Errorf("lock variable %q: missing sealed data", in.Path)
	}
	l := *in.Lock
	v.Lock = &l
	v.ModifyIndex, v.ModifyTime = t.index, req.Time
	return t.putVariable(v)
}

func (t *WriteTxn) unlockVariable(req *structs.VariableApplyRequest, existing *structs.VariableEncrypted) error {
	in := req.Var
	if existing == nil || existing.Lock == nil || in.Lock == nil || in.Lock.ID != existing.Lock.ID {
		return fmt.Errorf("%w: variable %q is not locked with that lock ID", ErrLockConflict, in.Path)
	}
	v := existing.Copy()
	if req.Op == structs.VarOpLockExpire {
		_, delay, err := existing.Lock.Durations()
		if err != nil {
			return fmt.Errorf("expire lock of %q: %w", in.Path, err)
		}
		v.LockDelayUntil = req.Time + int64(delay)
	}
	v.Lock = nil
	v.ModifyIndex, v.ModifyTime = t.index, req.Time
	return t.putVariable(v)
}

// VariableRestore loads one variable from a snapshot.
func (r *Restore) VariableRestore(v *structs.VariableEncrypted) error {
	if v == nil || v.Path == "" {
		return fmt.Errorf("restore variable: missing variable or path")
	}
	v.Namespace = normNamespace(v.Namespace)
	return r.insert(TableVariables, v, "variable "+v.Path)
}
