package server

import (
	"sync"

	"github.com/orch-project/orch/structs"
)

// BlockedEvals holds evaluations that could not place everything, one per
// job, until capacity changes. Capacity changes (a node becomes ready, an
// allocation stops) unblock them into the broker, where the scheduler tries
// again against the new state.
type BlockedEvals struct {
	broker *EvalBroker

	mu      sync.Mutex
	enabled bool
	byJob   map[structs.NamespacedID]*structs.Evaluation
	// superseded collects blocked evals replaced by a newer one of the same
	// job; the leader cancels them through Raft.
	onCancel func([]*structs.Evaluation)
}

// NewBlockedEvals returns a disabled tracker feeding broker.
func NewBlockedEvals(broker *EvalBroker) *BlockedEvals {
	return &BlockedEvals{broker: broker, byJob: map[structs.NamespacedID]*structs.Evaluation{}}
}

// SetEnabled follows leadership like the broker.
func (b *BlockedEvals) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	if !on {
		b.byJob = map[structs.NamespacedID]*structs.Evaluation{}
	}
}

// Block records a blocked eval, replacing an older one of the same job.
func (b *BlockedEvals) Block(e *structs.Evaluation) {
	b.mu.Lock()
	if !b.enabled {
		b.mu.Unlock()
		return
	}
	key := structs.NamespacedID{Namespace: e.Namespace, ID: e.JobID}
	var cancelled []*structs.Evaluation
	if old, ok := b.byJob[key]; ok {
		if old.ID == e.ID {
			b.mu.Unlock()
			return
		}
		if old.CreateIndex > e.CreateIndex {
			// e is the stale one: cancel it rather than leave it blocked
			// in state for ever.
			onCancel := b.onCancel
			b.mu.Unlock()
			if onCancel != nil {
				onCancel([]*structs.Evaluation{e})
			}
			return
		}
		cancelled = append(cancelled, old)
	}
	b.byJob[key] = e
	onCancel := b.onCancel
	b.mu.Unlock()
	if len(cancelled) > 0 && onCancel != nil {
		onCancel(cancelled)
	}
}

// Untrack forgets the blocked eval of a job (the job was stopped or purged).
func (b *BlockedEvals) Untrack(ns, jobID string) {
	b.mu.Lock()
	delete(b.byJob, structs.NamespacedID{Namespace: ns, ID: jobID})
	b.mu.Unlock()
}

// Unblock hands every blocked eval to the broker. Called on any capacity
// change: re-running a blocked job's scheduler is cheap next to leaving work
// unplaced, and the broker runs at most one eval per job at a time.
func (b *BlockedEvals) Unblock() {
	b.mu.Lock()
	if !b.enabled || len(b.byJob) == 0 {
		b.mu.Unlock()
		return
	}
	evals := make([]*structs.Evaluation, 0, len(b.byJob))
	for _, e := range b.byJob {
		evals = append(evals, e)
	}
	b.byJob = map[structs.NamespacedID]*structs.Evaluation{}
	b.mu.Unlock()
	for _, e := range evals {
		b.broker.Enqueue(e)
	}
}

// Len reports how many evals are blocked.
func (b *BlockedEvals) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byJob)
}
