// Package template renders a task's template blocks (language: package
// tmpl) and keeps them current: one Watcher per client holds every piece
// of cluster data any template on the node reads, kept current by a single
// blocking call to the servers; the task hook renders, writes the files
// through safefs and applies change_mode.
package template

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// Source is how the watcher reaches the servers (the control channel): a
// blocking query over a set of dependencies, answered by the servers when
// any result differs from the hash the client holds.
type Source interface {
	WatchTemplateData(ctx context.Context, req *structs.TemplateWatchRequest) (*structs.TemplateWatchResponse, error)
}

const (
	// watchWait is how long one blocking call waits for a change.
	watchWait = 5 * time.Minute
	// maxWatchRetry bounds the back-off after failed calls.
	maxWatchRetry = 10 * time.Second
)

// Watcher holds the current result of every dependency of the node's
// templates. Each dependency is fetched once however many templates read
// it, and all of them are watched through one call in flight.
type Watcher struct {
	src    Source
	logger *slog.Logger

	mu   sync.Mutex
	deps map[string]*depEntry
	// resetCh interrupts the call in flight when a dependency is added,
	// so its first result comes at once.
	resetCh chan struct{}
}

type depEntry struct {
	dep    structs.TemplateDep
	result *structs.TemplateDepResult
	ready  chan struct{} // closed at the first result
	subs   map[*Subscription]struct{}
}

// Subscription is one reader's interest in dependencies; its channel
// receives (coalesced) whenever one of them changes.
type Subscription struct {
	C    chan struct{}
	deps map[string]bool
}

// NewWatcher returns a watcher over src; call Run.
func NewWatcher(src Source, logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{src: src, logger: logger.With("component", "template-watcher"),
		deps: map[string]*depEntry{}, resetCh: make(chan struct{}, 1)}
}

// Subscribe returns a subscription with no dependencies yet.
func (w *Watcher) Subscribe() *Subscription {
	return &Subscription{C: make(chan struct{}, 1), deps: map[string]bool{}}
}

// Get returns the dependency's current result, waiting for the first one
// (the subscription then follows the dependency).
func (w *Watcher) Get(ctx context.Context, sub *Subscription, dep structs.TemplateDep) (*structs.TemplateDepResult, error) {
	key := dep.Key()
	w.mu.Lock()
	e := w.deps[key]
	if e == nil {
		e = &depEntry{dep: dep, ready: make(chan struct{}), subs: map[*Subscription]struct{}{}}
		w.deps[key] = e
		w.reset()
	}
	e.subs[sub] = struct{}{}
	sub.deps[key] = true
	w.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return e.result, nil
}

// Release drops the subscription's dependencies that keep is false for
// (nil: all of them); a dependency nobody follows is no longer watched.
func (w *Watcher) Release(sub *Subscription, keep map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key := range sub.deps {
		if keep[key] {
			continue
		}
		delete(sub.deps, key)
		if e := w.deps[key]; e != nil {
			delete(e.subs, sub)
			if len(e.subs) == 0 {
				delete(w.deps, key)
			}
		}
	}
}

func (w *Watcher) reset() {
	select {
	case w.resetCh <- struct{}{}:
	default:
	}
}

// Run keeps the dependencies current until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	retry := time.Duration(0)
	for ctx.Err() == nil {
		req := w.request()
		if len(req.Deps) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.resetCh:
			}
			continue
		}
		callCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-w.resetCh:
				cancel()
			case <-done:
			}
		}()
		resp, err := w.src.WatchTemplateData(callCtx, req)
		close(done)
		reset := callCtx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case reset:
			retry = 0
			continue // a dependency was added: ask again at once
		case err != nil:
			retry = min(max(2*retry, 250*time.Millisecond), maxWatchRetry)
			if !errors.Is(err, context.Canceled) {
				w.logger.Warn("watching template data", "error", err, "retry_in", retry)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			continue
		}
		retry = 0
		w.apply(resp.Results)
	}
}

func (w *Watcher) request() *structs.TemplateWatchRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	req := &structs.TemplateWatchRequest{MaxWait: watchWait, Deps: make([]*structs.TemplateDepState, 0, len(w.deps))}
	for _, e := range w.deps {
		st := &structs.TemplateDepState{Dep: e.dep}
		if e.result != nil {
			st.Hash = e.result.Hash
		}
		req.Deps = append(req.Deps, st)
	}
	return req
}

// apply stores new results and tells their subscribers.
func (w *Watcher) apply(results []*structs.TemplateDepResult) {
	w.mu.Lock()
	var notify []*Subscription
	for _, r := range results {
		e := w.deps[r.Dep.Key()]
		if e == nil {
			continue // released meanwhile
		}
		first := e.result == nil
		if !first && e.result.Hash == r.Hash {
			continue
		}
		e.result = r
		if first {
			close(e.ready)
			continue // the reader is waiting in Get
		}
		for s := range e.subs {
			notify = append(notify, s)
		}
	}
	w.mu.Unlock()
	for _, s := range notify {
		select {
		case s.C <- struct{}{}:
		default:
		}
	}
}
