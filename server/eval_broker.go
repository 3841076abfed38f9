package server

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// ErrBrokerDisabled is returned by Dequeue when this server is not the leader.
var ErrBrokerDisabled = errors.New("eval broker disabled")

// EvalBroker hands evaluations to scheduler workers. Delivery is at least
// once: an eval stays owned by the broker until acked, and a nack (or an
// expired ack deadline) puts it back. At most one eval per job is out at a
// time, so two workers never plan the same job against each other.
type EvalBroker struct {
	ackTimeout    time.Duration
	deliveryLimit int

	mu      sync.Mutex
	enabled bool
	ready   evalHeap
	// pending holds evals waiting for their job's in-flight eval to finish,
	// keyed by job.
	pending map[structs.NamespacedID][]*structs.Evaluation
	// jobBusy marks jobs with an eval ready or in flight.
	jobBusy  map[structs.NamespacedID]string
	unacked  map[string]*unackedEval
	attempts map[string]int
	known    map[string]bool
	wake     chan struct{}
	// delayed holds evals whose WaitUntil is in the future (e.g. a
	// reschedule after a back-off); one timer fires for the earliest.
	delayed      delayHeap
	delayTimer   *time.Timer
	delayTimerAt time.Time

	// onFail is told of evals that exceeded the delivery limit; onCancel of
	// evals superseded by a newer eval of the same job. The leader records
	// both through Raft.
	onFail   func(*structs.Evaluation)
	onCancel func([]*structs.Evaluation)
}

type unackedEval struct {
	eval  *structs.Evaluation
	token string
	timer *time.Timer
	// paused is set while the eval's plan waits for and goes through the
	// plan applier: a slow commit must not let the eval be redelivered to
	// a second worker, which would plan against state missing the commit.
	paused bool
}

// NewEvalBroker returns a disabled broker.
func NewEvalBroker(ackTimeout time.Duration, deliveryLimit int) *EvalBroker {
	return &EvalBroker{
		ackTimeout:    ackTimeout,
		deliveryLimit: deliveryLimit,
		pending:       map[structs.NamespacedID][]*structs.Evaluation{},
		jobBusy:       map[structs.NamespacedID]string{},
		unacked:       map[string]*unackedEval{},
		attempts:      map[string]int{},
		known:         map[string]bool{},
		wake:          make(chan struct{}),
	}
}

// SetEnabled turns the broker on when this server becomes leader and off
// (dropping everything) when it stops being leader.
func (b *EvalBroker) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	if !on {
		for _, u := range b.unacked {
			u.timer.Stop()
		}
		b.ready = nil
		b.pending = map[structs.NamespacedID][]*structs.Evaluation{}
		b.jobBusy = map[structs.NamespacedID]string{}
		b.unacked = map[string]*unackedEval{}
		b.attempts = map[string]int{}
		b.known = map[string]bool{}
		b.delayed = nil
		if b.delayTimer != nil {
			b.delayTimer.Stop()
			b.delayTimer = nil
		}
	}
	b.broadcastLocked()
}

// Enqueue adds an eval. Evals already known to the broker are ignored, so
// callers may enqueue freely.
func (b *EvalBroker) Enqueue(e *structs.Evaluation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.enabled || b.known[e.ID] {
		return
	}
	b.known[e.ID] = true
	if !e.WaitUntil.IsZero() && time.Until(e.WaitUntil) > 0 {
		heap.Push(&b.delayed, e)
		b.armDelayTimerLocked()
		return
	}
	b.enqueueLocked(e)
}

// armDelayTimerLocked points the timer at the earliest delayed eval.
func (b *EvalBroker) armDelayTimerLocked() {
	if len(b.delayed) == 0 {
		return
	}
	next := b.delayed[0].WaitUntil
	if b.delayTimer != nil && !b.delayTimerAt.After(next) {
		return
	}
	if b.delayTimer != nil {
		b.delayTimer.Stop()
	}
	b.delayTimerAt = next
	b.delayTimer = time.AfterFunc(time.Until(next), b.releaseDue)
}

// releaseDue moves delayed evals whose time has come to the ready queue.
func (b *EvalBroker) releaseDue() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.delayTimer = nil
	if !b.enabled {
		return
	}
	now := time.Now()
	for len(b.delayed) > 0 && !b.delayed[0].WaitUntil.After(now) {
		b.enqueueLocked(heap.Pop(&b.delayed).(*structs.Evaluation))
	}
	b.armDelayTimerLocked()
}

func (b *EvalBroker) enqueueLocked(e *structs.Evaluation) {
	key := structs.NamespacedID{Namespace: e.Namespace, ID: e.JobID}
	if owner, busy := b.jobBusy[key]; busy && owner != e.ID {
		b.pending[key] = append(b.pending[key], e)
		return
	}
	b.jobBusy[key] = e.ID
	heap.Push(&b.ready, e)
	b.broadcastLocked()
}

// broadcastLocked wakes every waiting Dequeue.
func (b *EvalBroker) broadcastLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Dequeue blocks until an eval is ready, returning it with the token that
// must accompany its Ack or Nack.
func (b *EvalBroker) Dequeue(ctx context.Context) (*structs.Evaluation, string, error) {
	for {
		b.mu.Lock()
		if !b.enabled {
			b.mu.Unlock()
			return nil, "", ErrBrokerDisabled
		}
		if b.ready.Len() > 0 {
			e := heap.Pop(&b.ready).(*structs.Evaluation)
			token := structs.GenerateUUID()
			id := e.ID
			u := &unackedEval{eval: e, token: token}
			u.timer = time.AfterFunc(b.ackTimeout, func() { _ = b.Nack(id, token) })
			b.unacked[id] = u
			b.attempts[id]++
			b.mu.Unlock()
			return e, token, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-wake:
		}
	}
}

func (b *EvalBroker) takeUnackedLocked(id, token string) (*unackedEval, error) {
	u, ok := b.unacked[id]
	if !ok {
		return nil, errors.New("evaluation is not outstanding")
	}
	if u.token != token {
		return nil, errors.New("evaluation token does not match")
	}
	u.timer.Stop()
	delete(b.unacked, id)
	return u, nil
}

// Outstanding reports whether the eval is handed out under token.
func (b *EvalBroker) Outstanding(id, token string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.unacked[id]
	return ok && u.token == token
}

// Touch restarts an outstanding eval's ack deadline (unless it is paused).
func (b *EvalBroker) Touch(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.outstandingLocked(id, token)
	if err != nil {
		return err
	}
	if !u.paused {
		u.timer.Reset(b.ackTimeout)
	}
	return nil
}

func (b *EvalBroker) outstandingLocked(id, token string) (*unackedEval, error) {
	u, ok := b.unacked[id]
	if !ok {
		return nil, errors.New("evaluation is not outstanding")
	}
	if u.token != token {
		return nil, errors.New("evaluation token does not match")
	}
	return u, nil
}

// PauseNackTimeout stops an outstanding eval's ack deadline while its plan
// is queued and committing. It fails if the deadline has already passed.
func (b *EvalBroker) PauseNackTimeout(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.outstandingLocked(id, token)
	if err != nil {
		return err
	}
	if !u.paused && !u.timer.Stop() {
		return errors.New("evaluation's ack deadline has passed")
	}
	u.paused = true
	return nil
}

// ResumeNackTimeout restarts a paused eval's ack deadline in full.
func (b *EvalBroker) ResumeNackTimeout(id, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.outstandingLocked(id, token)
	if err != nil {
		return err
	}
	u.paused = false
	u.timer.Reset(b.ackTimeout)
	return nil
}

// Ack marks an eval done and releases its job to the next pending eval.
func (b *EvalBroker) Ack(id, token string) error {
	b.mu.Lock()
	u, err := b.takeUnackedLocked(id, token)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	delete(b.attempts, id)
	delete(b.known, id)
	cancelled := b.releaseJobLocked(u.eval)
	onCancel := b.onCancel
	b.mu.Unlock()
	if len(cancelled) > 0 && onCancel != nil {
		onCancel(cancelled)
	}
	return nil
}

// releaseJobLocked hands the job to its newest pending eval; older pending
// evals of the job are superseded, since one scheduler pass over the latest
// state does the work of all of them.
func (b *EvalBroker) releaseJobLocked(done *structs.Evaluation) []*structs.Evaluation {
	key := structs.NamespacedID{Namespace: done.Namespace, ID: done.JobID}
	delete(b.jobBusy, key)
	queue := b.pending[key]
	if len(queue) == 0 {
		return nil
	}
	delete(b.pending, key)
	newest := 0
	for i, e := range queue {
		if e.CreateIndex > queue[newest].CreateIndex {
			newest = i
		}
	}
	next := queue[newest]
	// Node-scoped evals of system jobs carry a NodeID the newest eval may
	// lack; keep them rather than lose the node's placement.
	var cancelled []*structs.Evaluation
	for i, e := range queue {
		if i == newest {
			continue
		}
		if e.NodeID != "" && e.NodeID != next.NodeID {
			b.pending[key] = append(b.pending[key], e)
			continue
		}
		delete(b.known, e.ID)
		cancelled = append(cancelled, e)
	}
	b.jobBusy[key] = next.ID
	heap.Push(&b.ready, next)
	b.broadcastLocked()
	return cancelled
}

// Nack returns an eval for redelivery, or fails it past the delivery limit.
func (b *EvalBroker) Nack(id, token string) error {
	b.mu.Lock()
	u, err := b.takeUnackedLocked(id, token)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	if b.attempts[id] >= b.deliveryLimit {
		delete(b.attempts, id)
		delete(b.known, id)
		cancelled := b.releaseJobLocked(u.eval)
		onFail, onCancel := b.onFail, b.onCancel
		b.mu.Unlock()
		if onFail != nil {
			onFail(u.eval)
		}
		if len(cancelled) > 0 && onCancel != nil {
			onCancel(cancelled)
		}
		return nil
	}
	heap.Push(&b.ready, u.eval)
	b.broadcastLocked()
	b.mu.Unlock()
	return nil
}

// Stats reports queue depths, for agent/self and tests. Delayed evals
// count as pending.
func (b *EvalBroker) Stats() (ready, unacked, pending int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.pending {
		pending += len(q)
	}
	return b.ready.Len(), len(b.unacked), pending + len(b.delayed)
}

// evalHeap orders by priority (high first), then age (old first).
type evalHeap []*structs.Evaluation

func (h evalHeap) Len() int { return len(h) }
func (h evalHeap) Less(i, j int) bool {
	if h[i].Priority != h[j].Priority {
		return h[i].Priority > h[j].Priority
	}
	return h[i].CreateIndex < h[j].CreateIndex
}
func (h evalHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evalHeap) Push(x any)   { *h = append(*h, x.(*structs.Evaluation)) }
func (h *evalHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}

// delayHeap orders delayed evals by WaitUntil, earliest first.
type delayHeap []*structs.Evaluation

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].WaitUntil.Before(h[j].WaitUntil) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(*structs.Evaluation)) }
func (h *delayHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
