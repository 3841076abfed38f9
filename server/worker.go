package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/scheduler"
	"github.com/orch-project/orch/structs"
)

// maxPlanAttempts bounds re-planning after partial commits; past it the
// eval fails and a follow-up eval retries later.
const maxPlanAttempts = 5

// worker takes evals from the broker and runs the scheduler on them. The
// scheduler itself is a pure function; the worker supplies a snapshot,
// submits the resulting plan, and re-plans on a partial commit.
type worker struct {
	srv     *Server
	planner *planApplier
	id      int
}

func (w *worker) run(ctx context.Context) {
	log := w.srv.logger.With("worker", w.id)
	for {
		eval, token, err := w.srv.broker.Dequeue(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrBrokerDisabled) {
				log.Error("dequeueing evaluation", "error", err)
			}
			return
		}
		if err := w.process(ctx, eval, token); err != nil {
			log.Warn("evaluation failed, returning it to the broker", "eval_id", eval.ID, "job_id", eval.JobID, "error", err)
			_ = w.srv.broker.Nack(eval.ID, token)
			continue
		}
		_ = w.srv.broker.Ack(eval.ID, token)
	}
}

func (w *worker) process(ctx context.Context, eval *structs.Evaluation, token string) error {
	for attempt := 0; attempt < maxPlanAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Planning and committing may be slow under load; keep the
		// broker from redelivering the eval to another worker meanwhile.
		if err := w.srv.broker.Touch(eval.ID, token); err != nil {
			return fmt.Errorf("eval no longer outstanding: %w", err)
		}
		snap := w.srv.State().Snapshot()
		now := time.Now().UnixNano()
		res, err := scheduler.Schedule(snap, eval, scheduler.Config{
			Now: now,
			// Seeded from the runtime's random source: allocation IDs come
			// from this sequence and must not repeat across evals.
			Rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		})
		if err != nil {
			return fmt.Errorf("scheduling: %w", err)
		}
		evals := make([]*structs.Evaluation, 0, 1+len(res.CreateEvals))
		if res.EvalUpdate != nil {
			res.EvalUpdate.ModifyTime = now
			evals = append(evals, res.EvalUpdate)
		}
		evals = append(evals, res.CreateEvals...)
		if res.Plan == nil || res.Plan.IsNoOp() {
			if !w.srv.broker.Outstanding(eval.ID, token) {
				return errEvalNotOutstanding
			}
			_, err := w.srv.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: evals, Time: now})
			return err
		}
		result, err := w.planner.Submit(ctx, res.Plan, token, evals)
		if err != nil {
			return fmt.Errorf("submitting plan: %w", err)
		}
		if full, _, _ := result.FullCommit(res.Plan); full {
			return nil
		}
		// Part of the plan no longer fit: plan again against newer state.
	}
	now := time.Now().UnixNano()
	failed := eval.Copy()
	failed.Status = structs.EvalStatusFailed
	failed.StatusDescription = fmt.Sprintf("plan was only partly committed %d times", maxPlanAttempts)
	failed.ModifyTime = now
	followUp := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: eval.Namespace, Priority: eval.Priority, Type: eval.Type,
		TriggeredBy: structs.EvalTriggerMaxPlans, JobID: eval.JobID, PreviousEval: eval.ID,
		Status: structs.EvalStatusBlocked, CreateTime: now, ModifyTime: now,
	}
	failed.NextEval = followUp.ID
	_, err := w.srv.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: []*structs.Evaluation{failed, followUp}, Time: now})
	return err
}
