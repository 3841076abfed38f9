package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

func collectEvals(it memdb.ResultIterator) []*structs.Evaluation {
	var out []*structs.Evaluation
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Evaluation))
	}
	return out
}

// EvalByID returns the evaluation, or nil when absent.
func (s *Snapshot) EvalByID(ws memdb.WatchSet, id string) (*structs.Evaluation, error) {
	obj, err := s.first(ws, TableEvals, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Evaluation), nil
}

// EvalsByIDPrefix returns the evaluations whose ID starts with prefix,
// sorted by ID. Namespace "*" searches every namespace.
func (s *Snapshot) EvalsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Evaluation, error) {
	var it memdb.ResultIterator
	var err error
	if ns == "*" {
		it, err = s.get(ws, TableEvals, "id_prefix", prefix)
	} else {
		it, err = s.get(ws, TableEvals, "ns_id_prefix", normNamespace(ns), prefix)
	}
	if err != nil {
		return nil, err
	}
	return collectEvals(it), nil
}

// EvalsByJob returns every evaluation of a job.
func (s *Snapshot) EvalsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.Evaluation, error) {
	it, err := s.get(ws, TableEvals, "job", normNamespace(ns), jobID)
	if err != nil {
		return nil, err
	}
	return collectEvals(it), nil
}

// UpsertEvals creates or updates evaluations. CreateIndex (and CreateTime)
// survive updates; an evaluation's QueuedAllocations become its job
// summary's queue lengths.
func (t *WriteTxn) UpsertEvals(evals []*structs.Evaluation) error {
	for _, in := range evals {
		if in == nil || in.ID == "" {
			return fmt.Errorf("upsert eval: missing eval or eval ID")
		}
		e := in.Copy()
		e.Namespace = normNamespace(e.Namespace)
		obj, err := t.txn.First(TableEvals, "id", e.ID)
		if err != nil {
			return fmt.Errorf("eval lookup %s: %w", e.ID, err)
		}
		var existing *structs.Evaluation
		if obj != nil {
			existing = obj.(*structs.Evaluation)
			e.CreateIndex = existing.CreateIndex
			if existing.CreateTime != 0 {
				e.CreateTime = existing.CreateTime
			}
		} else {
			e.CreateIndex = t.index
		}
		e.ModifyIndex = t.index
		if err := t.txn.Insert(TableEvals, e); err != nil {
			return fmt.Errorf("insert eval %s: %w", e.ID, err)
		}
		t.effects.Evals = append(t.effects.Evals, e)
		if err := evalCountsDelta(t.txn, existing, e); err != nil {
			return err
		}
		if err := t.summaryForEval(e); err != nil {
			return err
		}
		t.touch(TableEvals)
		t.markJob(e.Namespace, e.JobID)
		if existing != nil && (existing.Namespace != e.Namespace || existing.JobID != e.JobID) {
			t.markJob(existing.Namespace, existing.JobID)
		}
	}
	return nil
}

// DeleteEvals removes evaluations; unknown IDs are skipped.
func (t *WriteTxn) DeleteEvals(ids []string) error {
	for _, id := range ids {
		obj, err := t.txn.First(TableEvals, "id", id)
		if err != nil {
			return fmt.Errorf("eval lookup %s: %w", id, err)
		}
		if obj == nil {
			continue
		}
		e := obj.(*structs.Evaluation)
		if err := t.txn.Delete(TableEvals, e); err != nil {
			return fmt.Errorf("delete eval %s: %w", id, err)
		}
		if err := evalCountsDelta(t.txn, e, nil); err != nil {
			return err
		}
		t.touch(TableEvals)
		t.markJob(e.Namespace, e.JobID)
	}
	return nil
}

// EvalByID returns the evaluation, or nil when absent.
func (s *Store) EvalByID(ws memdb.WatchSet, id string) (*structs.Evaluation, error) {
	return s.Snapshot().EvalByID(ws, id)
}

// EvalsByIDPrefix returns evaluations by ID prefix; see Snapshot.EvalsByIDPrefix.
func (s *Store) EvalsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Evaluation, error) {
	return s.Snapshot().EvalsByIDPrefix(ws, ns, prefix)
}

// EvalsByJob returns every evaluation of a job.
func (s *Store) EvalsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.Evaluation, error) {
	return s.Snapshot().EvalsByJob(ws, ns, jobID)
}

// UpsertEvals creates or updates evaluations at the Raft index.
func (s *Store) UpsertEvals(index uint64, evals []*structs.Evaluation) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertEvals(evals) })
}

// DeleteEvals removes evaluations at the Raft index.
func (s *Store) DeleteEvals(index uint64, ids []string) error {
	return s.write(index, func(t *WriteTxn) error { return t.DeleteEvals(ids) })
}
