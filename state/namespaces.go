package state

import (
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableNamespaces holds namespaces by name. "default" always exists: when
// it has no row it reads as structs.NewDefaultNamespace().
const TableNamespaces = "namespaces"

// KindNamespace is a namespace in a state dump.
const KindNamespace = "namespace" // *structs.Namespace

func namespaceTables() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableNamespaces: {
			Name: TableNamespaces,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name"}},
			},
		},
	}
}

// NamespaceScopedTable is a table whose rows live in a namespace: a
// namespace is refused deletion while any of them has a row in it. Index
// must be an index whose first field is the namespace (queried with the
// "_prefix" suffix and args (namespace, "")).
type NamespaceScopedTable struct {
	Table string
	Index string
	What  string // plural noun for the error ("jobs")
	// Live, when set, says which rows hold the namespace; others (an
	// allocation already stopped) do not.
	Live func(obj any) bool
}

// namespaceScoped lists the namespaced tables. A package adding a table of
// namespaced objects (variables, services, deployments…) appends to it in
// its schema file's init. Evaluations are not listed: they belong to jobs,
// and those of a purged job are garbage collected in time.
var namespaceScoped = []NamespaceScopedTable{
	{Table: TableJobs, Index: "id", What: "jobs"},
	{Table: TableAllocs, Index: "ns_id", What: "running allocations",
		Live: func(obj any) bool { return !obj.(*structs.Allocation).TerminalStatus() }},
	{Table: TableVariables, Index: "id", What: "variables"},
	{Table: TableServiceRegistrations, Index: "id", What: "service registrations"},
}

// RegisterNamespaceScoped adds a namespaced table to the deletion check;
// call it from an init function.
func RegisterNamespaceScoped(t NamespaceScopedTable) { namespaceScoped = append(namespaceScoped, t) }

// NamespaceByName returns the namespace, or nil when it does not exist.
func (s *Snapshot) NamespaceByName(ws memdb.WatchSet, name string) (*structs.Namespace, error) {
	name = normNamespace(name)
	obj, err := s.first(ws, TableNamespaces, "id", name)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		if name == structs.DefaultNamespace {
			return structs.NewDefaultNamespace(), nil
		}
		return nil, nil
	}
	return obj.(*structs.Namespace), nil
}

// Namespaces returns the namespaces whose name starts with prefix, sorted
// by name, the built-in default included.
func (s *Snapshot) Namespaces(ws memdb.WatchSet, prefix string) ([]*structs.Namespace, error) {
	it, err := s.get(ws, TableNamespaces, "id_prefix", prefix)
	if err != nil {
		return nil, err
	}
	var out []*structs.Namespace
	haveDefault := false
	for obj := it.Next(); obj != nil; obj = it.Next() {
		ns := obj.(*structs.Namespace)
		haveDefault = haveDefault || ns.Name == structs.DefaultNamespace
		out = append(out, ns)
	}
	if !haveDefault && len(prefix) <= len(structs.DefaultNamespace) && structs.DefaultNamespace[:len(prefix)] == prefix {
		out = append(out, structs.NewDefaultNamespace())
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	return out, nil
}

// NamespaceInUse names what still lives in a namespace ("" when nothing).
func (s *Snapshot) NamespaceInUse(name string) (string, error) {
	for _, t := range namespaceScoped {
		it, err := s.txn.Get(t.Table, t.Index+"_prefix", name, "")
		if err != nil {
			return "", fmt.Errorf("scanning %s of namespace %q: %w", t.What, name, err)
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if t.Live == nil || t.Live(obj) {
				return t.What, nil
			}
		}
	}
	return "", nil
}

// UpsertNamespaces creates or updates namespaces.
func (t *WriteTxn) UpsertNamespaces(nss []*structs.Namespace) error {
	for _, in := range nss {
		if in == nil || in.Name == "" {
			return fmt.Errorf("upsert namespace: missing namespace or name")
		}
		ns := *in
		existing, err := t.txn.First(TableNamespaces, "id", ns.Name)
		if err != nil {
			return fmt.Errorf("namespace lookup: %w", err)
		}
		if old, ok := existing.(*structs.Namespace); ok {
			ns.CreateIndex = old.CreateIndex
		} else {
			ns.CreateIndex = t.index
		}
		ns.ModifyIndex = t.index
		if err := t.txn.Insert(TableNamespaces, &ns); err != nil {
			return fmt.Errorf("insert namespace %s: %w", ns.Name, err)
		}
	}
	t.touch(TableNamespaces)
	return nil
}

// DeleteNamespaces removes namespaces. The default namespace and a
// namespace still holding objects are refused; the whole write fails.
func (t *WriteTxn) DeleteNamespaces(names []string) error {
	r := t.Reader()
	for _, name := range names {
		if name == structs.DefaultNamespace {
			return fmt.Errorf("the default namespace cannot be deleted")
		}
		obj, err := t.txn.First(TableNamespaces, "id", name)
		if err != nil {
			return fmt.Errorf("namespace lookup: %w", err)
		}
		if obj == nil {
			return fmt.Errorf("namespace %q: %w", name, ErrNotFound)
		}
		what, err := r.NamespaceInUse(name)
		if err != nil {
			return err
		}
		if what != "" {
			return fmt.Errorf("namespace %q still holds %s", name, what)
		}
		if err := t.txn.Delete(TableNamespaces, obj); err != nil {
			return fmt.Errorf("delete namespace %s: %w", name, err)
		}
	}
	t.touch(TableNamespaces)
	return nil
}

// NamespaceRestore loads a namespace from a snapshot.
func (r *Restore) NamespaceRestore(ns *structs.Namespace) error {
	if ns == nil || ns.Name == "" {
		return fmt.Errorf("restore namespace: missing namespace or name")
	}
	return r.insert(TableNamespaces, ns, "namespace "+ns.Name)
}

// NamespaceByName reads the live state; see Snapshot.NamespaceByName.
func (s *Store) NamespaceByName(ws memdb.WatchSet, name string) (*structs.Namespace, error) {
	return s.Snapshot().NamespaceByName(ws, name)
}
