package raftfsm

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ApplyResult is what FSM.Apply returns for every entry, and therefore what
// raft.ApplyFuture.Response() yields on the leader: the entry's Raft index
// and the error applying it, if any. A failed entry changes nothing (each
// entry is one state transaction).
type ApplyResult struct {
	Index uint64
	Err   error
}

// FSM applies log entries to a state.Store. It implements raft.FSM.
type FSM struct {
	store  *state.Store
	logger *slog.Logger
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM writing to store. A nil logger discards logs.
func New(store *state.Store, logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FSM{store: store, logger: logger.With("component", "fsm")}
}

// State returns the store. It is the same *state.Store for the FSM's whole
// life: a snapshot restore replaces the store's contents in place (and wakes
// its blocking queries), so holding on to it is safe.
func (f *FSM) State() *state.Store { return f.store }

// Apply applies one committed entry and returns *ApplyResult.
func (f *FSM) Apply(l *raft.Log) (res any) {
	out := &ApplyResult{Index: l.Index}
	defer func() {
		// A bug in a handler must not take the server down; the entry's
		// transaction has been aborted by then, so state is unchanged.
		if r := recover(); r != nil {
			out.Err = fmt.Errorf("apply entry %d: panic: %v", l.Index, r)
			f.logger.Error("apply panicked", "index", l.Index, "panic", r)
			res = out
		}
	}()
	t, body, err := Decode(l.Data)
	if err != nil {
		if errors.Is(err, ErrUnknownType) && t&IgnoreUnknownTypeFlag != 0 {
			f.logger.Warn("ignoring unknown log entry type", "index", l.Index, "type", uint8(t))
			return out
		}
		out.Err = fmt.Errorf("apply entry %d: %w", l.Index, err)
		return out
	}
	if err := f.apply(l.Index, body); err != nil {
		out.Err = fmt.Errorf("apply %s at %d: %w", t&^IgnoreUnknownTypeFlag, l.Index, err)
		f.logger.Debug("entry rejected", "index", l.Index, "type", t.String(), "error", err)
	}
	return out
}

// apply runs a decoded body in one state transaction.
func (f *FSM) apply(index uint64, body any) error {
	txn := f.store.WriteTxn(index)
	defer txn.Abort()
	var err error
	switch b := body.(type) {
	case *JobRegister:
		err = applyJobRegister(txn, b)
	case *JobDeregister:
		err = applyJobDeregister(txn, b)
	case *NodeRegister:
		err = applyNodeRegister(txn, b)
	case *NodeStatusUpdate:
		err = applyNodeStatusUpdate(txn, b)
	case *AllocClientUpdate:
		err = applyAllocClientUpdate(txn, b)
	case *ApplyPlanResults:
		err = txn.UpsertPlanResults(b.AllocsStopped, b.AllocsUpdated, b.EvalUpdates, b.Time)
	case *EvalUpsert:
		err = txn.UpsertEvals(b.Evals)
	case *EvalDelete:
		err = txn.DeleteEvals(b.EvalIDs)
	case *GCDelete:
		err = applyGCDelete(txn, b)
	default:
		err = fmt.Errorf("no handler for body %T", body)
	}
	if err != nil {
		return err
	}
	return txn.Commit()
}

func applyJobRegister(txn *state.WriteTxn, b *JobRegister) error {
	if b.Job == nil {
		return errors.New("missing job")
	}
	if err := txn.UpsertJob(b.Job, b.SubmitTime); err != nil {
		return err
	}
	return upsertEval(txn, b.Eval)
}

// upsertEval stores an eval created together with a job write; it is
// stamped with the entry's index, which is the job's new JobModifyIndex.
func upsertEval(txn *state.WriteTxn, ev *structs.Evaluation) error {
	if ev == nil {
		return nil
	}
	ev.JobModifyIndex = txn.Index()
	return txn.UpsertEvals([]*structs.Evaluation{ev})
}

func applyJobDeregister(txn *state.WriteTxn, b *JobDeregister) error {
	if b.JobID == "" {
		return errors.New("missing job ID")
	}
	if b.Purge {
		if err := txn.DeleteJob(b.Namespace, b.JobID); err != nil {
			return err
		}
	} else {
		cur, err := txn.Reader().JobByID(nil, b.Namespace, b.JobID)
		if err != nil {
			return err
		}
		if cur == nil {
			return fmt.Errorf("stop job %s/%s: %w", b.Namespace, b.JobID, state.ErrNotFound)
		}
		stopped := *cur
		stopped.Stop = true
		if err := txn.UpsertJob(&stopped, b.Time); err != nil {
			return err
		}
	}
	return upsertEval(txn, b.Eval)
}

func applyNodeRegister(txn *state.WriteTxn, b *NodeRegister) error {
	if b.Node == nil {
		return errors.New("missing node")
	}
	if b.Time != 0 {
		b.Node.StatusUpdatedAt = b.Time / 1e9
	}
	if err := txn.UpsertNode(b.Node); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}

// nodeDownDescription is the ClientDescription of allocations lost with their node.
const nodeDownDescription = "node is down"

func applyNodeStatusUpdate(txn *state.WriteTxn, b *NodeStatusUpdate) error {
	if b.NodeID == "" || b.Status == "" {
		return errors.New("missing node ID or status")
	}
	if err := txn.UpdateNodeStatus(b.NodeID, b.Status, b.Time/1e9); err != nil {
		return err
	}
	if b.Status == structs.NodeStatusDown {
		allocs, err := txn.Reader().AllocsByNode(nil, b.NodeID)
		if err != nil {
			return err
		}
		var lost []*structs.Allocation
		for _, a := range allocs {
			if a.ClientTerminalStatus() {
				continue
			}
			lost = append(lost, &structs.Allocation{
				ID: a.ID, ClientStatus: structs.AllocClientStatusLost,
				ClientDescription: nodeDownDescription, TaskStates: a.TaskStates,
			})
		}
		if err := txn.UpdateAllocsFromClient(lost, b.Time); err != nil {
			return err
		}
	}
	return txn.UpsertEvals(b.Evals)
}

func applyAllocClientUpdate(txn *state.WriteTxn, b *AllocClientUpdate) error {
	if err := txn.UpdateAllocsFromClient(b.Allocs, b.Time); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}
