package state

import (
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TablePeriodicLaunch holds the last launch of every periodic job; it is
// what lets a new leader's periodic dispatcher carry on where the old one
// stopped.
const TablePeriodicLaunch = "periodic_launch"

// KindPeriodicLaunch is a *structs.PeriodicLaunch in a state dump.
const KindPeriodicLaunch = "periodic_launch"

func lifecycleSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TablePeriodicLaunch: {
			Name: TablePeriodicLaunch,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
			},
		},
	}
}

// parentIndexer indexes a job by its namespace and parent, only when it has
// a parent: the children of periodic and parameterized jobs.
type parentIndexer struct{}

func (parentIndexer) FromObject(obj any) (bool, []byte, error) {
	j, ok := obj.(*structs.Job)
	if !ok {
		return false, nil, fmt.Errorf("parent index: %T is not a job", obj)
	}
	if j.ParentID == "" {
		return false, nil, nil
	}
	return true, []byte(j.Namespace + "\x00" + j.ParentID + "\x00"), nil
}

func (parentIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("parent index: want namespace and parent, got %d args", len(args))
	}
	ns, ok1 := args[0].(string)
	parent, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("parent index: arguments must be strings")
	}
	return []byte(ns + "\x00" + parent + "\x00"), nil
}

// periodicIndex indexes a job only while the periodic dispatcher launches
// it, so the dispatcher reads (and wakes for) those jobs alone, not every
// status change of every job.
func periodicIndex() memdb.Indexer {
	return &memdb.ConditionalIndex{Conditional: func(obj any) (bool, error) {
		j, ok := obj.(*structs.Job)
		if !ok {
			return false, fmt.Errorf("periodic index: %T is not a job", obj)
		}
		return j.IsPeriodicActive(), nil
	}}
}

// ActivePeriodicJobs returns the jobs the periodic dispatcher launches, in
// every namespace.
func (s *Snapshot) ActivePeriodicJobs(ws memdb.WatchSet) ([]*structs.Job, error) {
	it, err := s.get(ws, TableJobs, "periodic", true)
	if err != nil {
		return nil, err
	}
	var out []*structs.Job
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Job))
	}
	return out, nil
}

// PeriodicLaunchByID returns the last launch of a periodic job, or nil.
func (s *Snapshot) PeriodicLaunchByID(ws memdb.WatchSet, ns, id string) (*structs.PeriodicLaunch, error) {
	obj, err := s.first(ws, TablePeriodicLaunch, "id", normNamespace(ns), id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.PeriodicLaunch), nil
}

// PeriodicLaunchByID returns the last launch of a periodic job, or nil.
func (s *Store) PeriodicLaunchByID(ws memdb.WatchSet, ns, id string) (*structs.PeriodicLaunch, error) {
	return s.Snapshot().PeriodicLaunchByID(ws, ns, id)
}

// ChildJobs returns the children of a periodic or parameterized job, sorted by ID.
func (s *Snapshot) ChildJobs(ws memdb.WatchSet, ns, parent string) ([]*structs.Job, error) {
	it, err := s.get(ws, TableJobs, "parent", normNamespace(ns), parent)
	if err != nil {
		return nil, err
	}
	var out []*structs.Job
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Job))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ChildJobs returns the children of a periodic or parameterized job.
func (s *Store) ChildJobs(ws memdb.WatchSet, ns, parent string) ([]*structs.Job, error) {
	return s.Snapshot().ChildJobs(ws, ns, parent)
}

// SetPeriodicLaunch records launch as a periodic job's latest launch; an
// earlier time than the recorded one is ignored (a forced launch may have
// recorded a later one).
func (t *WriteTxn) SetPeriodicLaunch(ns, id string, launch int64) error {
	ns = normNamespace(ns)
	cur, err := t.Reader().PeriodicLaunchByID(nil, ns, id)
	if err != nil {
		return fmt.Errorf("periodic launch lookup %s/%s: %w", ns, id, err)
	}
	row := &structs.PeriodicLaunch{Namespace: ns, ID: id, Launch: launch, CreateIndex: t.index, ModifyIndex: t.index}
	if cur != nil {
		if cur.Launch >= launch {
			return nil
		}
		row.CreateIndex = cur.CreateIndex
	}
	if err := t.txn.Insert(TablePeriodicLaunch, row); err != nil {
		return fmt.Errorf("insert periodic launch %s/%s: %w", ns, id, err)
	}
	t.touch(TablePeriodicLaunch)
	return nil
}

// deletePeriodicLaunch drops a purged job's launch record.
func (t *WriteTxn) deletePeriodicLaunch(ns, id string) error {
	n, err := t.txn.DeleteAll(TablePeriodicLaunch, "id", ns, id)
	if err != nil {
		return fmt.Errorf("delete periodic launch %s/%s: %w", ns, id, err)
	}
	if n > 0 {
		t.touch(TablePeriodicLaunch)
	}
	return nil
}

// childStatusChanged keeps a parent's Children summary in step with a
// child job whose status went from old to new ("" for a job that did not
// exist or no longer exists).
func (t *WriteTxn) childStatusChanged(j *structs.Job, old, new string) error {
	if j.ParentID == "" || old == new {
		return nil
	}
	cur, err := t.summary(j.Namespace, j.ParentID)
	if err != nil || cur == nil {
		return err
	}
	s := copySummary(cur)
	if s.Children == nil {
		s.Children = &structs.JobChildrenSummary{}
	}
	if p := childBucket(s.Children, old); p != nil {
		*p--
	}
	if p := childBucket(s.Children, new); p != nil {
		*p++
	}
	return t.putSummary(s)
}

func childBucket(c *structs.JobChildrenSummary, status string) *int64 {
	switch status {
	case structs.JobStatusPending:
		return &c.Pending
	case structs.JobStatusRunning:
		return &c.Running
	case structs.JobStatusDead:
		return &c.Dead
	}
	return nil
}

// PeriodicLaunchRestore loads a periodic launch record.
func (r *Restore) PeriodicLaunchRestore(l *structs.PeriodicLaunch) error {
	if l == nil || l.ID == "" {
		return fmt.Errorf("restore periodic launch: missing record or job ID")
	}
	l.Namespace = normNamespace(l.Namespace)
	return r.insert(TablePeriodicLaunch, l, "periodic launch "+l.ID)
}

// ChildByIdempotencyToken returns the child of a parameterized job that was
// dispatched with token, or nil.
func (s *Snapshot) ChildByIdempotencyToken(ns, parent, token string) (*structs.Job, error) {
	obj, err := s.first(nil, TableJobs, "dispatch_token", normNamespace(ns), parent, token)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Job), nil
}

// tokenIndexer indexes a dispatched job by namespace, parent and
// idempotency token, only when it has a token.
type tokenIndexer struct{}

func (tokenIndexer) FromObject(obj any) (bool, []byte, error) {
	j, ok := obj.(*structs.Job)
	if !ok {
		return false, nil, fmt.Errorf("dispatch token index: %T is not a job", obj)
	}
	if j.ParentID == "" || j.DispatchIdempotencyToken == "" {
		return false, nil, nil
	}
	return true, []byte(j.Namespace + "\x00" + j.ParentID + "\x00" + j.DispatchIdempotencyToken + "\x00"), nil
}

func (tokenIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("dispatch token index: want namespace, parent and token, got %d args", len(args))
	}
	var b []byte
	for _, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("dispatch token index: arguments must be strings")
		}
		b = append(append(b, s...), 0)
	}
	return b, nil
}

// countChildren adds the children of a job, by status, to c.
func (t *WriteTxn) countChildren(ns, parent string, c *structs.JobChildrenSummary) error {
	it, err := t.txn.Get(TableJobs, "parent", ns, parent)
	if err != nil {
		return fmt.Errorf("children of %s/%s: %w", ns, parent, err)
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if p := childBucket(c, obj.(*structs.Job).Status); p != nil {
			*p++
		}
	}
	return nil
}
