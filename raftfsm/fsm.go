package raftfsm

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/hashicorp/raft"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ApplyResult is what FSM.Apply returns for every entry, and therefore what
// raft.ApplyFuture.Response() yields on the leader: the entry's Raft index
// and, for an entry its handler rejected, why. A rejected entry changes
// nothing (each entry is one state transaction).
type ApplyResult struct {
	Index uint64
	Err   error
}

// HaltError describes an entry this FSM cannot apply. Applying it anyway
// (or skipping it) would let this replica's state diverge from the
// others', so the FSM stops the server instead: a crashed server is
// recoverable (fix the cause, restart, and Raft replays the entry); a
// silently diverged one is not.
type HaltError struct {
	Index uint64
	Type  MessageType
	Cause error
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("raft entry %d (type %s) cannot be applied: %v; stopping this server so its state cannot diverge "+
		"from the other servers'. Recovery: run an orch version that understands the entry, or, if the entry is corrupt, "+
		"remove this server's data dir and let it rejoin to copy the state from the others", e.Index, e.Type, e.Cause)
}

func (e *HaltError) Unwrap() error { return e.Cause }

// Options are the FSM's hooks. All are optional.
type Options struct {
	Logger *slog.Logger
	// Halt is called with an entry the FSM cannot apply and must not
	// return. The default logs the error and panics: FSM.Apply runs on
	// hashicorp/raft's FSM goroutine, which does not recover, so the
	// process stops with the message and a stack trace whatever the
	// caller. Tests replace it to observe the decision.
	Halt func(*HaltError)
	// OnCommit is told, after every entry that changed state, what it did
	// (see state.Effects). It runs on Raft's apply goroutine: it must not
	// block, and must never wait for Raft.
	OnCommit func(index uint64, effects state.Effects)
}

// FSM applies log entries to a state.Store. It implements raft.FSM.
type FSM struct {
	store    *state.Store
	logger   *slog.Logger
	halt     func(*HaltError)
	onCommit func(uint64, state.Effects)
	applied  appliedIndex
	// beforeApply lets in-package tests make a handler panic.
	beforeApply func(body any)
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM writing to store. A nil logger discards logs.
func New(store *state.Store, logger *slog.Logger) *FSM {
	return NewWithOptions(store, Options{Logger: logger})
}

// NewWithOptions returns an FSM writing to store with the given hooks.
func NewWithOptions(store *state.Store, o Options) *FSM {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{store: store, logger: o.Logger.With("component", "fsm"), halt: o.Halt, onCommit: o.OnCommit}
	if f.halt == nil {
		f.halt = f.defaultHalt
	}
	f.applied.init()
	return f
}

func (f *FSM) defaultHalt(e *HaltError) {
	f.logger.Error("stopping the server: raft entry cannot be applied", "index", e.Index, "type", e.Type.String(), "error", e.Cause)
	panic(e)
}

// State returns the store. It is the same *state.Store for the FSM's whole
// life: a snapshot restore replaces the store's contents in place (and wakes
// its blocking queries), so holding on to it is safe.
func (f *FSM) State() *state.Store { return f.store }

// Apply applies one committed entry and returns *ApplyResult. An entry of
// an unknown type (without IgnoreUnknownTypeFlag), one whose body does not
// decode, or one whose handler panics halts the server; an entry whose
// handler rejects it (deterministic validation: every replica rejects it
// alike) is logged and returned as a result.
func (f *FSM) Apply(l *raft.Log) any {
	defer f.applied.set(l.Index)
	out := &ApplyResult{Index: l.Index}
	t, body, err := Decode(l.Data)
	if err != nil {
		if errors.Is(err, ErrUnknownType) && t&IgnoreUnknownTypeFlag != 0 {
			f.logger.Warn("ignoring unknown log entry type", "index", l.Index, "type", uint8(t))
			return out
		}
		f.halt(&HaltError{Index: l.Index, Type: t &^ IgnoreUnknownTypeFlag, Cause: err})
		out.Err = err // reached only when a test's Halt returns
		return out
	}
	t &^= IgnoreUnknownTypeFlag
	effects, err := f.applySafely(l.Index, t, body)
	if err != nil {
		var he *HaltError
		if errors.As(err, &he) {
			he.Type = t
			f.halt(he)
		} else {
			f.logger.Warn("raft entry rejected", "index", l.Index, "type", t.String(), "error", err)
		}
		out.Err = fmt.Errorf("apply %s at %d: %w", t, l.Index, err)
		return out
	}
	if f.onCommit != nil && (len(effects.Evals) > 0 || effects.CapacityFreed) {
		f.onCommit(l.Index, effects)
	}
	return out
}

// applySafely runs a handler and turns a panic into a HaltError: a handler
// that panics on an entry would panic on every replica, or worse, only on
// some.
func (f *FSM) applySafely(index uint64, t MessageType, body any) (effects state.Effects, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &HaltError{Index: index, Type: t, Cause: fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())}
		}
	}()
	return f.apply(index, body)
}

// apply runs a decoded body in one state transaction.
func (f *FSM) apply(index uint64, body any) (state.Effects, error) {
	txn := f.store.WriteTxn(index)
	defer txn.Abort()
	if f.beforeApply != nil {
		f.beforeApply(body)
	}
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
		err = applyPlanResults(txn, b)
	case *EvalUpsert:
		err = txn.UpsertEvals(b.Evals)
	case *EvalDelete:
		err = txn.DeleteEvals(b.EvalIDs)
	case *GCDelete:
		err = applyGCDelete(txn, b)
	case *NodeClientRegister:
		err = applyNodeClientRegister(txn, b)
	case *NodeStatusChange:
		err = applyNodeStatusChange(txn, b)
	default:
		if k, ok := registeredKind(body); ok {
			err = k.apply(txn, body)
			break
		}
		// Decode knows the type but no handler does: a programming
		// error that every replica of this version shares.
		return state.Effects{}, &HaltError{Index: index, Cause: fmt.Errorf("no handler for body %T", body)}
	}
	if err != nil {
		return state.Effects{}, err
	}
	if err := txn.Commit(); err != nil {
		return state.Effects{}, err
	}
	return txn.Effects(), nil
}

func applyJobRegister(txn *state.WriteTxn, b *JobRegister) error {
	if b.Job == nil {
		return errors.New("missing job")
	}
	// The leader checked this; a namespace deleted meanwhile makes every
	// replica refuse the job alike.
	if ns, err := txn.Reader().NamespaceByName(nil, b.Job.Namespace); err != nil {
		return err
	} else if ns == nil {
		return fmt.Errorf("job %q is in nonexistent namespace %q", b.Job.ID, b.Job.Namespace)
	}
	if b.EnforceIndex {
		if err := checkEnforceIndex(txn, b.Job.Namespace, b.Job.ID, b.JobModifyIndex); err != nil {
			return err
		}
	}
	if err := txn.UpsertJob(b.Job, b.SubmitTime); err != nil {
		return err
	}
	if err := storeSubmission(txn, b.Job, b.Submission); err != nil {
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
	if b.NoShutdownDelay {
		yes := true
		if err := txn.UpdateJobAllocsDesiredTransition(b.Namespace, b.JobID,
			structs.DesiredTransition{NoShutdownDelay: &yes}, b.Time); err != nil {
			return err
		}
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
		lostJobs, err := markNodeAllocsLost(txn, b)
		if err != nil {
			return err
		}
		if b.NodeEvals {
			if err := txn.UpsertEvals(nodeDownEvals(txn, b, lostJobs)); err != nil {
				return err
			}
		}
	}
	return txn.UpsertEvals(b.Evals)
}

// markNodeAllocsLost marks every allocation on a down node whose client has
// not finished it as lost, and returns the jobs of those the scheduler
// still wanted running, in a fixed order.
func markNodeAllocsLost(txn *state.WriteTxn, b *NodeStatusUpdate) ([]*structs.Job, error) {
	allocs, err := txn.Reader().AllocsByNode(nil, b.NodeID)
	if err != nil {
		return nil, err
	}
	var lost []*structs.Allocation
	var jobs []*structs.Job
	seen := map[structs.NamespacedID]bool{}
	for _, a := range allocs {
		if a.ClientTerminalStatus() {
			continue
		}
		lost = append(lost, &structs.Allocation{
			ID: a.ID, ClientStatus: structs.AllocClientStatusLost,
			ClientDescription: nodeDownDescription, TaskStates: a.TaskStates,
		})
		key := structs.NamespacedID{Namespace: a.Namespace, ID: a.JobID}
		if a.DesiredStatus == structs.AllocDesiredStatusRun && a.Job != nil && !seen[key] {
			seen[key] = true
			jobs = append(jobs, a.Job)
		}
	}
	if err := txn.UpdateAllocsFromClient(lost, b.Time); err != nil {
		return nil, err
	}
	return jobs, nil
}

// nodeDownEvals builds one evaluation per job that lost allocations with
// the node. Computing them here, inside the transaction that marks the
// allocations lost, covers an allocation placed on the node after the
// leader decided the node was down but before this entry committed. IDs
// derive from the entry's index, so every replica creates the same evals.
func nodeDownEvals(txn *state.WriteTxn, b *NodeStatusUpdate, jobs []*structs.Job) []*structs.Evaluation {
	evals := make([]*structs.Evaluation, 0, len(jobs))
	for _, j := range jobs {
		// The current job, when it still exists, has the priority and
		// type the scheduler should use.
		if cur, err := txn.Reader().JobByID(nil, j.Namespace, j.ID); err == nil && cur != nil {
			j = cur
		}
		evals = append(evals, &structs.Evaluation{
			ID:        DerivedID(txn.Index(), "node-down", b.NodeID, j.Namespace, j.ID),
			Namespace: j.Namespace, Priority: j.Priority, Type: j.Type,
			TriggeredBy: structs.EvalTriggerNodeUpdate, JobID: j.ID, NodeID: b.NodeID,
			Status: structs.EvalStatusPending, CreateTime: b.Time, ModifyTime: b.Time,
		})
	}
	return evals
}

// DerivedID is a UUID-shaped ID computed from an entry's index and names:
// the FSM may not draw random IDs (replicas would disagree), so objects it
// creates itself get IDs that every replica derives alike.
func DerivedID(index uint64, parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d", index)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 (name-based, SHA)
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func applyAllocClientUpdate(txn *state.WriteTxn, b *AllocClientUpdate) error {
	if err := txn.UpdateAllocsFromClient(b.Allocs, b.Time); err != nil {
		return err
	}
	return txn.UpsertEvals(b.Evals)
}
