package raftfsm

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// appliedIndex is the last Raft index the FSM has applied (or restored up
// to), with a channel that is closed on every advance so waiters are woken
// by the apply itself rather than by polling.
type appliedIndex struct {
	mu  sync.Mutex
	idx uint64
	ch  chan struct{}
}

func (a *appliedIndex) init() { a.ch = make(chan struct{}) }

func (a *appliedIndex) set(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i <= a.idx {
		return
	}
	a.idx = i
	close(a.ch)
	a.ch = make(chan struct{})
}

func (a *appliedIndex) get() (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idx, a.ch
}

// AppliedIndex is the last Raft index this FSM has applied or restored.
func (f *FSM) AppliedIndex() uint64 {
	i, _ := f.applied.get()
	return i
}

// WaitForIndex blocks until the FSM has applied index or ctx ends.
func (f *FSM) WaitForIndex(ctx context.Context, index uint64) error {
	for {
		cur, ch := f.applied.get()
		if cur >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var _ raft.ConfigurationStore = (*FSM)(nil)

// StoreConfiguration is how Raft hands configuration entries to an FSM
// that wants them (raft.ConfigurationStore). The FSM keeps no copy (Raft
// has its own); it only counts them as applied, so AppliedIndex covers
// every entry Raft passes it, not just commands. Raft's own AppliedIndex
// moves when entries are dispatched to the FSM, before they are applied.
func (f *FSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.applied.set(index)
}
