package state

import (
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableRootKeys holds the cluster keyring's root keys, wrapped.
const TableRootKeys = "root_keys"

// ErrKeyInUse is wrapped when a root key still seals variables.
var ErrKeyInUse = errors.New("root key in use")

func keyringSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableRootKeys: {
			Name: TableRootKeys,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &rootKeyIDIndex{}},
			},
		},
	}
}

// rootKeyIDIndex indexes a RootKey by Meta.KeyID (memdb's field indexers
// do not follow pointers into nested structs).
type rootKeyIDIndex struct{}

func (rootKeyIDIndex) FromObject(obj any) (bool, []byte, error) {
	rk, ok := obj.(*structs.RootKey)
	if !ok || rk.Meta == nil || rk.Meta.KeyID == "" {
		return false, nil, nil
	}
	return true, []byte(rk.Meta.KeyID + "\x00"), nil
}

func (rootKeyIDIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("root key index takes one argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("root key index argument must be a string")
	}
	return []byte(s + "\x00"), nil
}

// RootKeyByID returns a root key, or nil.
func (s *Snapshot) RootKeyByID(ws memdb.WatchSet, id string) (*structs.RootKey, error) {
	obj, err := s.first(ws, TableRootKeys, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.RootKey), nil
}

// RootKeys returns every root key, by ID.
func (s *Snapshot) RootKeys(ws memdb.WatchSet) ([]*structs.RootKey, error) {
	it, err := s.get(ws, TableRootKeys, "id")
	if err != nil {
		return nil, err
	}
	var out []*structs.RootKey
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.RootKey))
	}
	return out, nil
}

// UpsertRootKey stores a root key. A key stored as active makes the
// previously active key inactive in the same transaction, so there is
// never more than one.
func (t *WriteTxn) UpsertRootKey(in *structs.RootKey) error {
	if in == nil || in.Meta == nil || in.Meta.KeyID == "" {
		return errors.New("upsert root key: missing key or key ID")
	}
	rk := in.Copy()
	obj, err := t.txn.First(TableRootKeys, "id", rk.Meta.KeyID)
	if err != nil {
		return fmt.Errorf("root key lookup: %w", err)
	}
	if old, _ := obj.(*structs.RootKey); old != nil {
		rk.Meta.CreateIndex = old.Meta.CreateIndex
	} else {
		rk.Meta.CreateIndex = t.index
	}
	return t.putRootKey(rk)
}

func (t *WriteTxn) putRootKey(rk *structs.RootKey) error {
	if rk.Meta.Active() {
		if err := t.deactivateOthers(rk.Meta.KeyID); err != nil {
			return err
		}
	}
	rk.Meta.ModifyIndex = t.index
	if err := t.txn.Insert(TableRootKeys, rk); err != nil {
		return fmt.Errorf("insert root key %s: %w", rk.Meta.KeyID, err)
	}
	t.touch(TableRootKeys)
	return nil
}

func (t *WriteTxn) deactivateOthers(keepID string) error {
	it, err := t.txn.Get(TableRootKeys, "id")
	if err != nil {
		return fmt.Errorf("root key scan: %w", err)
	}
	var demote []*structs.RootKey
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if rk := obj.(*structs.RootKey); rk.Meta.Active() && rk.Meta.KeyID != keepID {
			demote = append(demote, rk)
		}
	}
	for _, rk := range demote {
		c := rk.Copy()
		c.Meta.State = structs.RootKeyStateInactive
		c.Meta.ModifyIndex = t.index
		if err := t.txn.Insert(TableRootKeys, c); err != nil {
			return fmt.Errorf("deactivate root key %s: %w", c.Meta.KeyID, err)
		}
	}
	return nil
}

// SetRootKeyState changes a key's state (activation of a prepublished key,
// rekeying, deprecation).
func (t *WriteTxn) SetRootKeyState(id, state string) error {
	obj, err := t.txn.First(TableRootKeys, "id", id)
	if err != nil {
		return fmt.Errorf("root key lookup: %w", err)
	}
	if obj == nil {
		return fmt.Errorf("root key %s: %w", id, ErrNotFound)
	}
	rk := obj.(*structs.RootKey).Copy()
	if rk.Meta.State == state {
		return nil
	}
	rk.Meta.State = state
	return t.putRootKey(rk)
}

// DeleteRootKey removes a root key. The active key cannot be removed, nor,
// without force, a key that still seals variables (they would become
// unreadable).
func (t *WriteTxn) DeleteRootKey(id string, force bool) error {
	obj, err := t.txn.First(TableRootKeys, "id", id)
	if err != nil {
		return fmt.Errorf("root key lookup: %w", err)
	}
	if obj == nil {
		return fmt.Errorf("root key %s: %w", id, ErrNotFound)
	}
	rk := obj.(*structs.RootKey)
	if rk.Meta.Active() {
		return fmt.Errorf("root key %s is active and cannot be removed", id)
	}
	if !force {
		used, err := t.txn.First(TableVariables, "key_id", id)
		if err != nil {
			return fmt.Errorf("variable lookup: %w", err)
		}
		if used != nil {
			return fmt.Errorf("%w: root key %s still encrypts variables", ErrKeyInUse, id)
		}
	}
	if err := t.txn.Delete(TableRootKeys, rk); err != nil {
		return fmt.Errorf("delete root key %s: %w", id, err)
	}
	t.touch(TableRootKeys)
	return nil
}

// RootKeyRestore loads one root key from a snapshot.
func (r *Restore) RootKeyRestore(rk *structs.RootKey) error {
	if rk == nil || rk.Meta == nil || rk.Meta.KeyID == "" {
		return fmt.Errorf("restore root key: missing key or ID")
	}
	return r.insert(TableRootKeys, rk, "root key "+rk.Meta.KeyID)
}
