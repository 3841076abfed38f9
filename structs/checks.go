package structs

// Health check results of native services, held by the client that runs
// the checks and served by GET /v1/client/allocation/<id>/checks in
// Nomad's shape (api.AllocCheckStatus).

// Check result statuses, as the API reports them.
const (
	CheckSuccess = "success"
	CheckFailure = "failure"
	CheckPending = "pending"
)

// Check modes: a healthiness check decides the allocation's health (and
// so deployments); a readiness check (on_update = "ignore") does not.
const (
	CheckModeHealthiness = "healthiness"
	CheckModeReadiness   = "readiness"
)

// Service health, the aggregate of a registration's checks, in Consul's
// words: what ServiceRegistration.Status carries.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
	HealthPending  = "pending"
)

// CheckQueryResult is one check's latest result.
type CheckQueryResult struct {
	ID         string `json:"ID"`
	Mode       string `json:"Mode"`
	Status     string `json:"Status"`
	StatusCode int    `json:"StatusCode,omitempty"`
	Output     string `json:"Output"`
	// Timestamp is when the result was taken (Unix seconds).
	Timestamp int64  `json:"Timestamp"`
	Group     string `json:"Group"`
	Task      string `json:"Task,omitempty"`
	Service   string `json:"Service"`
	Check     string `json:"Check"`
}
