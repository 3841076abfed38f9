package state

import (
	"fmt"
	"sort"

	"github.com/orch-project/orch/structs"
)

// UpdateJobAllocsDesiredTransition merges tr (its non-nil fields) into the
// DesiredTransition of every allocation of the job that is not yet
// terminal, as one server-side change each (the client sees it through its
// watch). A deregistration with no_shutdown_delay uses it so the stop that
// follows skips shutdown delays.
func (t *WriteTxn) UpdateJobAllocsDesiredTransition(ns, jobID string, tr structs.DesiredTransition, now int64) error {
	allocs, err := t.Reader().AllocsByJob(nil, ns, jobID)
	if err != nil {
		return err
	}
	for _, existing := range allocs {
		if existing.TerminalStatus() {
			continue
		}
		a := existing.Copy()
		a.DesiredTransition = a.DesiredTransition.Merge(tr)
		if err := t.putServerAlloc(existing, a, now); err != nil {
			return err
		}
	}
	return nil
}

// UpdateJobAllocsDesiredTransition is WriteTxn.UpdateJobAllocsDesiredTransition
// as its own write at index.
func (s *Store) UpdateJobAllocsDesiredTransition(index uint64, ns, jobID string, tr structs.DesiredTransition, now int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpdateJobAllocsDesiredTransition(ns, jobID, tr, now) })
}

// UpdateAllocDesiredTransitions merges each transition into its
// allocation's DesiredTransition, in allocation ID order. Unknown IDs are
// skipped: the allocation was garbage collected meanwhile.
func (t *WriteTxn) UpdateAllocDesiredTransitions(trans map[string]*structs.DesiredTransition, now int64) error {
	ids := make([]string, 0, len(trans))
	for id := range trans {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if id == "" || trans[id] == nil {
			return fmt.Errorf("desired transition: missing allocation ID or transition")
		}
		existing, err := t.alloc(id)
		if err != nil {
			return err
		}
		if existing == nil {
			continue
		}
		a := existing.Copy()
		a.DesiredTransition = a.DesiredTransition.Merge(*trans[id])
		if err := t.putServerAlloc(existing, a, now); err != nil {
			return err
		}
	}
	return nil
}
