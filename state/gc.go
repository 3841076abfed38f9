package state

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// DeleteAllocs removes allocations (garbage collection); unknown IDs are
// skipped. Job status counters lose the allocations, so job statuses are
// re-derived at Commit. Job summaries are a running tally, as in Nomad: the
// complete/failed/lost counts of collected allocations stay, while an
// allocation deleted before its client finished it leaves its
// starting/running/unknown bucket, so no summary reports a phantom live
// allocation.
func (t *WriteTxn) DeleteAllocs(ids []string) error {
	for _, id := range ids {
		a, err := t.alloc(id)
		if err != nil {
			return err
		}
		if a == nil {
			continue
		}
		if err := t.txn.Delete(TableAllocs, a); err != nil {
			return fmt.Errorf("delete alloc %s: %w", id, err)
		}
		if err := allocCountsDelta(t.txn, a, nil); err != nil {
			return err
		}
		if !a.ClientTerminalStatus() {
			if err := t.summaryDropLive(a); err != nil {
				return err
			}
		}
		t.touch(TableAllocs)
		t.markJob(a.Namespace, a.JobID)
		if err := t.deleteAllocServices(a.ID); err != nil {
			return err
		}
	}
	return nil
}

// summaryDropLive takes a deleted, unfinished allocation out of its job's
// summary.
func (t *WriteTxn) summaryDropLive(a *structs.Allocation) error {
	cur, err := t.summary(a.Namespace, a.JobID)
	if err != nil || cur == nil {
		return err
	}
	// Allocations of an earlier, purged job with the same ID were never
	// counted in this summary.
	if a.Job != nil && a.Job.CreateIndex != cur.CreateIndex {
		return nil
	}
	tg, ok := cur.Summary[a.TaskGroup]
	if !ok {
		return nil
	}
	p := bucket(&tg, a.ClientStatus)
	if p == nil || *p == 0 {
		return nil
	}
	*p--
	s := copySummary(cur)
	s.Summary[a.TaskGroup] = tg
	return t.putSummary(s)
}

// DeleteAllocs removes allocations at the Raft index; see WriteTxn.DeleteAllocs.
func (s *Store) DeleteAllocs(index uint64, ids []string) error {
	return s.write(index, func(t *WriteTxn) error { return t.DeleteAllocs(ids) })
}
