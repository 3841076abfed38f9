// Package raftfsm is orch's Raft state machine: the log entry format
// (a one-byte MessageType followed by a JSON body) and the FSM that applies
// entries to a state.Store, snapshots it and restores it.
//
// Every time in a message is Unix nanoseconds stamped by the leader before
// the entry is appended; the FSM never reads the clock, so replaying a log
// always yields the same state.
package raftfsm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orch-project/orch/structs"
)

// MessageType is the first byte of every log entry.
type MessageType uint8

// Message types. Values are part of the on-disk log format: append only,
// never renumber. Zero is deliberately unused so an empty entry is invalid.
const (
	JobRegisterType       MessageType = 1
	JobDeregisterType     MessageType = 2
	NodeRegisterType      MessageType = 3
	NodeStatusUpdateType  MessageType = 4
	AllocClientUpdateType MessageType = 5
	ApplyPlanResultsType  MessageType = 6
	EvalUpsertType        MessageType = 7
	EvalDeleteType        MessageType = 8
	GCDeleteType          MessageType = 9

	// Control channel (15-19).
	NodeClientRegisterType MessageType = 15
	NodeStatusChangeType   MessageType = 16
)

// IgnoreUnknownTypeFlag may be OR-ed into a type by a newer leader for
// entries an older FSM can safely skip; without it an unknown type is an error.
const IgnoreUnknownTypeFlag MessageType = 0x80

func (t MessageType) String() string {
	switch t {
	case JobRegisterType:
		return "JobRegister"
	case JobDeregisterType:
		return "JobDeregister"
	case NodeRegisterType:
		return "NodeRegister"
	case NodeStatusUpdateType:
		return "NodeStatusUpdate"
	case AllocClientUpdateType:
		return "AllocClientUpdate"
	case ApplyPlanResultsType:
		return "ApplyPlanResults"
	case EvalUpsertType:
		return "EvalUpsert"
	case EvalDeleteType:
		return "EvalDelete"
	case GCDeleteType:
		return "GCDelete"
	case NodeClientRegisterType:
		return "NodeClientRegister"
	case NodeStatusChangeType:
		return "NodeStatusChange"
	}
	if k, ok := registered[t]; ok {
		return k.name
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// JobRegister registers or updates a job, optionally with its evaluation.
type JobRegister struct {
	Job        *structs.Job           `json:"Job"`
	Eval       *structs.Evaluation    `json:"Eval"`
	Submission *structs.JobSubmission `json:"Submission"`
	SubmitTime int64                  `json:"SubmitTime"`

	// EnforceIndex registers the job only if its JobModifyIndex is still
	// JobModifyIndex (0: only if the job does not exist). Checked when the
	// entry applies, so two racing writers cannot both pass.
	EnforceIndex   bool   `json:"EnforceIndex,omitempty"`
	JobModifyIndex uint64 `json:"JobModifyIndex,omitempty"`
}

// JobDeregister stops a job (a new version with Stop set) or, with Purge,
// deletes it with its versions and summary.
type JobDeregister struct {
	Namespace string              `json:"Namespace"`
	JobID     string              `json:"JobID"`
	Purge     bool                `json:"Purge"`
	Eval      *structs.Evaluation `json:"Eval"`
	Time      int64               `json:"Time"`
	// NoShutdownDelay marks the job's live allocations so the stop skips
	// their shutdown delays.
	NoShutdownDelay bool `json:"NoShutdownDelay,omitempty"`
}

// NodeRegister registers or refreshes a node and creates evaluations for it.
type NodeRegister struct {
	Node  *structs.Node         `json:"Node"`
	Evals []*structs.Evaluation `json:"Evals"`
	Time  int64                 `json:"Time"`
}

// NodeStatusUpdate changes a node's status. Status "down" also marks every
// allocation on the node whose client has not finished it as lost; with
// NodeEvals the FSM then creates, in the same transaction, one evaluation
// per job that lost allocations (entries written before NodeEvals existed
// carry precomputed Evals instead).
type NodeStatusUpdate struct {
	NodeID    string                `json:"NodeID"`
	Status    string                `json:"Status"`
	NodeEvals bool                  `json:"NodeEvals,omitempty"`
	Evals     []*structs.Evaluation `json:"Evals"`
	Time      int64                 `json:"Time"`
}

// AllocClientUpdate carries client-side allocation status reports.
type AllocClientUpdate struct {
	Allocs []*structs.Allocation `json:"Allocs"`
	Evals  []*structs.Evaluation `json:"Evals"`
	Time   int64                 `json:"Time"`
}

// ApplyPlanResults commits what the plan applier accepted of one plan.
// AllocsUpdated carry no Job: the FSM attaches the stored job version their
// JobVersion names. Job is the plan's job, carried for the record.
type ApplyPlanResults struct {
	EvalID        string                `json:"EvalID"`
	Job           *structs.Job          `json:"Job"`
	AllocsUpdated []*structs.Allocation `json:"AllocsUpdated"`
	AllocsStopped []*structs.Allocation `json:"AllocsStopped"`
	EvalUpdates   []*structs.Evaluation `json:"EvalUpdates"`
	Time          int64                 `json:"Time"`

	// Deployment is created or updated by the plan; DeploymentUpdates
	// change the status of deployments (cancelled, successful).
	Deployment        *structs.Deployment               `json:"Deployment,omitempty"`
	DeploymentUpdates []*structs.DeploymentStatusUpdate `json:"DeploymentUpdates,omitempty"`
}

// EvalUpsert creates or updates evaluations.
type EvalUpsert struct {
	Evals []*structs.Evaluation `json:"Evals"`
	Time  int64                 `json:"Time"`
}

// EvalDelete removes evaluations.
type EvalDelete struct {
	EvalIDs []string `json:"EvalIDs"`
}

// newBody returns a pointer to a zero body of type t, or nil if t is unknown.
func newBody(t MessageType) any {
	switch t {
	case JobRegisterType:
		return &JobRegister{}
	case JobDeregisterType:
		return &JobDeregister{}
	case NodeRegisterType:
		return &NodeRegister{}
	case NodeStatusUpdateType:
		return &NodeStatusUpdate{}
	case AllocClientUpdateType:
		return &AllocClientUpdate{}
	case ApplyPlanResultsType:
		return &ApplyPlanResults{}
	case EvalUpsertType:
		return &EvalUpsert{}
	case EvalDeleteType:
		return &EvalDelete{}
	case GCDeleteType:
		return &GCDelete{}
	case NodeClientRegisterType:
		return &NodeClientRegister{}
	case NodeStatusChangeType:
		return &NodeStatusChange{}
	}
	if k, ok := registered[t]; ok {
		return k.newBody()
	}
	return nil
}

// ErrUnknownType is wrapped when an entry's message type is not known.
var ErrUnknownType = errors.New("unknown message type")

// bodyMatches reports whether body (value or pointer) is t's body type.
func bodyMatches(t MessageType, body any) bool {
	switch body.(type) {
	case JobRegister, *JobRegister:
		return t == JobRegisterType
	case JobDeregister, *JobDeregister:
		return t == JobDeregisterType
	case NodeRegister, *NodeRegister:
		return t == NodeRegisterType
	case NodeStatusUpdate, *NodeStatusUpdate:
		return t == NodeStatusUpdateType
	case AllocClientUpdate, *AllocClientUpdate:
		return t == AllocClientUpdateType
	case ApplyPlanResults, *ApplyPlanResults:
		return t == ApplyPlanResultsType
	case EvalUpsert, *EvalUpsert:
		return t == EvalUpsertType
	case EvalDelete, *EvalDelete:
		return t == EvalDeleteType
	case GCDelete, *GCDelete:
		return t == GCDeleteType
	case NodeClientRegister, *NodeClientRegister:
		return t == NodeClientRegisterType
	case NodeStatusChange, *NodeStatusChange:
		return t == NodeStatusChangeType
	}
	if k, ok := registered[t]; ok {
		return k.matches(body)
	}
	return false
}

// Encode builds a log entry: the type byte followed by body as JSON. body
// must be t's body struct (value or pointer); a mismatch is an error so a
// wrongly typed entry never reaches the log.
func Encode(t MessageType, body any) ([]byte, error) {
	base := t &^ IgnoreUnknownTypeFlag
	if newBody(base) == nil {
		return nil, fmt.Errorf("encode %s: %w", t, ErrUnknownType)
	}
	if !bodyMatches(base, body) {
		return nil, fmt.Errorf("encode %s: body of type %T does not match", base, body)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", base, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// Decode splits a log entry into its type (flag bits included) and body,
// returned as a pointer to the body struct. An unknown type yields
// ErrUnknownType with the type still set, so callers can honour
// IgnoreUnknownTypeFlag.
func Decode(buf []byte) (MessageType, any, error) {
	if len(buf) == 0 {
		return 0, nil, errors.New("decode: empty log entry")
	}
	t := MessageType(buf[0])
	body := newBody(t &^ IgnoreUnknownTypeFlag)
	if body == nil {
		return t, nil, fmt.Errorf("decode: %w %d", ErrUnknownType, uint8(t))
	}
	if err := json.Unmarshal(buf[1:], body); err != nil {
		return t, nil, fmt.Errorf("decode %s body: %w", t&^IgnoreUnknownTypeFlag, err)
	}
	return t, body, nil
}
