package server

import (
	"context"
	"fmt"
	"time"

	"github.com/orch-project/orch/raftfsm"
)

// Nomad's default garbage-collection interval and thresholds.
const (
	defaultGCInterval      = 5 * time.Minute
	defaultEvalGCThreshold = time.Hour
	defaultJobGCThreshold  = 4 * time.Hour
	defaultNodeGCThreshold = 24 * time.Hour
	// gcBatchSize bounds the objects one Raft entry deletes, so an entry
	// (and the FSM transaction applying it) stays small however much
	// history has piled up.
	gcBatchSize = 1000
)

func gcDefaults(cfg *Config) {
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = defaultGCInterval
	}
	if cfg.EvalGCThreshold <= 0 {
		cfg.EvalGCThreshold = defaultEvalGCThreshold
	}
	if cfg.JobGCThreshold <= 0 {
		cfg.JobGCThreshold = defaultJobGCThreshold
	}
	if cfg.NodeGCThreshold <= 0 {
		cfg.NodeGCThreshold = defaultNodeGCThreshold
	}
}

// gcThresholds are the ages past which objects may be collected.
type gcThresholds struct {
	eval, job, node time.Duration
}

// gcLoop collects garbage every GCInterval for as long as this term lasts.
func (s *Server) gcLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		th := gcThresholds{eval: s.cfg.EvalGCThreshold, job: s.cfg.JobGCThreshold, node: s.cfg.NodeGCThreshold}
		if err := s.collectGarbage(ctx, th); err != nil && ctx.Err() == nil {
			s.logger.Warn("garbage collection", "error", err)
		}
	}
}

// GarbageCollect runs one collection now with the configured thresholds,
// or, with force, collecting everything eligible whatever its age (Nomad's
// "system gc"). Only the leader collects.
func (s *Server) GarbageCollect(ctx context.Context, force bool) error {
	if !s.IsLeader() {
		return ErrNotLeader
	}
	th := gcThresholds{eval: s.cfg.EvalGCThreshold, job: s.cfg.JobGCThreshold, node: s.cfg.NodeGCThreshold}
	if force {
		th = gcThresholds{}
	}
	return s.collectGarbage(ctx, th)
}

func (s *Server) collectGarbage(ctx context.Context, th gcThresholds) error {
	groups, err := planGC(s.State().Snapshot(), time.Now(), th)
	if err != nil {
		return fmt.Errorf("planning garbage collection: %w", err)
	}
	batches := batchGC(groups, gcBatchSize)
	deleted := 0
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := s.raftApply(raftfsm.GCDeleteType, b); err != nil {
			return fmt.Errorf("committing garbage collection batch: %w", err)
		}
		deleted += b.Len()
	}
	if deleted > 0 {
		s.logger.Debug("garbage collected", "objects", deleted, "entries", len(batches))
	}
	return nil
}

// batchGC packs groups, in order, into entries of at most max objects. A
// job stays ahead of its own evals and allocs even when split.
func batchGC(groups []*raftfsm.GCDelete, max int) []*raftfsm.GCDelete {
	var out []*raftfsm.GCDelete
	cur := &raftfsm.GCDelete{}
	room := func() {
		if cur.Len() >= max {
			out = append(out, cur)
			cur = &raftfsm.GCDelete{}
		}
	}
	for _, g := range groups {
		for _, j := range g.Jobs {
			room()
			cur.Jobs = append(cur.Jobs, j)
		}
		for _, id := range g.EvalIDs {
			room()
			cur.EvalIDs = append(cur.EvalIDs, id)
		}
		for _, id := range g.AllocIDs {
			room()
			cur.AllocIDs = append(cur.AllocIDs, id)
		}
		for _, n := range g.Nodes {
			room()
			cur.Nodes = append(cur.Nodes, n)
		}
		for _, id := range g.DeploymentIDs {
			room()
			cur.DeploymentIDs = append(cur.DeploymentIDs, id)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur)
	}
	return out
}
