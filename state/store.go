// Package state is orch's server-side state: a go-memdb database of jobs,
// job versions and summaries, nodes, allocations and evaluations. Only the
// Raft FSM writes it (every write carries the Raft index); everything else
// reads it, either at the latest state through *Store or at a consistent
// point in time through *Snapshot.
//
// Objects handed out are shared with the database and must not be mutated;
// the store itself never mutates an object after inserting it (writes insert
// copies), so readers may hold on to them.
package state

import (
	"fmt"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
)

// Store is the live state. Its database can be swapped wholesale by a
// snapshot restore; callers may therefore keep one *Store for the life of
// the server.
type Store struct {
	// writeMu serialises write transactions with restores so a write never
	// lands in a database that is being swapped out.
	writeMu sync.Mutex
	gen     atomic.Pointer[generation]
}

// generation is one database instance. abandonCh is closed when a restore
// replaces it, which wakes blocking queries that watch its (now dead)
// channels.
type generation struct {
	db        *memdb.MemDB
	abandonCh chan struct{}
}

// NewStore returns an empty store.
func NewStore() (*Store, error) {
	db, err := newMemDB()
	if err != nil {
		return nil, err
	}
	s := &Store{}
	s.gen.Store(&generation{db: db, abandonCh: make(chan struct{})})
	return s, nil
}

// Snapshot returns a consistent read-only view of the current state.
func (s *Store) Snapshot() *Snapshot {
	g := s.gen.Load()
	return &Snapshot{txn: g.db.Txn(false), abandonCh: g.abandonCh}
}

// AbandonCh is closed when the store's contents are replaced by a restore.
func (s *Store) AbandonCh() <-chan struct{} { return s.gen.Load().abandonCh }

// swap installs db as the live database and wakes everything watching the
// previous one. Callers hold writeMu.
func (s *Store) swap(db *memdb.MemDB) {
	old := s.gen.Swap(&generation{db: db, abandonCh: make(chan struct{})})
	close(old.abandonCh)
}

// Snapshot is a consistent, read-only view of the state at one point in time.
type Snapshot struct {
	txn       *memdb.Txn
	abandonCh <-chan struct{}
}

// watch registers ch (and the abandon channel) with ws when ws is non-nil.
func (s *Snapshot) watch(ws memdb.WatchSet, ch <-chan struct{}) {
	if ws == nil {
		return
	}
	ws.Add(ch)
	ws.Add(s.abandonCh)
}

// first returns the single object matched by an exact index lookup.
func (s *Snapshot) first(ws memdb.WatchSet, table, index string, args ...any) (any, error) {
	ch, obj, err := s.txn.FirstWatch(table, index, args...)
	if err != nil {
		return nil, fmt.Errorf("%s lookup: %w", table, err)
	}
	s.watch(ws, ch)
	return obj, nil
}

// get returns an iterator over an index lookup and watches it.
func (s *Snapshot) get(ws memdb.WatchSet, table, index string, args ...any) (memdb.ResultIterator, error) {
	it, err := s.txn.Get(table, index, args...)
	if err != nil {
		return nil, fmt.Errorf("%s lookup: %w", table, err)
	}
	s.watch(ws, it.WatchCh())
	return it, nil
}

// Index returns the last Raft index that wrote table, 0 if none did.
func (s *Snapshot) Index(table string) (uint64, error) {
	obj, err := s.txn.First(TableIndex, "id", table)
	if err != nil {
		return 0, fmt.Errorf("index lookup %q: %w", table, err)
	}
	if obj == nil {
		return 0, nil
	}
	return obj.(*IndexEntry).Value, nil
}

// LatestIndex returns the highest Raft index that wrote any table.
func (s *Snapshot) LatestIndex() (uint64, error) {
	it, err := s.txn.Get(TableIndex, "id")
	if err != nil {
		return 0, fmt.Errorf("index scan: %w", err)
	}
	var max uint64
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if v := obj.(*IndexEntry).Value; v > max {
			max = v
		}
	}
	return max, nil
}

// Index returns the last Raft index that wrote table, 0 if none did.
func (s *Store) Index(table string) (uint64, error) { return s.Snapshot().Index(table) }

// LatestIndex returns the highest Raft index that wrote any table.
func (s *Store) LatestIndex() (uint64, error) { return s.Snapshot().LatestIndex() }
