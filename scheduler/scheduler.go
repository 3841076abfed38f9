// Package scheduler turns an evaluation into a plan. It is a pure function of
// a read-only state snapshot, the evaluation and a Config carrying the random
// source and the current time: no goroutines, no clock, no Raft. The server's
// worker submits the returned plan to the plan applier and, on a partial
// commit, calls Schedule again against a fresher snapshot.
package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/structs"
)

// State is the read-only view of cluster state the scheduler needs.
// *state.Snapshot satisfies it; objects it returns are shared and are never
// mutated here.
type State interface {
	JobByID(ws memdb.WatchSet, namespace, id string) (*structs.Job, error)
	NodeByID(ws memdb.WatchSet, id string) (*structs.Node, error)
	NodesByIDPrefix(ws memdb.WatchSet, prefix string) ([]*structs.Node, error)
	AllocsByJob(ws memdb.WatchSet, namespace, jobID string) ([]*structs.Allocation, error)
	AllocsByNode(ws memdb.WatchSet, nodeID string) ([]*structs.Allocation, error)
	// EvalByID tells whether a failed allocation's follow-up eval still
	// exists; nil, nil when absent.
	EvalByID(ws memdb.WatchSet, id string) (*structs.Evaluation, error)
	// LatestDeploymentByJobID and DeploymentByID return nil, nil when absent.
	LatestDeploymentByJobID(ws memdb.WatchSet, namespace, jobID string) (*structs.Deployment, error)
	DeploymentByID(ws memdb.WatchSet, id string) (*structs.Deployment, error)
	LatestIndex() (uint64, error)
}

// Config carries everything non-deterministic, so that a run is reproducible
// from its inputs.
type Config struct {
	// Rand drives node shuffling and ID generation. When nil a source is
	// seeded from Seed, Now, the eval ID and the snapshot index. A caller
	// passing Rand must not reuse its sequence across evals, or IDs repeat,
	// nor share it between concurrent calls (*rand.Rand is not safe for that).
	Rand *rand.Rand
	// Seed seeds the source when Rand is nil.
	Seed uint64
	// Now is the current time in Unix nanoseconds, stamped on new objects and
	// used for reschedule windows.
	Now int64
}

// Result is the outcome of one evaluation.
type Result struct {
	// Plan holds the placements and stops to submit to the plan applier.
	Plan *structs.Plan
	// EvalUpdate is the evaluation with its final status, queued counts,
	// failed-placement metrics and blocked eval ID.
	EvalUpdate *structs.Evaluation
	// CreateEvals are follow-up evaluations: the blocked eval holding
	// placements that did not fit, and pending evals with WaitUntil set that
	// replace failed allocations once their reschedule delay has passed.
	CreateEvals []*structs.Evaluation
	// Annotations count, per group, what the plan does to allocations
	// (for `job plan`).
	Annotations *structs.PlanAnnotations
}

// ErrNilEval is returned when Schedule is called without an evaluation.
var ErrNilEval = errors.New("scheduler: nil evaluation")

// Schedule reconciles eval's job with the cluster in snap and returns the
// plan that would do it.
func Schedule(snap State, eval *structs.Evaluation, cfg Config) (*Result, error) {
	if eval == nil {
		return nil, ErrNilEval
	}
	if snap == nil {
		return nil, errors.New("scheduler: nil state")
	}
	index, err := snap.LatestIndex()
	if err != nil {
		return nil, fmt.Errorf("read snapshot index: %w", err)
	}
	ns := eval.Namespace
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	job, err := snap.JobByID(nil, ns, eval.JobID)
	if err != nil {
		return nil, fmt.Errorf("look up job %q: %w", eval.JobID, err)
	}
	c := newEvalCtx(snap, eval, job, ns, index, cfg)
	if job != nil && !job.Stop && (job.IsPeriodic() || job.IsParameterized()) {
		// Templates never run themselves; their launched children are
		// separate jobs with their own evals.
		return c.result(), nil
	}

	typ := eval.Type
	if job != nil {
		typ = job.Type
	}
	switch typ {
	case structs.JobTypeService, structs.JobTypeBatch, "":
		err = c.scheduleGeneric()
	case structs.JobTypeSystem, structs.JobTypeSysBatch:
		err = c.scheduleSystem()
	default:
		return nil, fmt.Errorf("eval %s: unknown job type %q", eval.ID, typ)
	}
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", eval.ID, err)
	}
	return c.result(), nil
}
