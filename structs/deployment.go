package structs

import (
	"fmt"
	"time"
)

// Deployment status values.
const (
	DeploymentStatusRunning    = "running"
	DeploymentStatusPaused     = "paused"
	DeploymentStatusFailed     = "failed"
	DeploymentStatusSuccessful = "successful"
	DeploymentStatusCancelled  = "cancelled"
)

// Deployment status descriptions, with Nomad's wording (operators and tools
// match on them).
const (
	DeploymentDescRunning               = "Deployment is running"
	DeploymentDescRunningNeedsPromotion = "Deployment is running but requires manual promotion"
	DeploymentDescRunningAutoPromotion  = "Deployment is running pending automatic promotion"
	DeploymentDescPaused                = "Deployment is paused"
	DeploymentDescSuccessful            = "Deployment completed successfully"
	DeploymentDescStoppedJob            = "Cancelled because job is stopped"
	DeploymentDescNewerJob              = "Cancelled due to newer version of job"
	DeploymentDescFailedAllocations     = "Failed due to unhealthy allocations"
	DeploymentDescProgressDeadline      = "Failed due to progress deadline"
	DeploymentDescFailedByUser          = "Deployment marked as failed"
)

// DeploymentDescRollback is desc with the version auto_revert rolls back to.
func DeploymentDescRollback(desc string, version uint64) string {
	return fmt.Sprintf("%s - rolling back to job version %d", desc, version)
}

// DeploymentDescRollbackNoop says why a failed deployment did not revert:
// the stable version's spec is the current one.
func DeploymentDescRollbackNoop(desc string, version uint64) string {
	return fmt.Sprintf("%s - not rolling back to stable job version %d as current job has same specification", desc, version)
}

// DeploymentDescNoRollbackTarget says a failed deployment had no stable
// version to revert to.
func DeploymentDescNoRollbackTarget(desc string) string {
	return desc + " - no stable job version to auto revert to"
}

// Deployment tracks the rollout of one job version: per group, how many
// allocations of the version were placed and how many proved healthy. It is
// created by the scheduler, advanced by allocation health reports and ended
// by the scheduler (success) or the leader's deployment watcher (failure).
type Deployment struct {
	ID        string `json:"ID"`
	Namespace string `json:"Namespace"`
	JobID     string `json:"JobID"`
	// JobVersion, JobModifyIndex, JobSpecModifyIndex and JobCreateIndex
	// identify the job version rolled out; JobCreateIndex tells deployments
	// of a purged and re-created job apart.
	JobVersion         uint64                      `json:"JobVersion"`
	JobModifyIndex     uint64                      `json:"JobModifyIndex"`
	JobSpecModifyIndex uint64                      `json:"JobSpecModifyIndex"`
	JobCreateIndex     uint64                      `json:"JobCreateIndex"`
	IsMultiregion      bool                        `json:"IsMultiregion"`
	TaskGroups         map[string]*DeploymentState `json:"TaskGroups"`
	Status             string                      `json:"Status"`
	StatusDescription  string                      `json:"StatusDescription"`
	// EvalPriority is the priority of the evals the deployment creates.
	EvalPriority int    `json:"EvalPriority"`
	CreateIndex  uint64 `json:"CreateIndex"`
	ModifyIndex  uint64 `json:"ModifyIndex"`
	// CreateTime and ModifyTime are Unix nanoseconds, stamped by the leader.
	CreateTime int64 `json:"CreateTime"`
	ModifyTime int64 `json:"ModifyTime"`
}

// DeploymentState is one group's progress in a deployment.
type DeploymentState struct {
	// AutoRevert, AutoPromote and ProgressDeadline are copied from the
	// group's update block when the deployment is created.
	AutoRevert       bool          `json:"AutoRevert"`
	AutoPromote      bool          `json:"AutoPromote"`
	ProgressDeadline time.Duration `json:"ProgressDeadline"`
	// RequireProgressBy is when the group must next see an allocation turn
	// healthy (or a promotion), else the deployment fails. Zero until the
	// first allocation is placed.
	RequireProgressBy time.Time `json:"RequireProgressBy"`
	Promoted          bool      `json:"Promoted"`
	PlacedCanaries    []string  `json:"PlacedCanaries"`
	DesiredCanaries   int       `json:"DesiredCanaries"`
	DesiredTotal      int       `json:"DesiredTotal"`
	PlacedAllocs      int       `json:"PlacedAllocs"`
	HealthyAllocs     int       `json:"HealthyAllocs"`
	UnhealthyAllocs   int       `json:"UnhealthyAllocs"`
}

// Active reports whether the deployment is still in progress.
func (d *Deployment) Active() bool {
	return d.Status == DeploymentStatusRunning || d.Status == DeploymentStatusPaused
}

// HasCanaries reports whether any group waits on (or had) canaries.
func (d *Deployment) HasCanaries() bool {
	for _, s := range d.TaskGroups {
		if s != nil && s.DesiredCanaries > 0 {
			return true
		}
	}
	return false
}

// RequiresPromotion reports whether some group's canaries still await promotion.
func (d *Deployment) RequiresPromotion() bool {
	for _, s := range d.TaskGroups {
		if s != nil && s.DesiredCanaries > 0 && !s.Promoted {
			return true
		}
	}
	return false
}

// Copy returns a copy whose group states may be changed without touching d.
func (d *Deployment) Copy() *Deployment {
	c := *d
	c.TaskGroups = make(map[string]*DeploymentState, len(d.TaskGroups))
	for name, s := range d.TaskGroups {
		if s == nil {
			continue
		}
		sc := *s
		sc.PlacedCanaries = append([]string(nil), s.PlacedCanaries...)
		c.TaskGroups[name] = &sc
	}
	return &c
}

// AllocDeploymentStatus is an allocation's standing in its deployment:
// whether it is a canary (set by the scheduler) and, once decided, whether
// it proved healthy (set by the client, or by an operator for health_check
// "manual").
type AllocDeploymentStatus struct {
	Healthy *bool `json:"Healthy"`
	// Timestamp is when health was decided.
	Timestamp   time.Time `json:"Timestamp"`
	Canary      bool      `json:"Canary"`
	ModifyIndex uint64    `json:"ModifyIndex"`
}

// HealthSet reports whether health was decided.
func (s *AllocDeploymentStatus) HealthSet() bool { return s != nil && s.Healthy != nil }

// IsHealthy reports whether the allocation was found healthy.
func (s *AllocDeploymentStatus) IsHealthy() bool { return s != nil && s.Healthy != nil && *s.Healthy }

// IsUnhealthy reports whether the allocation was found unhealthy.
func (s *AllocDeploymentStatus) IsUnhealthy() bool {
	return s != nil && s.Healthy != nil && !*s.Healthy
}

// IsCanary reports whether the allocation was placed as a canary.
func (s *AllocDeploymentStatus) IsCanary() bool { return s != nil && s.Canary }

// DeploymentStatusUpdate changes a deployment's status.
type DeploymentStatusUpdate struct {
	DeploymentID      string `json:"DeploymentID"`
	Status            string `json:"Status"`
	StatusDescription string `json:"StatusDescription"`
}

// DeploymentPromoteRequest is the body of PUT /v1/deployment/promote/<id>.
type DeploymentPromoteRequest struct {
	DeploymentID string   `json:"DeploymentID"`
	All          bool     `json:"All"`
	Groups       []string `json:"Groups"`
}

// DeploymentPauseRequest is the body of PUT /v1/deployment/pause/<id>.
type DeploymentPauseRequest struct {
	DeploymentID string `json:"DeploymentID"`
	Pause        bool   `json:"Pause"`
}

// DeploymentFailRequest is the body of PUT /v1/deployment/fail/<id>.
type DeploymentFailRequest struct {
	DeploymentID string `json:"DeploymentID"`
}

// DeploymentAllocHealthRequest is the body of
// PUT /v1/deployment/allocation-health/<id>.
type DeploymentAllocHealthRequest struct {
	DeploymentID           string   `json:"DeploymentID"`
	HealthyAllocationIDs   []string `json:"HealthyAllocationIDs"`
	UnhealthyAllocationIDs []string `json:"UnhealthyAllocationIDs"`
}

// DeploymentUpdateResponse answers deployment writes.
type DeploymentUpdateResponse struct {
	EvalID                string  `json:"EvalID"`
	EvalCreateIndex       uint64  `json:"EvalCreateIndex"`
	DeploymentModifyIndex uint64  `json:"DeploymentModifyIndex"`
	RevertedJobVersion    *uint64 `json:"RevertedJobVersion"`
	Index                 uint64  `json:"Index"`
}
