package client

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// updater ships allocation status changes to the servers. Updates are
// coalesced per allocation and sent as soon as possible with one request in
// flight: what accumulates meanwhile goes in the next request, so latency
// stays at one round trip while load is bounded by the servers' speed.
type updater struct {
	rpc    *control.Client
	logger *slog.Logger

	mu      sync.Mutex
	pending map[string]*structs.Allocation
	kick    chan struct{}
}

func newUpdater(rpc *control.Client, l *slog.Logger) *updater {
	return &updater{rpc: rpc, logger: l, pending: map[string]*structs.Allocation{},
		kick: make(chan struct{}, 1)}
}

// enqueue records the latest state of an allocation; it never blocks.
func (u *updater) enqueue(a *structs.Allocation) {
	u.mu.Lock()
	u.pending[a.ID] = a
	u.mu.Unlock()
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (u *updater) take() []*structs.Allocation {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		return nil
	}
	out := make([]*structs.Allocation, 0, len(u.pending))
	for _, a := range u.pending {
		out = append(out, a)
	}
	u.pending = make(map[string]*structs.Allocation, len(out))
	return out
}

// requeue puts back a failed batch unless newer updates superseded it.
func (u *updater) requeue(batch []*structs.Allocation) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range batch {
		if _, newer := u.pending[a.ID]; !newer {
			u.pending[a.ID] = a
		}
	}
}

func (u *updater) send(ctx context.Context, batch []*structs.Allocation) error {
	var resp control.WriteResponse
	_, err := u.rpc.Call(ctx, control.MethodAllocsUpdate, &control.AllocsUpdateRequest{Allocs: batch}, &resp)
	return err
}

func (u *updater) run(ctx context.Context) {
	backoff := newBackoff(50*time.Millisecond, 5*time.Second)
	for {
		select {
		case <-u.kick:
		case <-ctx.Done():
			u.flush()
			return
		}
		for {
			batch := u.take()
			if len(batch) == 0 {
				break
			}
			if err := u.send(ctx, batch); err != nil {
				if !control.Retryable(err) {
					// The servers refused the batch itself: sending it
					// again cannot succeed.
					u.logger.Error("servers refused allocation updates", "allocs", len(batch), "error", err)
					continue
				}
				u.requeue(batch)
				if ctx.Err() != nil {
					break
				}
				d := backoff.next()
				u.logger.Warn("sending allocation updates failed", "allocs", len(batch), "retry_in", d, "error", err)
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
				continue
			}
			backoff.reset()
		}
	}
}

// flush makes a last, bounded attempt to deliver pending updates at shutdown.
func (u *updater) flush() {
	batch := u.take()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := u.send(ctx, batch); err != nil {
		u.logger.Warn("final allocation update failed", "allocs", len(batch), "error", err)
	}
}

// backoff doubles a delay up to a cap.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
