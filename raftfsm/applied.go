package raftfsm

import (
	"context"
	"sync"
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
