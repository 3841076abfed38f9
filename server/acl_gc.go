package server

import (
	"context"
	"time"

	"github.com/orch-project/orch/raftfsm"
)

// aclTokenGCThreshold is how long an expired token is kept (it already
// authorizes nothing) before the leader deletes it: Nomad's
// acl_token_gc_threshold.
const aclTokenGCThreshold = time.Hour

// aclTokenGCLoop deletes long-expired tokens every GCInterval while this
// server leads.
func (s *Server) aclTokenGCLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.collectExpiredTokens(time.Now().Add(-aclTokenGCThreshold)); err != nil && ctx.Err() == nil {
			s.logger.Warn("ACL token garbage collection", "error", err)
		} else if n > 0 {
			s.logger.Info("deleted expired ACL tokens", "count", n)
		}
	}
}

// collectExpiredTokens deletes tokens that expired before cutoff, in
// batches, and returns how many it deleted.
func (s *Server) collectExpiredTokens(cutoff time.Time) (int, error) {
	toks, err := s.State().Snapshot().ACLTokens(nil)
	if err != nil {
		return 0, err
	}
	var batch []string
	total := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// MissingOK: an operator may delete one of them meanwhile.
		if _, err := s.raftApply(raftfsm.ACLTokenDeleteType, &raftfsm.ACLTokenDelete{AccessorIDs: batch, MissingOK: true}); err != nil {
			return err
		}
		total += len(batch)
		batch = nil
		return nil
	}
	for _, t := range toks {
		if t.ExpirationTime != nil && t.ExpirationTime.Before(cutoff) {
			batch = append(batch, t.AccessorID)
			if len(batch) == gcBatchSize {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
	}
	return total, flush()
}
