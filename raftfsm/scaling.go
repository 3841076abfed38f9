package raftfsm

import (
	"errors"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// Entries of job scaling: types 40-44.
const (
	JobScaleType MessageType = 40
)

// JobScale changes a group's count (a new job version) and/or records a
// scaling event, with the evaluation a count change calls for. The leader
// checked the count against the group's scaling policy.
type JobScale struct {
	Namespace  string                `json:"Namespace"`
	JobID      string                `json:"JobID"`
	Group      string                `json:"Group"`
	Count      *int64                `json:"Count"`
	Event      *structs.ScalingEvent `json:"Event"`
	Eval       *structs.Evaluation   `json:"Eval"`
	SubmitTime int64                 `json:"SubmitTime"`
}

func init() {
	register(JobScaleType, "JobScale", applyJobScale)
}

func applyJobScale(txn *state.WriteTxn, b *JobScale) error {
	if b.JobID == "" || b.Group == "" {
		return errors.New("missing job ID or group")
	}
	if b.Count != nil && *b.Count < 0 {
		return errors.New("negative count")
	}
	if err := txn.ScaleJob(b.Namespace, b.JobID, b.Group, b.Count, b.Event, b.SubmitTime); err != nil {
		return err
	}
	return upsertEval(txn, b.Eval)
}
