package template

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// kickSource answers a call at once with a first result for every
// dependency the call holds no hash for; otherwise the call blocks, as the
// servers' blocking query does, until it is cancelled or kicked (the
// "churn" data changed).
type kickSource struct {
	n    atomic.Int64
	kick chan struct{}
}

func (s *kickSource) WatchTemplateData(ctx context.Context, req *structs.TemplateWatchRequest) (*structs.TemplateWatchResponse, error) {
	var out []*structs.TemplateDepResult
	for _, d := range req.Deps {
		if d.Hash == "" {
			out = append(out, &structs.TemplateDepResult{Dep: d.Dep, Hash: "h"})
		}
	}
	if len(out) == 0 {
		select {
		case <-ctx.Done():
			return &structs.TemplateWatchResponse{}, nil
		case <-s.kick:
		}
		for _, d := range req.Deps {
			if d.Dep.Name == "churn" {
				out = append(out, &structs.TemplateDepResult{Dep: d.Dep, Hash: fmt.Sprint(s.n.Add(1))})
			}
		}
	}
	return &structs.TemplateWatchResponse{Results: out}, nil
}

// A dependency added just as a call returns with other data gets its
// first result at once. The watcher used to lose that wake-up to the
// finished call's canceller goroutine, and the new dependency then waited
// for the next change of some other data (up to the 5-minute blocking
// wait): a template never rendered.
func TestWatcherAddedDependencyNeverWaitsForOtherData(t *testing.T) {
	src := &kickSource{kick: make(chan struct{})}
	w := NewWatcher(src, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	sub := w.Subscribe()
	churn := structs.TemplateDep{Kind: structs.TemplateDepService, Name: "churn"}
	if _, err := w.Get(ctx, sub, churn); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		// Odd rounds: nothing else changes, so only the added dependency's
		// interruption of the blocked call can bring its result. Even
		// rounds: other data changes at the same moment.
		if i%2 == 0 {
			go func() {
				select {
				case src.kick <- struct{}{}:
				case <-time.After(50 * time.Millisecond):
				}
			}()
		}
		gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.Get(gctx, sub, structs.TemplateDep{Kind: structs.TemplateDepVariable, Name: fmt.Sprintf("v%d", i)})
		gcancel()
		if err != nil {
			t.Fatalf("dependency %d: no first result: %v", i, err)
		}
		w.Release(sub, map[string]bool{churn.Key(): true})
	}
}
