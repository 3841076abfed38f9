package services

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// Catalog is how the client reaches the servers' service catalog (the
// control channel); both calls act for this client's node only.
type Catalog interface {
	UpsertServices(ctx context.Context, regs []*structs.ServiceRegistration) error
	DeregisterServices(ctx context.Context, ids []string) error
}

const (
	// batchWindow coalesces changes (many checks settling, many allocations
	// starting) into one call.
	batchWindow = 20 * time.Millisecond
	// resyncInterval re-sends every registration this client holds: the
	// servers may have dropped some (its allocations went unknown while it
	// was cut off, an operator deleted one) and take unchanged ones for free.
	resyncInterval = time.Minute
	maxRetryDelay  = 10 * time.Second
)

// Registrar keeps the servers' catalog in step with the service instances
// this client runs: hooks Set and Remove instances; a single loop sends
// the changes in batches and retries until the servers have them.
type Registrar struct {
	catalog Catalog
	logger  *slog.Logger

	mu       sync.Mutex
	desired  map[string]*structs.ServiceRegistration
	dirty    map[string]bool
	removed  map[string]bool
	waiters  []chan struct{}
	kick     chan struct{}
	fullSync bool
}

// NewRegistrar returns a registrar sending to catalog; call Run.
func NewRegistrar(catalog Catalog, logger *slog.Logger) *Registrar {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registrar{
		catalog: catalog, logger: logger.With("component", "services"),
		desired: map[string]*structs.ServiceRegistration{}, dirty: map[string]bool{}, removed: map[string]bool{},
		kick: make(chan struct{}, 1), fullSync: true,
	}
}

// Set registers (or updates) instances.
func (r *Registrar) Set(regs ...*structs.ServiceRegistration) {
	r.mu.Lock()
	for _, reg := range regs {
		if cur := r.desired[reg.ID]; cur != nil && cur.Equal(reg) {
			continue
		}
		r.desired[reg.ID] = reg.Copy()
		r.dirty[reg.ID] = true
		delete(r.removed, reg.ID)
	}
	r.mu.Unlock()
	r.wake()
}

// Remove deregisters instances.
func (r *Registrar) Remove(ids ...string) {
	r.mu.Lock()
	for _, id := range ids {
		if _, ok := r.desired[id]; !ok && !r.dirty[id] {
			continue
		}
		delete(r.desired, id)
		delete(r.dirty, id)
		r.removed[id] = true
	}
	r.mu.Unlock()
	r.wake()
}

// Flush waits until every change made so far reached the servers, or ctx
// ends: a stopping task waits for its deregistration before its shutdown
// delay, so no new traffic is routed to it meanwhile.
func (r *Registrar) Flush(ctx context.Context) error {
	r.mu.Lock()
	if len(r.dirty) == 0 && len(r.removed) == 0 {
		r.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	r.waiters = append(r.waiters, ch)
	r.mu.Unlock()
	r.wake()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get returns the instance this client holds under id, nil if none.
func (r *Registrar) Get(id string) *structs.ServiceRegistration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg := r.desired[id]; reg != nil {
		return reg.Copy()
	}
	return nil
}

func (r *Registrar) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sends changes until ctx ends.
func (r *Registrar) Run(ctx context.Context) {
	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	delay := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-resync.C:
			r.mu.Lock()
			r.fullSync = true
			r.mu.Unlock()
		}
		// Let a burst of changes gather.
		select {
		case <-ctx.Done():
			return
		case <-time.After(batchWindow + delay):
		}
		if err := r.sync(ctx); err != nil {
			delay = min(max(2*delay, 250*time.Millisecond), maxRetryDelay)
			r.logger.Warn("syncing service registrations with the servers", "error", err, "retry_in", delay)
			r.wake()
			continue
		}
		delay = 0
	}
}

// sync sends the pending changes once; on failure they stay pending.
func (r *Registrar) sync(ctx context.Context) error {
	r.mu.Lock()
	var ups []*structs.ServiceRegistration
	for id, reg := range r.desired {
		if r.fullSync || r.dirty[id] {
			ups = append(ups, reg.Copy())
		}
	}
	var dels []string
	for id := range r.removed {
		dels = append(dels, id)
	}
	sent := map[string]*structs.ServiceRegistration{}
	for _, u := range ups {
		sent[u.ID] = u
	}
	waiters := r.waiters
	r.waiters = nil
	full := r.fullSync
	r.mu.Unlock()

	var err error
	if len(dels) > 0 {
		err = r.catalog.DeregisterServices(ctx, dels)
	}
	if err == nil && len(ups) > 0 {
		err = r.catalog.UpsertServices(ctx, ups)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.waiters = append(r.waiters, waiters...)
		return err
	}
	for _, id := range dels {
		if _, back := r.desired[id]; !back {
			delete(r.removed, id)
		}
	}
	for id, u := range sent {
		// A change made while the call ran stays dirty.
		if cur := r.desired[id]; cur != nil && cur.Equal(u) {
			delete(r.dirty, id)
		}
	}
	if full {
		r.fullSync = false
	}
	if len(r.dirty) > 0 || len(r.removed) > 0 {
		r.waiters = append(r.waiters, waiters...)
		r.wake()
		return nil
	}
	for _, w := range waiters {
		close(w)
	}
	for _, w := range r.waiters {
		close(w)
	}
	r.waiters = nil
	return nil
}
