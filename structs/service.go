package structs

import "time"

// Service is a service registration declared by a group or task.
type Service struct {
	Name              string            `json:"Name"`
	Tags              []string          `json:"Tags"`
	CanaryTags        []string          `json:"CanaryTags"`
	EnableTagOverride bool              `json:"EnableTagOverride"`
	PortLabel         string            `json:"PortLabel"`
	AddressMode       string            `json:"AddressMode"`
	Address           string            `json:"Address"`
	Checks            []*ServiceCheck   `json:"Checks"`
	Meta              map[string]string `json:"Meta"`
	CanaryMeta        map[string]string `json:"CanaryMeta"`
	TaggedAddresses   map[string]string `json:"TaggedAddresses"`
	TaskName          string            `json:"TaskName"`
	OnUpdate          string            `json:"OnUpdate"`
	Provider          string            `json:"Provider"`
	CheckRestart      *CheckRestart     `json:"CheckRestart"`
	Connect           *Opaque           `json:"Connect"`
	Identity          *WorkloadIdentity `json:"Identity"`
	Weights           *ServiceWeights   `json:"Weights"`
	Cluster           string            `json:"Cluster"`
	Kind              string            `json:"Kind"`
}

// ServiceCheck is a health check of a service.
type ServiceCheck struct {
	Name                   string              `json:"Name"`
	Type                   string              `json:"Type"`
	Command                string              `json:"Command"`
	Args                   []string            `json:"Args"`
	Path                   string              `json:"Path"`
	Protocol               string              `json:"Protocol"`
	PortLabel              string              `json:"PortLabel"`
	Expose                 bool                `json:"Expose"`
	AddressMode            string              `json:"AddressMode"`
	Interval               time.Duration       `json:"Interval"`
	Timeout                time.Duration       `json:"Timeout"`
	InitialStatus          string              `json:"InitialStatus"`
	TLSSkipVerify          bool                `json:"TLSSkipVerify"`
	Header                 map[string][]string `json:"Header"`
	Method                 string              `json:"Method"`
	Body                   string              `json:"Body"`
	CheckRestart           *CheckRestart       `json:"CheckRestart"`
	TaskName               string              `json:"TaskName"`
	SuccessBeforePassing   int                 `json:"SuccessBeforePassing"`
	FailuresBeforeCritical int                 `json:"FailuresBeforeCritical"`
	OnUpdate               string              `json:"OnUpdate"`
	FailuresBeforeWarning  int                 `json:"FailuresBeforeWarning"`
	Advertise              string              `json:"Advertise"`
	Notes                  string              `json:"Notes"`
	TLSServerName          string              `json:"TLSServerName"`
	GRPCService            string              `json:"GRPCService"`
	GRPCUseTLS             bool                `json:"GRPCUseTLS"`
}

// CheckRestart restarts a task whose check stays unhealthy.
type CheckRestart struct {
	Limit          int           `json:"Limit"`
	Grace          time.Duration `json:"Grace"`
	IgnoreWarnings bool          `json:"IgnoreWarnings"`
}

// ServiceWeights are the DNS SRV weights of a Consul service by health.
type ServiceWeights struct {
	Passing int `json:"Passing"`
	Warning int `json:"Warning"`
}
