package structs

import "github.com/google/uuid"

// Scaling policy types.
const (
	ScalingPolicyTypeHorizontal = "horizontal"
)

// ScalingPolicy is a group's `scaling {}` block (and, with the server's
// fields filled in, what GET /v1/scaling/policy/<id> returns). Min, Max and
// Enabled are pointers because Nomad's JSON uses null for "not given": a
// null Min means the group's count, a null Enabled means true.
type ScalingPolicy struct {
	ID        string            `json:"ID"`
	Namespace string            `json:"Namespace"`
	Type      string            `json:"Type"`
	Target    map[string]string `json:"Target"`
	Policy    map[string]any    `json:"Policy"`
	Min       *int64            `json:"Min"`
	Max       *int64            `json:"Max"`
	Enabled   *bool             `json:"Enabled"`

	CreateIndex uint64 `json:"CreateIndex"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

// ScalingPolicyID is the ID of the horizontal policy of a job's group. It
// is derived from the target, so it stays the same across job versions,
// and every server computes the same one from the same log.
func ScalingPolicyID(namespace, jobID, group string) string {
	return uuid.NewSHA1(scalingIDSpace, []byte(namespace+"\x00"+jobID+"\x00"+group)).String()
}

var scalingIDSpace = uuid.MustParse("8c1f3f64-3d52-4a0e-9d39-4e5b7a1c2f10")

// Scaling policy target keys.
const (
	ScalingTargetNamespace = "Namespace"
	ScalingTargetJob       = "Job"
	ScalingTargetGroup     = "Group"
)

// ScalingPolicyListStub is a policy as GET /v1/scaling/policies lists it.
type ScalingPolicyListStub struct {
	ID          string            `json:"ID"`
	Enabled     bool              `json:"Enabled"`
	Type        string            `json:"Type"`
	Target      map[string]string `json:"Target"`
	CreateIndex uint64            `json:"CreateIndex"`
	ModifyIndex uint64            `json:"ModifyIndex"`
}

// Stub returns the policy's list form.
func (p *ScalingPolicy) Stub() *ScalingPolicyListStub {
	return &ScalingPolicyListStub{ID: p.ID, Enabled: p.Enabled == nil || *p.Enabled, Type: p.Type,
		Target: p.Target, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
}

// ScalingEvent is one entry of a group's scaling history: a count change
// (Count set) or a report (an autoscaler's message or error).
type ScalingEvent struct {
	Time          int64          `json:"Time"`
	Count         *int64         `json:"Count"`
	PreviousCount int64          `json:"PreviousCount"`
	Message       string         `json:"Message"`
	Error         bool           `json:"Error"`
	Meta          map[string]any `json:"Meta"`
	EvalID        *string        `json:"EvalID"`
	CreateIndex   uint64         `json:"CreateIndex"`
}

// MaxScalingEventsPerGroup bounds a group's history, as Nomad does.
const MaxScalingEventsPerGroup = 20

// JobScalingEvents is a job's scaling history by group, newest first.
type JobScalingEvents struct {
	Namespace     string                     `json:"Namespace"`
	JobID         string                     `json:"JobID"`
	ScalingEvents map[string][]*ScalingEvent `json:"ScalingEvents"`
	ModifyIndex   uint64                     `json:"ModifyIndex"`
}

// ScalingRequest is the body of POST /v1/job/<id>/scale.
type ScalingRequest struct {
	Count          *int64            `json:"Count"`
	Target         map[string]string `json:"Target"`
	Message        string            `json:"Message"`
	Error          bool              `json:"Error"`
	Meta           map[string]any    `json:"Meta"`
	PolicyOverride bool              `json:"PolicyOverride"`
	// JobModifyIndex, when set, scales only a job still at that index.
	JobModifyIndex uint64 `json:"JobModifyIndex,omitempty"`
	Region         string `json:"Region,omitempty"`
	Namespace      string `json:"Namespace,omitempty"`
}

// JobScaleStatusResponse answers GET /v1/job/<id>/scale.
type JobScaleStatusResponse struct {
	JobID          string                           `json:"JobID"`
	Namespace      string                           `json:"Namespace"`
	JobCreateIndex uint64                           `json:"JobCreateIndex"`
	JobModifyIndex uint64                           `json:"JobModifyIndex"`
	JobStopped     bool                             `json:"JobStopped"`
	TaskGroups     map[string]*TaskGroupScaleStatus `json:"TaskGroups"`
}

// TaskGroupScaleStatus is one group's counts and scaling history.
type TaskGroupScaleStatus struct {
	Desired   int             `json:"Desired"`
	Placed    int             `json:"Placed"`
	Running   int             `json:"Running"`
	Healthy   int             `json:"Healthy"`
	Unhealthy int             `json:"Unhealthy"`
	Events    []*ScalingEvent `json:"Events"`
}
