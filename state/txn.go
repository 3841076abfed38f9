package state

import (
	"errors"
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// ErrNotFound is wrapped by writes that target an object that does not exist.
var ErrNotFound = errors.New("not found")

// WriteTxn is one atomic write at one Raft index. Everything done through it
// becomes visible together on Commit, including the "index" table entries of
// the tables it touched and the derived status of every job it affected.
//
// Use it as:
//
//	t := store.WriteTxn(index)
//	defer t.Abort()
//	... t.UpsertAllocs(...) ...
//	return t.Commit()
//
// Only one WriteTxn is open at a time; opening a second blocks until the
// first is committed or aborted.
type WriteTxn struct {
	s       *Store
	txn     *memdb.Txn
	index   uint64
	touched map[string]struct{}
	// dirtyJobs are jobs whose allocs, evals or spec changed; their status is
	// re-derived once at Commit rather than after every object.
	dirtyJobs map[structs.NamespacedID]struct{}
	effects   Effects
	done      bool
}

// Effects is what a committed transaction did that the leader acts on:
// the evaluations it wrote (as stored, with their Raft indexes) and whether
// capacity appeared. Recording them here, where every write goes, is what
// lets the leader enqueue evals from one place instead of each write path
// remembering to.
type Effects struct {
	// Evals are the evaluations the transaction created or updated.
	Evals []*structs.Evaluation
	// CapacityFreed is set when an allocation stopped holding resources
	// or a node became ready (or changed while ready): blocked evals may
	// now fit.
	CapacityFreed bool
}

// Effects returns what the transaction did; read it after Commit.
func (t *WriteTxn) Effects() Effects { return t.effects }

// WriteTxn opens a write transaction for the Raft entry at index.
func (s *Store) WriteTxn(index uint64) *WriteTxn {
	s.writeMu.Lock()
	g := s.gen.Load()
	return &WriteTxn{
		s:         s,
		txn:       g.db.Txn(true),
		index:     index,
		touched:   make(map[string]struct{}),
		dirtyJobs: make(map[structs.NamespacedID]struct{}),
	}
}

// write runs fn in its own transaction and commits it.
func (s *Store) write(index uint64, fn func(t *WriteTxn) error) error {
	t := s.WriteTxn(index)
	defer t.Abort()
	if err := fn(t); err != nil {
		return err
	}
	return t.Commit()
}

// Index is the Raft index the transaction writes at.
func (t *WriteTxn) Index() uint64 { return t.index }

// Reader gives read access to the transaction's uncommitted state. Pass a
// nil WatchSet: watching an uncommitted view is meaningless.
func (t *WriteTxn) Reader() *Snapshot { return &Snapshot{txn: t.txn} }

// Abort discards the transaction. It is a no-op after Commit or Abort, so it
// can always be deferred.
func (t *WriteTxn) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.txn.Abort()
	t.s.writeMu.Unlock()
}

// Commit derives job statuses, records the Raft index on every touched table
// and makes the writes visible (firing watches).
func (t *WriteTxn) Commit() error {
	if t.done {
		return errors.New("commit of a finished transaction")
	}
	if err := t.refreshJobStatuses(); err != nil {
		t.Abort()
		return err
	}
	tables := make([]string, 0, len(t.touched))
	for tbl := range t.touched {
		tables = append(tables, tbl)
	}
	sort.Strings(tables)
	for _, tbl := range tables {
		if err := t.txn.Insert(TableIndex, &IndexEntry{Key: tbl, Value: t.index}); err != nil {
			t.Abort()
			return fmt.Errorf("update index of %s: %w", tbl, err)
		}
	}
	t.done = true
	t.txn.Commit()
	t.s.writeMu.Unlock()
	return nil
}

func (t *WriteTxn) touch(tables ...string) {
	for _, tbl := range tables {
		t.touched[tbl] = struct{}{}
	}
}

func (t *WriteTxn) markJob(ns, jobID string) {
	if jobID == "" {
		return
	}
	t.dirtyJobs[structs.NamespacedID{Namespace: ns, ID: jobID}] = struct{}{}
}

// refreshJobStatuses re-derives the status of every dirty job, in a fixed
// order so two replicas produce identical state.
func (t *WriteTxn) refreshJobStatuses() error {
	keys := make([]structs.NamespacedID, 0, len(t.dirtyJobs))
	for k := range t.dirtyJobs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Namespace != keys[j].Namespace {
			return keys[i].Namespace < keys[j].Namespace
		}
		return keys[i].ID < keys[j].ID
	})
	for _, k := range keys {
		obj, err := t.txn.First(TableJobs, "id", k.Namespace, k.ID)
		if err != nil {
			return fmt.Errorf("job lookup %s/%s: %w", k.Namespace, k.ID, err)
		}
		if obj == nil {
			continue
		}
		job := obj.(*structs.Job)
		counts, err := t.counts(k.Namespace, k.ID)
		if err != nil {
			return err
		}
		status := deriveJobStatus(job, counts)
		if status == job.Status {
			continue
		}
		c := copyJob(job)
		c.Status = status
		c.ModifyIndex = t.index
		if err := t.txn.Insert(TableJobs, c); err != nil {
			return fmt.Errorf("update status of job %s/%s: %w", k.Namespace, k.ID, err)
		}
		if err := t.childStatusChanged(c, job.Status, status); err != nil {
			return err
		}
		t.touch(TableJobs)
	}
	return nil
}

func normNamespace(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}
