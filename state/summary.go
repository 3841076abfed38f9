package state

import (
	"fmt"
	"maps"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// JobSummaryByID returns a job's allocation counts, or nil when absent.
func (s *Snapshot) JobSummaryByID(ws memdb.WatchSet, ns, id string) (*structs.JobSummary, error) {
	obj, err := s.first(ws, TableJobSummary, "id", normNamespace(ns), id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.JobSummary), nil
}

// JobSummaryByID returns a job's allocation counts, or nil when absent.
func (s *Store) JobSummaryByID(ws memdb.WatchSet, ns, id string) (*structs.JobSummary, error) {
	return s.Snapshot().JobSummaryByID(ws, ns, id)
}

func (t *WriteTxn) summary(ns, jobID string) (*structs.JobSummary, error) {
	obj, err := t.txn.First(TableJobSummary, "id", ns, jobID)
	if err != nil {
		return nil, fmt.Errorf("summary lookup %s/%s: %w", ns, jobID, err)
	}
	if obj == nil {
		return nil, nil
	}
	return obj.(*structs.JobSummary), nil
}

// copySummary returns a summary whose map may be modified freely.
func copySummary(s *structs.JobSummary) *structs.JobSummary {
	c := *s
	c.Summary = maps.Clone(s.Summary)
	if c.Summary == nil {
		c.Summary = make(map[string]structs.TaskGroupSummary)
	}
	if s.Children != nil {
		ch := *s.Children
		c.Children = &ch
	}
	return &c
}

func (t *WriteTxn) putSummary(s *structs.JobSummary) error {
	s.ModifyIndex = t.index
	if err := t.txn.Insert(TableJobSummary, s); err != nil {
		return fmt.Errorf("update summary %s/%s: %w", s.Namespace, s.JobID, err)
	}
	t.touch(TableJobSummary)
	return nil
}

// summaryForJob creates the job's summary or adds groups new to this
// version; counts of existing groups are kept.
func (t *WriteTxn) summaryForJob(j *structs.Job) error {
	cur, err := t.summary(j.Namespace, j.ID)
	if err != nil {
		return err
	}
	var s *structs.JobSummary
	if cur == nil {
		s = &structs.JobSummary{
			JobID: j.ID, Namespace: j.Namespace, CreateIndex: t.index,
			Summary: make(map[string]structs.TaskGroupSummary, len(j.TaskGroups)),
			// Nomad reports zero children rather than null for every job.
			Children: &structs.JobChildrenSummary{},
		}
		// A parent purged and registered again finds its children still
		// there: count them, so later changes adjust true counts.
		if err := t.countChildren(j.Namespace, j.ID, s.Children); err != nil {
			return err
		}
	} else {
		s = copySummary(cur)
	}
	changed := cur == nil
	for _, tg := range j.TaskGroups {
		if tg == nil {
			continue
		}
		if _, ok := s.Summary[tg.Name]; !ok {
			s.Summary[tg.Name] = structs.TaskGroupSummary{}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return t.putSummary(s)
}

// bucket returns the summary counter a client status is counted in.
func bucket(tg *structs.TaskGroupSummary, clientStatus string) *int {
	switch clientStatus {
	case structs.AllocClientStatusPending:
		return &tg.Starting
	case structs.AllocClientStatusRunning:
		return &tg.Running
	case structs.AllocClientStatusComplete:
		return &tg.Complete
	case structs.AllocClientStatusFailed:
		return &tg.Failed
	case structs.AllocClientStatusLost:
		return &tg.Lost
	case structs.AllocClientStatusUnknown:
		return &tg.Unknown
	}
	return nil
}

// summaryForAlloc moves one allocation between summary counters as its
// client status changes (old is nil for a new allocation). A new placement
// also leaves the queue, as in Nomad; the next eval update then sets the
// authoritative queue length.
func (t *WriteTxn) summaryForAlloc(old, new *structs.Allocation) error {
	if new == nil || (old != nil && old.ClientStatus == new.ClientStatus && old.TaskGroup == new.TaskGroup) {
		return nil
	}
	cur, err := t.summary(new.Namespace, new.JobID)
	if err != nil || cur == nil {
		return err
	}
	// Allocations of an earlier, purged job with the same ID are not counted
	// against the new one.
	if new.Job != nil && new.Job.CreateIndex != cur.CreateIndex {
		return nil
	}
	s := copySummary(cur)
	changed := false
	if old != nil {
		if tg, ok := s.Summary[old.TaskGroup]; ok {
			if p := bucket(&tg, old.ClientStatus); p != nil && *p > 0 {
				*p--
				s.Summary[old.TaskGroup] = tg
				changed = true
			}
		}
	}
	if tg, ok := s.Summary[new.TaskGroup]; ok {
		if old == nil && tg.Queued > 0 {
			tg.Queued--
		}
		if p := bucket(&tg, new.ClientStatus); p != nil {
			*p++
		}
		s.Summary[new.TaskGroup] = tg
		changed = true
	}
	if !changed {
		return nil
	}
	return t.putSummary(s)
}

// summaryForEval sets each group's queue length from the evaluation's
// QueuedAllocations, which the scheduler fills with what it could not place.
func (t *WriteTxn) summaryForEval(e *structs.Evaluation) error {
	if len(e.QueuedAllocations) == 0 || e.JobID == "" {
		return nil
	}
	cur, err := t.summary(e.Namespace, e.JobID)
	if err != nil || cur == nil {
		return err
	}
	s := copySummary(cur)
	changed := false
	for group, n := range e.QueuedAllocations {
		tg, ok := s.Summary[group]
		if !ok || tg.Queued == n {
			continue
		}
		tg.Queued = n
		s.Summary[group] = tg
		changed = true
	}
	if !changed {
		return nil
	}
	return t.putSummary(s)
}
