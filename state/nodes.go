package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// NodeByID returns the node, or nil when absent.
func (s *Snapshot) NodeByID(ws memdb.WatchSet, id string) (*structs.Node, error) {
	obj, err := s.first(ws, TableNodes, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Node), nil
}

// NodesByIDPrefix returns the nodes whose ID starts with prefix ("" = all),
// sorted by ID.
func (s *Snapshot) NodesByIDPrefix(ws memdb.WatchSet, prefix string) ([]*structs.Node, error) {
	return s.nodesBy(ws, "id_prefix", prefix)
}

// nodesBy returns the nodes an index lookup yields, in index order.
func (s *Snapshot) nodesBy(ws memdb.WatchSet, index string, arg any) ([]*structs.Node, error) {
	it, err := s.get(ws, TableNodes, index, arg)
	if err != nil {
		return nil, err
	}
	var out []*structs.Node
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Node))
	}
	return out, nil
}

func (t *WriteTxn) node(id string) (*structs.Node, error) {
	obj, err := t.txn.First(TableNodes, "id", id)
	if err != nil {
		return nil, fmt.Errorf("node lookup %s: %w", id, err)
	}
	if obj == nil {
		return nil, nil
	}
	return obj.(*structs.Node), nil
}

// UpsertNode registers or refreshes a node, keeping its CreateIndex.
func (t *WriteTxn) UpsertNode(node *structs.Node) error {
	if node == nil || node.ID == "" {
		return fmt.Errorf("upsert node: missing node or node ID")
	}
	n := *node
	existing, err := t.node(n.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		n.CreateIndex = existing.CreateIndex
	} else {
		n.CreateIndex = t.index
	}
	if n.SchedulingEligibility == "" {
		n.SchedulingEligibility = structs.NodeSchedulingEligible
	}
	n.ModifyIndex = t.index
	if err := t.txn.Insert(TableNodes, &n); err != nil {
		return fmt.Errorf("insert node %s: %w", n.ID, err)
	}
	t.touch(TableNodes)
	if n.Status == structs.NodeStatusReady && (existing == nil || existing.Status != n.Status || NodeCapacityChanged(existing, &n)) {
		t.effects.CapacityFreed = true
	}
	return nil
}

// NodeCapacityChanged reports whether b differs from a in anything the
// scheduler's feasibility checks or ranking read.
func NodeCapacityChanged(a, b *structs.Node) bool {
	if a.Comparable() != b.Comparable() || a.Datacenter != b.Datacenter || a.NodeClass != b.NodeClass ||
		a.NodePool != b.NodePool || a.SchedulingEligibility != b.SchedulingEligibility ||
		len(a.Drivers) != len(b.Drivers) || len(a.Attributes) != len(b.Attributes) {
		return true
	}
	for name, d := range a.Drivers {
		o := b.Drivers[name]
		if o == nil || o.Detected != d.Detected || o.Healthy != d.Healthy {
			return true
		}
	}
	for k, v := range a.Attributes {
		if b.Attributes[k] != v {
			return true
		}
	}
	return false
}

// UpdateNodeStatus sets a node's status; updatedAt is Unix seconds, the unit
// of Node.StatusUpdatedAt.
func (t *WriteTxn) UpdateNodeStatus(nodeID, status string, updatedAt int64) error {
	existing, err := t.node(nodeID)
	if err != nil {
		return err
	}
	if existing == nil {
		return fmt.Errorf("update status of node %s: %w", nodeID, ErrNotFound)
	}
	n := *existing
	n.Status = status
	n.StatusUpdatedAt = updatedAt
	n.ModifyIndex = t.index
	if err := t.txn.Insert(TableNodes, &n); err != nil {
		return fmt.Errorf("update node %s: %w", nodeID, err)
	}
	t.touch(TableNodes)
	if status == structs.NodeStatusReady && existing.Status != status {
		t.effects.CapacityFreed = true
	}
	return nil
}

// DeleteNode removes a node; its allocations stay until garbage collection.
func (t *WriteTxn) DeleteNode(id string) error {
	existing, err := t.node(id)
	if err != nil {
		return err
	}
	if existing == nil {
		return fmt.Errorf("delete node %s: %w", id, ErrNotFound)
	}
	if err := t.txn.Delete(TableNodes, existing); err != nil {
		return fmt.Errorf("delete node %s: %w", id, err)
	}
	t.touch(TableNodes)
	return nil
}

// NodeByID returns the node, or nil when absent.
func (s *Store) NodeByID(ws memdb.WatchSet, id string) (*structs.Node, error) {
	return s.Snapshot().NodeByID(ws, id)
}

// NodesByIDPrefix returns the nodes whose ID starts with prefix ("" = all).
func (s *Store) NodesByIDPrefix(ws memdb.WatchSet, prefix string) ([]*structs.Node, error) {
	return s.Snapshot().NodesByIDPrefix(ws, prefix)
}

// UpsertNode registers or refreshes a node at the Raft index.
func (s *Store) UpsertNode(index uint64, node *structs.Node) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertNode(node) })
}

// UpdateNodeStatus sets a node's status at the Raft index.
func (s *Store) UpdateNodeStatus(index uint64, nodeID, status string, updatedAt int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpdateNodeStatus(nodeID, status, updatedAt) })
}

// DeleteNode removes a node at the Raft index.
func (s *Store) DeleteNode(index uint64, id string) error {
	return s.write(index, func(t *WriteTxn) error { return t.DeleteNode(id) })
}

// drainingIndex indexes a node only while it has a drain strategy.
func drainingIndex() memdb.Indexer {
	return &memdb.ConditionalIndex{Conditional: func(obj any) (bool, error) {
		n, ok := obj.(*structs.Node)
		if !ok {
			return false, fmt.Errorf("draining index: %T is not a node", obj)
		}
		return n.DrainStrategy != nil, nil
	}}
}

// DrainingNodes returns the nodes being drained, sorted by ID.
func (s *Snapshot) DrainingNodes(ws memdb.WatchSet) ([]*structs.Node, error) {
	return s.nodesBy(ws, "draining", true)
}
