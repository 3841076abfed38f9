package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableServiceRegistrations holds the native service catalog: one row per
// allocation and service instance.
const TableServiceRegistrations = "service_registrations"

func serviceSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableServiceRegistrations: {
			Name: TableServiceRegistrations,
			Indexes: map[string]*memdb.IndexSchema{
				"id":           {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
				"service_name": {Name: "service_name", Indexer: nsIDIndex("Namespace", "ServiceName")},
				"job":          {Name: "job", Indexer: nsIDIndex("Namespace", "JobID")},
				"alloc_id":     {Name: "alloc_id", Indexer: &memdb.StringFieldIndex{Field: "AllocID"}},
				"node_id":      {Name: "node_id", Indexer: &memdb.StringFieldIndex{Field: "NodeID"}},
			},
		},
	}
}

func collectServices(it memdb.ResultIterator) []*structs.ServiceRegistration {
	out := []*structs.ServiceRegistration{}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.ServiceRegistration))
	}
	return out
}

// ServiceRegistrations returns every registration of a namespace ("*" for
// all), ordered by namespace and ID.
func (s *Snapshot) ServiceRegistrations(ws memdb.WatchSet, ns string) ([]*structs.ServiceRegistration, error) {
	var it memdb.ResultIterator
	var err error
	if ns == "*" {
		it, err = s.get(ws, TableServiceRegistrations, "id")
	} else {
		it, err = s.get(ws, TableServiceRegistrations, "id_prefix", normNamespace(ns), "")
	}
	if err != nil {
		return nil, err
	}
	return collectServices(it), nil
}

// ServiceRegistrationByID returns one registration, or nil.
func (s *Snapshot) ServiceRegistrationByID(ws memdb.WatchSet, ns, id string) (*structs.ServiceRegistration, error) {
	obj, err := s.first(ws, TableServiceRegistrations, "id", normNamespace(ns), id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ServiceRegistration), nil
}

// ServiceRegistrationsByName returns the instances of a service, by ID.
func (s *Snapshot) ServiceRegistrationsByName(ws memdb.WatchSet, ns, name string) ([]*structs.ServiceRegistration, error) {
	it, err := s.get(ws, TableServiceRegistrations, "service_name", normNamespace(ns), name)
	if err != nil {
		return nil, err
	}
	return collectServices(it), nil
}

// ServiceRegistrationsByJob returns a job's registrations.
func (s *Snapshot) ServiceRegistrationsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.ServiceRegistration, error) {
	it, err := s.get(ws, TableServiceRegistrations, "job", normNamespace(ns), jobID)
	if err != nil {
		return nil, err
	}
	return collectServices(it), nil
}

// ServiceRegistrationsByAlloc returns an allocation's registrations.
func (s *Snapshot) ServiceRegistrationsByAlloc(ws memdb.WatchSet, allocID string) ([]*structs.ServiceRegistration, error) {
	it, err := s.get(ws, TableServiceRegistrations, "alloc_id", allocID)
	if err != nil {
		return nil, err
	}
	return collectServices(it), nil
}

// ServiceRegistrationsByNode returns the registrations of a node's allocations.
func (s *Snapshot) ServiceRegistrationsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.ServiceRegistration, error) {
	it, err := s.get(ws, TableServiceRegistrations, "node_id", nodeID)
	if err != nil {
		return nil, err
	}
	return collectServices(it), nil
}

// UpsertServiceRegistrations stores registrations reported by the client
// that runs their allocations. A registration whose allocation is gone,
// finished on the client, or placed on another node than the registration
// names is skipped: a late or forged report must not resurrect an instance
// the servers already removed. Registrations equal to the stored ones are
// left alone, so a client refreshing them costs no watcher a wake-up.
func (t *WriteTxn) UpsertServiceRegistrations(regs []*structs.ServiceRegistration) error {
	for _, in := range regs {
		if in == nil {
			return fmt.Errorf("upsert service registration: missing registration")
		}
		r := in.Copy()
		r.Namespace = normNamespace(r.Namespace)
		if err := r.Validate(); err != nil {
			return err
		}
		a, err := t.alloc(r.AllocID)
		if err != nil {
			return err
		}
		if a == nil || servicesEnded(a) || a.NodeID != r.NodeID || a.Namespace != r.Namespace || a.JobID != r.JobID {
			continue
		}
		obj, err := t.txn.First(TableServiceRegistrations, "id", r.Namespace, r.ID)
		if err != nil {
			return fmt.Errorf("service registration lookup %s: %w", r.ID, err)
		}
		if old, _ := obj.(*structs.ServiceRegistration); old != nil {
			if old.Equal(r) {
				continue
			}
			r.CreateIndex = old.CreateIndex
		} else {
			r.CreateIndex = t.index
		}
		r.ModifyIndex = t.index
		if err := t.txn.Insert(TableServiceRegistrations, r); err != nil {
			return fmt.Errorf("insert service registration %s: %w", r.ID, err)
		}
		t.touch(TableServiceRegistrations)
	}
	return nil
}

// DeleteServiceRegistration removes one registration by namespace and ID;
// ErrNotFound when there is none.
func (t *WriteTxn) DeleteServiceRegistration(ns, id string) error {
	obj, err := t.txn.First(TableServiceRegistrations, "id", normNamespace(ns), id)
	if err != nil {
		return fmt.Errorf("service registration lookup %s: %w", id, err)
	}
	if obj == nil {
		return fmt.Errorf("service registration %s: %w", id, ErrNotFound)
	}
	if err := t.txn.Delete(TableServiceRegistrations, obj); err != nil {
		return fmt.Errorf("delete service registration %s: %w", id, err)
	}
	t.touch(TableServiceRegistrations)
	return nil
}

// DeleteNodeServiceRegistrations removes registrations by ID on behalf of
// the node that made them: IDs that are gone or belong to another node's
// allocations are skipped.
func (t *WriteTxn) DeleteNodeServiceRegistrations(nodeID string, ids []string) error {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	it, err := t.txn.Get(TableServiceRegistrations, "node_id", nodeID)
	if err != nil {
		return fmt.Errorf("service registration lookup: %w", err)
	}
	var victims []*structs.ServiceRegistration
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if r := obj.(*structs.ServiceRegistration); want[r.ID] {
			victims = append(victims, r)
		}
	}
	for _, r := range victims {
		if err := t.txn.Delete(TableServiceRegistrations, r); err != nil {
			return fmt.Errorf("delete service registration %s: %w", r.ID, err)
		}
		t.touch(TableServiceRegistrations)
	}
	return nil
}

// deleteAllocServices removes every registration of an allocation; it runs
// in the same transaction as the allocation change that ends the instance
// (terminal client status, lost with its node, garbage collection).
func (t *WriteTxn) deleteAllocServices(allocID string) error {
	n, err := t.txn.DeleteAll(TableServiceRegistrations, "alloc_id", allocID)
	if err != nil {
		return fmt.Errorf("delete service registrations of alloc %s: %w", allocID, err)
	}
	if n > 0 {
		t.touch(TableServiceRegistrations)
	}
	return nil
}

// ServiceRegistrationRestore loads one registration from a snapshot.
func (r *Restore) ServiceRegistrationRestore(s *structs.ServiceRegistration) error {
	if s == nil || s.ID == "" {
		return fmt.Errorf("restore service registration: missing registration or ID")
	}
	s.Namespace = normNamespace(s.Namespace)
	return r.insert(TableServiceRegistrations, s, "service registration "+s.ID)
}
