package structs

import "time"

// Evaluation status values.
const (
	EvalStatusBlocked   = "blocked"
	EvalStatusPending   = "pending"
	EvalStatusComplete  = "complete"
	EvalStatusFailed    = "failed"
	EvalStatusCancelled = "canceled"
)

// What triggered an evaluation.
const (
	EvalTriggerJobRegister      = "job-register"
	EvalTriggerJobDeregister    = "job-deregister"
	EvalTriggerNodeUpdate       = "node-update"
	EvalTriggerAllocStop        = "alloc-stop"
	EvalTriggerNodeDrain        = "node-drain"
	EvalTriggerRetryFailedAlloc = "alloc-failure"
	EvalTriggerQueuedAllocs     = "queued-allocs"
	EvalTriggerMaxPlans         = "max-plan-attempts"
	EvalTriggerFailedFollowUp   = "failed-follow-up"
	EvalTriggerRollingUpdate    = "rolling-update"

	EvalTriggerDeploymentWatcher = "deployment-watcher"

	// EvalTriggerReconnect: an allocation of a disconnected node was
	// reported again, as Nomad's "reconnect".
	EvalTriggerReconnect = "reconnect"
)

// Evaluation asks the scheduler to reconcile one job with the cluster.
type Evaluation struct {
	ID                string        `json:"ID"`
	Namespace         string        `json:"Namespace"`
	Priority          int           `json:"Priority"`
	Type              string        `json:"Type"`
	TriggeredBy       string        `json:"TriggeredBy"`
	JobID             string        `json:"JobID"`
	JobModifyIndex    uint64        `json:"JobModifyIndex"`
	NodeID            string        `json:"NodeID"`
	NodeModifyIndex   uint64        `json:"NodeModifyIndex"`
	Status            string        `json:"Status"`
	StatusDescription string        `json:"StatusDescription"`
	Wait              time.Duration `json:"Wait"`
	// WaitUntil holds a follow-up eval (e.g. a delayed reschedule) in the
	// broker until then; zero means ready now.
	WaitUntil      time.Time               `json:"WaitUntil"`
	NextEval       string                  `json:"NextEval"`
	PreviousEval   string                  `json:"PreviousEval"`
	BlockedEval    string                  `json:"BlockedEval"`
	RelatedEvals   []*EvaluationStub       `json:"RelatedEvals,omitempty"`
	FailedTGAllocs map[string]*AllocMetric `json:"FailedTGAllocs"`
	// ClassEligibility and EscapedComputedClass let blocked evals wake only
	// when capacity relevant to them appears.
	ClassEligibility     map[string]bool `json:"ClassEligibility"`
	EscapedComputedClass bool            `json:"EscapedComputedClass"`
	QueuedAllocations    map[string]int  `json:"QueuedAllocations"`
	SnapshotIndex        uint64          `json:"SnapshotIndex"`
	CreateIndex          uint64          `json:"CreateIndex"`
	ModifyIndex          uint64          `json:"ModifyIndex"`
	// CreateTime and ModifyTime are Unix nanoseconds, stamped by the leader.
	CreateTime int64 `json:"CreateTime"`
	ModifyTime int64 `json:"ModifyTime"`

	// DeploymentID names the deployment whose progress triggered the eval.
	DeploymentID string `json:"DeploymentID"`
}

// Terminal reports whether the evaluation is finished.
func (e *Evaluation) Terminal() bool {
	switch e.Status {
	case EvalStatusComplete, EvalStatusFailed, EvalStatusCancelled:
		return true
	}
	return false
}

// Copy returns a shallow copy.
func (e *Evaluation) Copy() *Evaluation {
	c := *e
	return &c
}

// EvaluationStub is an evaluation's summary, used for related evals.
type EvaluationStub struct {
	ID                string `json:"ID"`
	Namespace         string `json:"Namespace"`
	Priority          int    `json:"Priority"`
	Type              string `json:"Type"`
	TriggeredBy       string `json:"TriggeredBy"`
	JobID             string `json:"JobID"`
	NodeID            string `json:"NodeID"`
	Status            string `json:"Status"`
	StatusDescription string `json:"StatusDescription"`
	NextEval          string `json:"NextEval"`
	PreviousEval      string `json:"PreviousEval"`
	BlockedEval       string `json:"BlockedEval"`
	CreateIndex       uint64 `json:"CreateIndex"`
	ModifyIndex       uint64 `json:"ModifyIndex"`
	CreateTime        int64  `json:"CreateTime"`
	ModifyTime        int64  `json:"ModifyTime"`
}

// Stub returns the evaluation's summary.
func (e *Evaluation) Stub() *EvaluationStub {
	return &EvaluationStub{
		ID: e.ID, Namespace: e.Namespace, Priority: e.Priority, Type: e.Type, TriggeredBy: e.TriggeredBy,
		JobID: e.JobID, NodeID: e.NodeID, Status: e.Status, StatusDescription: e.StatusDescription,
		NextEval: e.NextEval, PreviousEval: e.PreviousEval, BlockedEval: e.BlockedEval,
		CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex, CreateTime: e.CreateTime, ModifyTime: e.ModifyTime,
	}
}

// AllocMetric explains a placement: how many nodes were looked at and why
// they were rejected. On an eval's FailedTGAllocs it says why a group could
// not be placed.
type AllocMetric struct {
	NodesEvaluated     int                   `json:"NodesEvaluated"`
	NodesFiltered      int                   `json:"NodesFiltered"`
	NodesInPool        int                   `json:"NodesInPool"`
	NodesAvailable     map[string]int        `json:"NodesAvailable"`
	ClassFiltered      map[string]int        `json:"ClassFiltered"`
	ConstraintFiltered map[string]int        `json:"ConstraintFiltered"`
	NodesExhausted     int                   `json:"NodesExhausted"`
	ClassExhausted     map[string]int        `json:"ClassExhausted"`
	DimensionExhausted map[string]int        `json:"DimensionExhausted"`
	QuotaExhausted     []string              `json:"QuotaExhausted"`
	ResourcesExhausted map[string]*Resources `json:"ResourcesExhausted"`
	ScoreMetaData      []*NodeScoreMeta      `json:"ScoreMetaData"`
	AllocationTime     time.Duration         `json:"AllocationTime"`
	CoalescedFailures  int                   `json:"CoalescedFailures"`
}

// NodeScoreMeta is one candidate node's scores.
type NodeScoreMeta struct {
	NodeID    string             `json:"NodeID"`
	Scores    map[string]float64 `json:"Scores"`
	NormScore float64            `json:"NormScore"`
}
