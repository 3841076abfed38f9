package structs

import "time"

// Diff types of JobDiff, TaskGroupDiff, TaskDiff, ObjectDiff and FieldDiff.
const (
	DiffTypeNone    = "None"
	DiffTypeAdded   = "Added"
	DiffTypeDeleted = "Deleted"
	DiffTypeEdited  = "Edited"
)

// Annotations of task diffs and their groups' update counts, as Nomad
// prints them in `job plan`.
const (
	AnnotationForcesCreate            = "forces create"
	AnnotationForcesDestroy           = "forces destroy"
	AnnotationForcesInplaceUpdate     = "forces in-place update"
	AnnotationForcesDestructiveUpdate = "forces create/destroy update"

	UpdateTypeIgnore            = "ignore"
	UpdateTypeCreate            = "create"
	UpdateTypeDestroy           = "destroy"
	UpdateTypeMigrate           = "migrate"
	UpdateTypeCanary            = "canary"
	UpdateTypeInplaceUpdate     = "in-place update"
	UpdateTypeDestructiveUpdate = "create/destroy update"
	UpdateTypeRescheduleNow     = "reschedule now"
	UpdateTypeRescheduleLater   = "reschedule later"
)

// JobDiff is the difference between two versions of a job.
type JobDiff struct {
	Type       string           `json:"Type"`
	ID         string           `json:"ID"`
	Fields     []*FieldDiff     `json:"Fields"`
	Objects    []*ObjectDiff    `json:"Objects"`
	TaskGroups []*TaskGroupDiff `json:"TaskGroups"`
}

// TaskGroupDiff is the difference of one group; Updates counts what a plan
// would do to its allocations, by update type.
type TaskGroupDiff struct {
	Type    string            `json:"Type"`
	Name    string            `json:"Name"`
	Fields  []*FieldDiff      `json:"Fields"`
	Objects []*ObjectDiff     `json:"Objects"`
	Tasks   []*TaskDiff       `json:"Tasks"`
	Updates map[string]uint64 `json:"Updates"`
}

// TaskDiff is the difference of one task; Annotations say whether it
// forces a destructive or in-place update.
type TaskDiff struct {
	Type        string        `json:"Type"`
	Name        string        `json:"Name"`
	Fields      []*FieldDiff  `json:"Fields"`
	Objects     []*ObjectDiff `json:"Objects"`
	Annotations []string      `json:"Annotations"`
}

// ObjectDiff is the difference of a nested object (a block).
type ObjectDiff struct {
	Type    string        `json:"Type"`
	Name    string        `json:"Name"`
	Fields  []*FieldDiff  `json:"Fields"`
	Objects []*ObjectDiff `json:"Objects"`
}

// FieldDiff is the difference of one primitive field, values rendered as text.
type FieldDiff struct {
	Type        string   `json:"Type"`
	Name        string   `json:"Name"`
	Old         string   `json:"Old"`
	New         string   `json:"New"`
	Annotations []string `json:"Annotations"`
}

// JobPlanRequest is the body of PUT /v1/job/<id>/plan.
type JobPlanRequest struct {
	Job            *Job   `json:"Job"`
	Diff           bool   `json:"Diff"`
	PolicyOverride bool   `json:"PolicyOverride"`
	Region         string `json:"Region,omitempty"`
	Namespace      string `json:"Namespace,omitempty"`
}

// JobPlanResponse is the outcome of a scheduler dry run.
type JobPlanResponse struct {
	// JobModifyIndex is the job's current modify index (0 for a new job):
	// passing it to a register with EnforceIndex fails if the job changed
	// since the plan.
	JobModifyIndex     uint64                  `json:"JobModifyIndex"`
	CreatedEvals       []*Evaluation           `json:"CreatedEvals"`
	Diff               *JobDiff                `json:"Diff"`
	Annotations        *PlanAnnotations        `json:"Annotations"`
	FailedTGAllocs     map[string]*AllocMetric `json:"FailedTGAllocs"`
	NextPeriodicLaunch time.Time               `json:"NextPeriodicLaunch"`
	Warnings           string                  `json:"Warnings"`
	Index              uint64                  `json:"Index"`
}

// PlanAnnotations explain a plan per group.
type PlanAnnotations struct {
	DesiredTGUpdates map[string]*DesiredUpdates `json:"DesiredTGUpdates"`
	PreemptedAllocs  []*AllocListStub           `json:"PreemptedAllocs"`
}

// DesiredUpdates counts what the scheduler does to one group's allocations.
type DesiredUpdates struct {
	Ignore            uint64 `json:"Ignore"`
	Place             uint64 `json:"Place"`
	Migrate           uint64 `json:"Migrate"`
	Stop              uint64 `json:"Stop"`
	InPlaceUpdate     uint64 `json:"InPlaceUpdate"`
	DestructiveUpdate uint64 `json:"DestructiveUpdate"`
	Canary            uint64 `json:"Canary"`
	Preemptions       uint64 `json:"Preemptions"`
	Disconnect        uint64 `json:"Disconnect"`
	Reconnect         uint64 `json:"Reconnect"`
	RescheduleNow     uint64 `json:"RescheduleNow"`
	RescheduleLater   uint64 `json:"RescheduleLater"`
}

// JobRevertRequest is the body of PUT /v1/job/<id>/revert.
type JobRevertRequest struct {
	JobID      string `json:"JobID"`
	JobVersion uint64 `json:"JobVersion"`
	// EnforcePriorVersion, when set, reverts only if the job is still at
	// that version.
	EnforcePriorVersion *uint64 `json:"EnforcePriorVersion"`
	Region              string  `json:"Region,omitempty"`
	Namespace           string  `json:"Namespace,omitempty"`
}

// JobStabilityRequest is the body of PUT /v1/job/<id>/stable.
type JobStabilityRequest struct {
	JobID      string `json:"JobID"`
	JobVersion uint64 `json:"JobVersion"`
	Stable     bool   `json:"Stable"`
}

// JobStabilityResponse answers PUT /v1/job/<id>/stable.
type JobStabilityResponse struct {
	JobModifyIndex uint64 `json:"JobModifyIndex"`
	Index          uint64 `json:"Index"`
}

// JobEvaluateRequest is the body of PUT /v1/job/<id>/evaluate.
type JobEvaluateRequest struct {
	JobID       string      `json:"JobID"`
	EvalOptions EvalOptions `json:"EvalOptions"`
}

// EvalOptions tune a forced evaluation.
type EvalOptions struct {
	// ForceReschedule replaces the job's failed allocations now, whatever
	// their reschedule policy allows.
	ForceReschedule bool `json:"ForceReschedule"`
}
