package state

import (
	"errors"
	"fmt"
	"sort"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// TableDeployments holds deployments, keyed by ID with job and prefix indexes.
const TableDeployments = "deployment"

func deploymentTables() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		TableDeployments: {
			Name: TableDeployments,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
				"ns_id": {Name: "ns_id", Unique: true, Indexer: nsIDIndex("Namespace", "ID")},
				"job":   {Name: "job", Indexer: nsIDIndex("Namespace", "JobID")},
				// status finds the active few among many finished ones.
				"status": {Name: "status", Indexer: &memdb.StringFieldIndex{Field: "Status"}},
			},
		},
	}
}

func collectDeployments(it memdb.ResultIterator) []*structs.Deployment {
	var out []*structs.Deployment
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*structs.Deployment))
	}
	return out
}

// DeploymentByID returns the deployment, or nil when absent.
func (s *Snapshot) DeploymentByID(ws memdb.WatchSet, id string) (*structs.Deployment, error) {
	obj, err := s.first(ws, TableDeployments, "id", id)
	if err != nil || obj == nil {
		return nil, err
	}
	return obj.(*structs.Deployment), nil
}

// DeploymentsByIDPrefix returns the deployments whose ID starts with
// prefix, sorted by ID. Namespace "*" searches every namespace.
func (s *Snapshot) DeploymentsByIDPrefix(ws memdb.WatchSet, ns, prefix string) ([]*structs.Deployment, error) {
	var it memdb.ResultIterator
	var err error
	if ns == "*" {
		it, err = s.get(ws, TableDeployments, "id_prefix", prefix)
	} else {
		it, err = s.get(ws, TableDeployments, "ns_id_prefix", normNamespace(ns), prefix)
	}
	if err != nil {
		return nil, err
	}
	return collectDeployments(it), nil
}

// DeploymentsByJob returns a job's deployments, newest first.
func (s *Snapshot) DeploymentsByJob(ws memdb.WatchSet, ns, jobID string) ([]*structs.Deployment, error) {
	it, err := s.get(ws, TableDeployments, "job", normNamespace(ns), jobID)
	if err != nil {
		return nil, err
	}
	out := collectDeployments(it)
	sort.Slice(out, func(i, j int) bool { return out[i].CreateIndex > out[j].CreateIndex })
	return out, nil
}

// LatestDeploymentByJobID returns the job's most recently created
// deployment, or nil.
func (s *Snapshot) LatestDeploymentByJobID(ws memdb.WatchSet, ns, jobID string) (*structs.Deployment, error) {
	it, err := s.get(ws, TableDeployments, "job", normNamespace(ns), jobID)
	if err != nil {
		return nil, err
	}
	var latest *structs.Deployment
	for obj := it.Next(); obj != nil; obj = it.Next() {
		d := obj.(*structs.Deployment)
		if latest == nil || d.CreateIndex > latest.CreateIndex {
			latest = d
		}
	}
	return latest, nil
}

// ActiveDeployments returns every running or paused deployment, by ID.
func (s *Snapshot) ActiveDeployments(ws memdb.WatchSet) ([]*structs.Deployment, error) {
	var out []*structs.Deployment
	for _, status := range []string{structs.DeploymentStatusRunning, structs.DeploymentStatusPaused} {
		it, err := s.get(ws, TableDeployments, "status", status)
		if err != nil {
			return nil, err
		}
		out = append(out, collectDeployments(it)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// AllocsByDeployment returns the allocations placed or updated as part of a
// deployment. It scans the deployment's job's allocations: a job has few
// compared with the cluster.
func (s *Snapshot) AllocsByDeployment(ws memdb.WatchSet, d *structs.Deployment) ([]*structs.Allocation, error) {
	allocs, err := s.AllocsByJob(ws, d.Namespace, d.JobID)
	if err != nil {
		return nil, err
	}
	out := allocs[:0:0]
	for _, a := range allocs {
		if a.DeploymentID == d.ID {
			out = append(out, a)
		}
	}
	return out, nil
}

func (t *WriteTxn) deployment(id string) (*structs.Deployment, error) {
	obj, err := t.txn.First(TableDeployments, "id", id)
	if err != nil {
		return nil, fmt.Errorf("deployment lookup %s: %w", id, err)
	}
	if obj == nil {
		return nil, nil
	}
	return obj.(*structs.Deployment), nil
}

func (t *WriteTxn) putDeployment(d *structs.Deployment) error {
	d.ModifyIndex = t.index
	if err := t.txn.Insert(TableDeployments, d); err != nil {
		return fmt.Errorf("insert deployment %s: %w", d.ID, err)
	}
	t.touch(TableDeployments)
	return nil
}

// UpsertDeployment stores a deployment the scheduler created or updated.
// A stored deployment keeps its status. The counters a deployment accumulates from allocation placements and
// health (placed, healthy, unhealthy, placed canaries, the progress
// deadline) are kept from the stored row: the FSM alone maintains them.
func (t *WriteTxn) UpsertDeployment(in *structs.Deployment, now int64) error {
	if in == nil || in.ID == "" || in.JobID == "" {
		return fmt.Errorf("upsert deployment: missing deployment, ID or job ID")
	}
	d := in.Copy()
	d.Namespace = normNamespace(d.Namespace)
	existing, err := t.deployment(d.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		d.CreateIndex, d.CreateTime = existing.CreateIndex, existing.CreateTime
		// Status changes travel as status updates: a plan made before the
		// deployment was paused, failed or promoted neither resumes nor
		// revives it.
		d.Status, d.StatusDescription = existing.Status, existing.StatusDescription
		for name, s := range d.TaskGroups {
			if old := existing.TaskGroups[name]; old != nil {
				s.PlacedAllocs, s.HealthyAllocs, s.UnhealthyAllocs = old.PlacedAllocs, old.HealthyAllocs, old.UnhealthyAllocs
				s.PlacedCanaries = append([]string(nil), old.PlacedCanaries...)
				s.RequireProgressBy = old.RequireProgressBy
				s.Promoted = s.Promoted || old.Promoted
			}
		}
	} else {
		d.CreateIndex = t.index
		if d.CreateTime == 0 {
			d.CreateTime = now
		}
	}
	if now != 0 {
		d.ModifyTime = now
	}
	return t.putDeployment(d)
}

// UpsertPlanDeployment applies a plan's deployment changes: the deployment
// it creates or updates, and status changes (cancelled, successful). A plan
// made before a deployment finished (say, failed by the watcher) still
// commits, without its status change. Call it before the plan's
// allocations are stored, so placements are counted in the deployment.
func (t *WriteTxn) UpsertPlanDeployment(d *structs.Deployment, updates []*structs.DeploymentStatusUpdate, now int64) error {
	if d != nil {
		if err := t.UpsertDeployment(d, now); err != nil {
			return err
		}
	}
	for _, u := range updates {
		if err := t.UpdateDeploymentStatus(u, now); err != nil && !errors.Is(err, ErrDeploymentTerminal) {
			return err
		}
	}
	return nil
}

// UpdateDeploymentStatus sets a deployment's status and description. A
// deployment that succeeds marks its job version stable. Terminal statuses
// are final: a late update never revives a finished deployment.
func (t *WriteTxn) UpdateDeploymentStatus(u *structs.DeploymentStatusUpdate, now int64) error {
	if u == nil || u.DeploymentID == "" || u.Status == "" {
		return fmt.Errorf("deployment status update: missing deployment ID or status")
	}
	existing, err := t.deployment(u.DeploymentID)
	if err != nil {
		return err
	}
	if existing == nil {
		return fmt.Errorf("deployment %s: %w", u.DeploymentID, ErrNotFound)
	}
	if !existing.Active() {
		return fmt.Errorf("deployment %s is %s: %w", existing.ID, existing.Status, ErrDeploymentTerminal)
	}
	d := existing.Copy()
	d.Status, d.StatusDescription = u.Status, u.StatusDescription
	d.ModifyTime = now
	if d.Status == structs.DeploymentStatusSuccessful {
		if err := t.SetJobStability(d.Namespace, d.JobID, d.JobVersion, true); err != nil && !isNotFound(err) {
			return err
		}
	}
	return t.putDeployment(d)
}

// ErrDeploymentTerminal is wrapped when a write targets a deployment that
// has already finished.
var ErrDeploymentTerminal = errors.New("deployment has already terminated")

// PromoteDeployment marks the named groups' canaries promoted (all groups
// with canaries when groups is empty) and restarts their progress deadline.
// The promoted allocations stop being canaries (their Canary flag is
// cleared, a server-side change their clients see): from here on their
// services carry the group's normal tags, not its canary_tags.
func (t *WriteTxn) PromoteDeployment(id string, groups []string, now int64) error {
	existing, err := t.deployment(id)
	if err != nil {
		return err
	}
	if existing == nil {
		return fmt.Errorf("deployment %s: %w", id, ErrNotFound)
	}
	if !existing.Active() {
		return fmt.Errorf("deployment %s is %s: %w", id, existing.Status, ErrDeploymentTerminal)
	}
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	d := existing.Copy()
	for _, name := range sortedGroupNames(d) {
		s := d.TaskGroups[name]
		if s.DesiredCanaries == 0 || (len(want) > 0 && !want[name]) {
			continue
		}
		s.Promoted = true
		if s.ProgressDeadline > 0 {
			s.RequireProgressBy = time.Unix(0, now).Add(s.ProgressDeadline).UTC()
		}
		if err := t.unmarkCanaries(s.PlacedCanaries, now); err != nil {
			return err
		}
	}
	if d.Status == structs.DeploymentStatusRunning && !d.RequiresPromotion() {
		d.StatusDescription = structs.DeploymentDescRunning
	}
	d.ModifyTime = now
	return t.putDeployment(d)
}

// SetAllocsHealth records operator-set health (health_check "manual") of
// allocations of a deployment and updates its counters.
func (t *WriteTxn) SetAllocsHealth(deploymentID string, healthy, unhealthy []string, now int64) error {
	d, err := t.deployment(deploymentID)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("deployment %s: %w", deploymentID, ErrNotFound)
	}
	set := func(ids []string, h bool) error {
		for _, id := range ids {
			existing, err := t.alloc(id)
			if err != nil {
				return err
			}
			if existing == nil {
				return fmt.Errorf("allocation %s: %w", id, ErrNotFound)
			}
			if existing.DeploymentID != deploymentID {
				return fmt.Errorf("allocation %s is not part of deployment %s", id, deploymentID)
			}
			a := existing.Copy()
			ds := &structs.AllocDeploymentStatus{}
			if existing.DeploymentStatus != nil {
				*ds = *existing.DeploymentStatus
			}
			v := h
			ds.Healthy, ds.Timestamp, ds.ModifyIndex = &v, time.Unix(0, now).UTC(), t.index
			a.DeploymentStatus = ds
			a.ModifyIndex = t.index
			a.ModifyTime = now
			if err := t.putAlloc(existing, a); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set(healthy, true); err != nil {
		return err
	}
	return set(unhealthy, false)
}

// deploymentForAlloc keeps a deployment's counters in step with a change
// of one of its allocations: a new member counts as placed (and as a
// placed canary), and health decided for the first time counts as healthy
// or unhealthy. The group's progress deadline starts with its first
// placement and moves on with every healthy allocation.
func (t *WriteTxn) deploymentForAlloc(old, a *structs.Allocation) error {
	if a.DeploymentID == "" {
		return nil
	}
	d, err := t.deployment(a.DeploymentID)
	if err != nil || d == nil {
		return err
	}
	joined := old == nil || old.DeploymentID != a.DeploymentID
	var oldStatus *structs.AllocDeploymentStatus
	if !joined {
		oldStatus = old.DeploymentStatus
	}
	healthy := a.DeploymentStatus.IsHealthy() && !oldStatus.IsHealthy()
	unhealthy := a.DeploymentStatus.IsUnhealthy() && !oldStatus.IsUnhealthy()
	if !joined && !healthy && !unhealthy {
		return nil
	}
	s := d.TaskGroups[a.TaskGroup]
	if s == nil {
		return nil
	}
	d = d.Copy()
	s = d.TaskGroups[a.TaskGroup]
	if joined {
		s.PlacedAllocs++
		if a.DeploymentStatus.IsCanary() {
			s.PlacedCanaries = append(s.PlacedCanaries, a.ID)
		}
		if s.RequireProgressBy.IsZero() && s.ProgressDeadline > 0 {
			s.RequireProgressBy = time.Unix(0, a.ModifyTime).Add(s.ProgressDeadline).UTC()
		}
	}
	if healthy {
		s.HealthyAllocs++
		if oldStatus.IsUnhealthy() {
			s.UnhealthyAllocs--
		}
		if s.ProgressDeadline > 0 {
			if by := a.DeploymentStatus.Timestamp.Add(s.ProgressDeadline).UTC(); by.After(s.RequireProgressBy) {
				s.RequireProgressBy = by
			}
		}
	}
	if unhealthy {
		s.UnhealthyAllocs++
		if oldStatus.IsHealthy() {
			s.HealthyAllocs--
		}
	}
	d.ModifyTime = a.ModifyTime
	return t.putDeployment(d)
}

// DeleteDeployments removes deployments (garbage collection).
func (t *WriteTxn) DeleteDeployments(ids []string) error {
	for _, id := range ids {
		d, err := t.deployment(id)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		if err := t.txn.Delete(TableDeployments, d); err != nil {
			return fmt.Errorf("delete deployment %s: %w", id, err)
		}
		t.touch(TableDeployments)
	}
	return nil
}

// DeploymentRestore loads a deployment.
func (r *Restore) DeploymentRestore(d *structs.Deployment) error {
	if d == nil || d.ID == "" {
		return fmt.Errorf("restore deployment: missing deployment or ID")
	}
	d.Namespace = normNamespace(d.Namespace)
	return r.insert(TableDeployments, d, "deployment "+d.ID)
}

// DeploymentByID returns the deployment, or nil when absent.
func (s *Store) DeploymentByID(ws memdb.WatchSet, id string) (*structs.Deployment, error) {
	return s.Snapshot().DeploymentByID(ws, id)
}

// LatestDeploymentByJobID returns the job's newest deployment, or nil.
func (s *Store) LatestDeploymentByJobID(ws memdb.WatchSet, ns, jobID string) (*structs.Deployment, error) {
	return s.Snapshot().LatestDeploymentByJobID(ws, ns, jobID)
}

// UpsertDeployment stores a deployment at the Raft index; see WriteTxn.UpsertDeployment.
func (s *Store) UpsertDeployment(index uint64, d *structs.Deployment) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpsertDeployment(d, 0) })
}

// UpdateDeploymentStatus sets a deployment's status at the Raft index; see
// WriteTxn.UpdateDeploymentStatus.
func (s *Store) UpdateDeploymentStatus(index uint64, u *structs.DeploymentStatusUpdate) error {
	return s.write(index, func(t *WriteTxn) error { return t.UpdateDeploymentStatus(u, 0) })
}

// PromoteDeployment promotes canaries at the Raft index; see WriteTxn.PromoteDeployment.
func (s *Store) PromoteDeployment(index uint64, id string, groups []string) error {
	return s.write(index, func(t *WriteTxn) error { return t.PromoteDeployment(id, groups, 0) })
}

func sortedGroupNames(d *structs.Deployment) []string {
	names := make([]string, 0, len(d.TaskGroups))
	for name := range d.TaskGroups {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// unmarkCanaries clears the Canary flag of promoted allocations.
func (t *WriteTxn) unmarkCanaries(ids []string, now int64) error {
	for _, id := range ids {
		existing, err := t.alloc(id)
		if err != nil {
			return err
		}
		if existing == nil || !existing.DeploymentStatus.IsCanary() || existing.TerminalStatus() {
			continue
		}
		a := existing.Copy()
		ds := *existing.DeploymentStatus
		ds.Canary = false
		a.DeploymentStatus = &ds
		if err := t.putServerAlloc(existing, a, now); err != nil {
			return err
		}
	}
	return nil
}
