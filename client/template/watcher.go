// Package template renders a task's template blocks (language: package
// tmpl) and keeps them current: one Watcher per client holds every piece
// of cluster data any template on the node reads, kept current by a single
// blocking call to the servers; the task hook renders, writes the files
// through safefs and applies change_mode.
package template

import (
	"context"
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
	// A dependency added while a call is in flight cancels that call
	// (cancel), so its first result comes at once; dirty tells Run the
	// call's request no longer covers every dependency. Both are guarded
	// by mu together with deps, so no addition can fall between building
	// a request and the call's cancel becoming reachable.
	cancel context.CancelFunc
	dirty  bool
	// wake ends Run's idle or back-off wait when a dependency is added.
	wake chan struct{}
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
		deps: map[string]*depEntry{}, wake: make(chan struct{}, 1)}
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

// reset (with mu held) makes Run ask again at once: the call in flight
// was built without the dependency just added.
func (w *Watcher) reset() {
	w.dirty = true
	if w.cancel != nil {
		w.cancel()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run keeps the dependencies current until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	retry := time.Duration(0)
	for ctx.Err() == nil {
		callCtx, cancel := context.WithCancel(ctx)
		req := w.request(cancel)
		if len(req.Deps) == 0 {
			w.endCall()
			cancel()
			if !w.sleep(ctx, 0) {
				return
			}
			continue
		}
		resp, err := w.src.WatchTemplateData(callCtx, req)
		dirty := w.endCall()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			retry = 0
			w.apply(resp.Results) // valid even when a dependency was added meanwhile
		case dirty:
			retry = 0 // cancelled because a dependency was added: ask again at once
		default:
			retry = min(max(2*retry, 250*time.Millisecond), maxWatchRetry)
			w.logger.Warn("watching template data", "error", err, "retry_in", retry)
			if !w.sleep(ctx, retry) {
				return
			}
		}
	}
}

// sleep waits d (0: until woken) or until a dependency is added; false
// when ctx ended.
func (w *Watcher) sleep(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-w.wake:
	case <-timer:
	}
	return true
}

// endCall forgets the finished call's cancel and reports whether a
// dependency was added while it was in flight.
func (w *Watcher) endCall() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel = nil
	return w.dirty
}

// request builds the call for every current dependency and makes cancel
// the way an added dependency interrupts it.
func (w *Watcher) request(cancel context.CancelFunc) *structs.TemplateWatchRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel, w.dirty = cancel, false
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
