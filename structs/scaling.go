package structs

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
