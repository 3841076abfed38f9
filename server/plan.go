package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/jobdiff"
	"github.com/orch-project/orch/scheduler"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// PlanJob is a dry run of registering a job (`job plan`): the scheduler —
// a pure function of a snapshot — runs against current state with the
// proposed version in place of the stored one, and nothing is committed.
// The reply carries what the scheduler would do per group, the placements
// it could not make, the annotated diff against the stored version, and
// the stored JobModifyIndex to pass to a register with EnforceIndex.
func (s *Server) PlanJob(ctx context.Context, req *structs.JobPlanRequest) (*structs.JobPlanResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if req.Job == nil {
		return nil, fmt.Errorf("%w: job is missing", ErrBadInput)
	}
	// A plan of a job the register would refuse is refused the same way.
	if err := s.checkGroupCounts(req.Job); err != nil {
		return nil, err
	}
	snap := s.State().Snapshot()
	index, err := snap.LatestIndex()
	if err != nil {
		return nil, err
	}
	cur, err := snap.JobByID(nil, req.Job.Namespace, req.Job.ID)
	if err != nil {
		return nil, fmt.Errorf("reading job: %w", err)
	}
	proposed := proposedVersion(cur, req.Job, index)
	now := time.Now()
	eval := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: proposed.Namespace, Priority: proposed.Priority, Type: proposed.Type,
		TriggeredBy: structs.EvalTriggerJobRegister, JobID: proposed.ID, JobModifyIndex: proposed.JobModifyIndex,
		Status: structs.EvalStatusPending, CreateTime: now.UnixNano(), ModifyTime: now.UnixNano(),
	}
	res, err := scheduler.Schedule(planState{Snapshot: snap, job: proposed}, eval, scheduler.Config{
		Now: now.UnixNano(), Rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	})
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	resp := &structs.JobPlanResponse{
		Annotations: res.Annotations, FailedTGAllocs: res.EvalUpdate.FailedTGAllocs,
		CreatedEvals: res.CreateEvals, Index: index,
	}
	if cur != nil {
		resp.JobModifyIndex = cur.JobModifyIndex
	}
	if req.Diff {
		resp.Diff = jobdiff.Jobs(cur, proposed, true)
		annotate(resp.Diff, res.Annotations, cur, proposed)
	}
	if proposed.IsPeriodicActive() {
		resp.NextPeriodicLaunch = nextLaunch(proposed.Periodic, now)
	}
	return resp, nil
}

// proposedVersion is job as it would be stored over cur at the next index.
func proposedVersion(cur, job *structs.Job, index uint64) *structs.Job {
	p := *job
	if p.Namespace == "" {
		p.Namespace = structs.DefaultNamespace
	}
	p.ModifyIndex, p.JobModifyIndex = index+1, index+1
	p.Stable = false
	if cur == nil {
		p.CreateIndex, p.Version, p.Status = index+1, 0, structs.JobStatusPending
		return &p
	}
	p.CreateIndex, p.Version, p.Status = cur.CreateIndex, cur.Version, cur.Status
	if !state.SpecEqual(cur, &p) {
		p.Version++
	}
	return &p
}

// planState is a snapshot in which the planned job has its proposed version.
type planState struct {
	*state.Snapshot
	job *structs.Job
}

func (p planState) JobByID(ws memdb.WatchSet, ns, id string) (*structs.Job, error) {
	if ns == p.job.Namespace && id == p.job.ID {
		return p.job, nil
	}
	return p.Snapshot.JobByID(ws, ns, id)
}

// annotate adds to a plan's diff what the scheduler would do per group and
// whether each task change is destructive, as Nomad's `job plan` prints.
func annotate(d *structs.JobDiff, ann *structs.PlanAnnotations, old, new *structs.Job) {
	for _, g := range d.TaskGroups {
		if ann != nil {
			if u := ann.DesiredTGUpdates[g.Name]; u != nil {
				g.Updates = updateCounts(u)
			}
		}
		for _, f := range g.Fields {
			if f.Name != "Count" || f.Type != structs.DiffTypeEdited {
				continue
			}
			o, _ := strconv.Atoi(f.Old)
			n, _ := strconv.Atoi(f.New)
			if n > o {
				f.Annotations = []string{structs.AnnotationForcesCreate}
			} else if n < o {
				f.Annotations = []string{structs.AnnotationForcesDestroy}
			}
		}
		for _, t := range g.Tasks {
			switch t.Type {
			case structs.DiffTypeAdded:
				t.Annotations = []string{structs.AnnotationForcesCreate}
			case structs.DiffTypeDeleted:
				t.Annotations = []string{structs.AnnotationForcesDestroy}
			case structs.DiffTypeEdited:
				ot, nt := lookupTask(old, g.Name, t.Name), lookupTask(new, g.Name, t.Name)
				if ot != nil && nt != nil && !scheduler.TaskChangeDestructive(ot, nt) {
					t.Annotations = []string{structs.AnnotationForcesInplaceUpdate}
				} else {
					t.Annotations = []string{structs.AnnotationForcesDestructiveUpdate}
				}
			}
		}
	}
}

func lookupTask(j *structs.Job, group, task string) *structs.Task {
	if j == nil {
		return nil
	}
	if tg := j.LookupTaskGroup(group); tg != nil {
		return tg.LookupTask(task)
	}
	return nil
}

// updateCounts renders a group's desired updates keyed by Nomad's names,
// leaving out zeros.
func updateCounts(u *structs.DesiredUpdates) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range map[string]uint64{
		structs.UpdateTypeIgnore: u.Ignore, structs.UpdateTypeCreate: u.Place, structs.UpdateTypeDestroy: u.Stop,
		structs.UpdateTypeMigrate: u.Migrate, structs.UpdateTypeCanary: u.Canary,
		structs.UpdateTypeInplaceUpdate: u.InPlaceUpdate, structs.UpdateTypeDestructiveUpdate: u.DestructiveUpdate,
		structs.UpdateTypeRescheduleNow: u.RescheduleNow, structs.UpdateTypeRescheduleLater: u.RescheduleLater,
	} {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// nextLaunch is a periodic job's next launch after now, zero when its
// specs never fire again.
func nextLaunch(p *structs.PeriodicConfig, now time.Time) time.Time { return p.Next(now) }
