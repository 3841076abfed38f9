package state

import (
	"fmt"
	"reflect"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// Tables of scaling: the policies of jobs' groups (kept in step with the
// jobs by UpsertJob and DeleteJob) and each job's scaling history.
const (
	TableScalingPolicies = "scaling_policies"
	TableScalingEvents   = "scaling_events"
)

func scalingSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableScalingPolicies: {
			Name: TableScalingPolicies,
			Indexes: map[string]*memdb.IndexSchema{
				"id":  {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"job": {Name: "job", Indexer: &targetIndexer{}},
			},
		},
		TableScalingEvents: {
			Name: TableScalingEvents,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: nsIDIndex("Namespace", "JobID")},
			},
		},
	}
}

// targetIndexer indexes a policy by its target's namespace and job.
type targetIndexer struct{}

func (targetIndexer) FromObject(obj any) (bool, []byte, error) {
	p, ok := obj.(*structs.ScalingPolicy)
	if !ok {
		return false, nil, fmt.Errorf("scaling policy index: %T", obj)
	}
	ns, job := p.Target[structs.ScalingTargetNamespace], p.Target[structs.ScalingTargetJob]
	return true, []byte(ns + "\x00" + job + "\x00"), nil
}

func (targetIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("scaling policy index: want namespace and job, got %d args", len(args))
	}
	ns, ok1 := args[0].(string)
	job, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("scaling policy index: arguments must be strings")
	}
	return []byte(ns + "\x00" + job + "\x00"), nil
}

// syncScalingPolicies makes the policy table match the scaling blocks of
// job j's groups: one policy per group that has one, its ID derived from
// the target so it survives new versions.
func (t *WriteTxn) syncScalingPolicies(j *structs.Job) error {
	keep := map[string]bool{}
	for _, tg := range j.TaskGroups {
		if tg == nil || tg.Scaling == nil {
			continue
		}
		p := *tg.Scaling
		p.ID = structs.ScalingPolicyID(j.Namespace, j.ID, tg.Name)
		p.Namespace = j.Namespace
		p.Target = map[string]string{structs.ScalingTargetNamespace: j.Namespace,
			structs.ScalingTargetJob: j.ID, structs.ScalingTargetGroup: tg.Name}
		if p.Type == "" {
			p.Type = structs.ScalingPolicyTypeHorizontal
		}
		keep[p.ID] = true
		obj, err := t.txn.First(TableScalingPolicies, "id", p.ID)
		if err != nil {
			return fmt.Errorf("scaling policy lookup: %w", err)
		}
		p.CreateIndex, p.ModifyIndex = t.index, t.index
		if obj != nil {
			old := obj.(*structs.ScalingPolicy)
			cmp := *old
			cmp.CreateIndex, cmp.ModifyIndex = p.CreateIndex, p.ModifyIndex
			if reflect.DeepEqual(&cmp, &p) {
				continue
			}
			p.CreateIndex = old.CreateIndex
		}
		if err := t.txn.Insert(TableScalingPolicies, &p); err != nil {
			return fmt.Errorf("insert scaling policy: %w", err)
		}
		t.touch(TableScalingPolicies)
	}
	return t.deleteScalingPolicies(j.Namespace, j.ID, keep)
}

// deleteScalingPolicies removes the job's policies not in keep.
func (t *WriteTxn) deleteScalingPolicies(ns, jobID string, keep map[string]bool) error {
	it, err := t.txn.Get(TableScalingPolicies, "job", ns, jobID)
	if err != nil {
		return fmt.Errorf("scaling policies of %s/%s: %w", ns, jobID, err)
	}
	var drop []any
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if !keep[obj.(*structs.ScalingPolicy).ID] {
			drop = append(drop, obj)
		}
	}
	for _, obj := range drop {
		if err := t.txn.Delete(TableScalingPolicies, obj); err != nil {
			return fmt.Errorf("delete scaling policy: %w", err)
		}
		t.touch(TableScalingPolicies)
	}
	return nil
}

// deleteJobScaling removes a purged job's policies and history.
func (t *WriteTxn) deleteJobScaling(ns, jobID string) error {
	if err := t.deleteScalingPolicies(ns, jobID, nil); err != nil {
		return err
	}
	n, err := t.txn.DeleteAll(TableScalingEvents, "id", ns, jobID)
	if err != nil {
		return fmt.Errorf("delete scaling events of %s/%s: %w", ns, jobID, err)
	}
	if n > 0 {
		t.touch(TableScalingEvents)
	}
	return nil
}

// ScaleJob records a scaling event of a job's group and, when count is
// set, makes a new version of the job with the group at that count. The
// caller checked the count against the group's policy.
func (t *WriteTxn) ScaleJob(ns, jobID, group string, count *int64, ev *structs.ScalingEvent, submitTime int64) error {
	ns = normNamespace(ns)
	obj, err := t.txn.First(TableJobs, "id", ns, jobID)
	if err != nil {
		return fmt.Errorf("job lookup %s/%s: %w", ns, jobID, err)
	}
	if obj == nil {
		return fmt.Errorf("scale job %s/%s: %w", ns, jobID, ErrNotFound)
	}
	job := obj.(*structs.Job)
	gi := -1
	for i, tg := range job.TaskGroups {
		if tg.Name == group {
			gi = i
		}
	}
	if gi < 0 {
		return fmt.Errorf("scale job %s/%s: group %q: %w", ns, jobID, group, ErrNotFound)
	}
	prev := int64(job.TaskGroups[gi].Count)
	if count != nil {
		nj := copyJob(job)
		nj.TaskGroups = append([]*structs.TaskGroup(nil), job.TaskGroups...)
		tg := *job.TaskGroups[gi]
		tg.Count = int(*count)
		nj.TaskGroups[gi] = &tg
		if err := t.UpsertJob(nj, submitTime); err != nil {
			return err
		}
	}
	if ev == nil {
		return nil
	}
	e := *ev
	e.PreviousCount = prev
	e.CreateIndex = t.index
	rec := &structs.JobScalingEvents{Namespace: ns, JobID: jobID, ScalingEvents: map[string][]*structs.ScalingEvent{}}
	if obj, err := t.txn.First(TableScalingEvents, "id", ns, jobID); err != nil {
		return fmt.Errorf("scaling events lookup: %w", err)
	} else if obj != nil {
		for g, evs := range obj.(*structs.JobScalingEvents).ScalingEvents {
			rec.ScalingEvents[g] = evs
		}
	}
	evs := append([]*structs.ScalingEvent{&e}, rec.ScalingEvents[group]...)
	if len(evs) > structs.MaxScalingEventsPerGroup {
		evs = evs[:structs.MaxScalingEventsPerGroup]
	}
	rec.ScalingEvents[group] = evs
	rec.ModifyIndex = t.index
	if err := t.txn.Insert(TableScalingEvents, rec); err != nil {
		return fmt.Errorf("insert scaling events: %w", err)
	}
	t.touch(TableScalingEvents)
	return nil
}

// ScalingPolicies returns the policies of a namespace ("*" for all), or of
// one job when jobID is set, optionally of one type.
func (s *Snapshot) ScalingPolicies(ws memdb.WatchSet, ns, jobID, typ string) ([]*structs.ScalingPolicy, error) {
	var it memdb.ResultIterator
	var err error
	if jobID != "" {
		it, err = s.get(ws, TableScalingPolicies, "job", normNamespace(ns), jobID)
	} else {
		it, err = s.get(ws, TableScalingPolicies, "id")
	}
	if err != nil {
		return nil, err
	}
	out := []*structs.ScalingPolicy{}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		p := obj.(*structs.ScalingPolicy)
		if ns != "*" && p.Namespace != normNamespace(ns) || typ != "" && p.Type != typ {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// ScalingPolicyByID returns one policy, or nil.
func (s *Snapshot) ScalingPolicyByID(ws memdb.WatchSet, id string) (*structs.ScalingPolicy, error) {
	obj, err := s.first(ws, TableScalingPolicies, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.ScalingPolicy), nil
}

// ScalingEventsByJob returns a job's scaling history, or nil.
func (s *Snapshot) ScalingEventsByJob(ws memdb.WatchSet, ns, jobID string) (*structs.JobScalingEvents, error) {
	obj, err := s.first(ws, TableScalingEvents, "id", normNamespace(ns), jobID)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.JobScalingEvents), nil
}

// ScalingPolicyRestore loads a policy from a snapshot.
func (r *Restore) ScalingPolicyRestore(p *structs.ScalingPolicy) error {
	if p == nil || p.ID == "" {
		return fmt.Errorf("restore scaling policy: missing policy or ID")
	}
	return r.insert(TableScalingPolicies, p, "scaling policy "+p.ID)
}

// ScalingEventsRestore loads a job's scaling history from a snapshot.
func (r *Restore) ScalingEventsRestore(e *structs.JobScalingEvents) error {
	if e == nil || e.JobID == "" {
		return fmt.Errorf("restore scaling events: missing job ID")
	}
	e.Namespace = normNamespace(e.Namespace)
	return r.insert(TableScalingEvents, e, "scaling events "+e.JobID)
}

// ScaleJob applies WriteTxn.ScaleJob at the Raft index.
func (s *Store) ScaleJob(index uint64, ns, jobID, group string, count *int64, ev *structs.ScalingEvent, submitTime int64) error {
	return s.write(index, func(t *WriteTxn) error { return t.ScaleJob(ns, jobID, group, count, ev, submitTime) })
}
