package structs

import "time"

// Restart modes.
const (
	RestartPolicyModeDelay = "delay"
	RestartPolicyModeFail  = "fail"
)

// RestartPolicy says how the client restarts a failed task in place.
type RestartPolicy struct {
	Attempts        int           `json:"Attempts"`
	Interval        time.Duration `json:"Interval"`
	Delay           time.Duration `json:"Delay"`
	Mode            string        `json:"Mode"`
	RenderTemplates bool          `json:"RenderTemplates"`
}

// ReschedulePolicy says how the scheduler replaces a failed allocation on another node.
type ReschedulePolicy struct {
	Attempts      int           `json:"Attempts"`
	Interval      time.Duration `json:"Interval"`
	Delay         time.Duration `json:"Delay"`
	DelayFunction string        `json:"DelayFunction"`
	MaxDelay      time.Duration `json:"MaxDelay"`
	Unlimited     bool          `json:"Unlimited"`
}

// UpdateStrategy controls rolling updates.
type UpdateStrategy struct {
	Stagger          time.Duration `json:"Stagger"`
	MaxParallel      int           `json:"MaxParallel"`
	HealthCheck      string        `json:"HealthCheck"`
	MinHealthyTime   time.Duration `json:"MinHealthyTime"`
	HealthyDeadline  time.Duration `json:"HealthyDeadline"`
	ProgressDeadline time.Duration `json:"ProgressDeadline"`
	Canary           int           `json:"Canary"`
	AutoRevert       bool          `json:"AutoRevert"`
	AutoPromote      bool          `json:"AutoPromote"`
}

// MigrateStrategy controls how allocations leave a draining node.
type MigrateStrategy struct {
	MaxParallel     int           `json:"MaxParallel"`
	HealthCheck     string        `json:"HealthCheck"`
	MinHealthyTime  time.Duration `json:"MinHealthyTime"`
	HealthyDeadline time.Duration `json:"HealthyDeadline"`
}

// PeriodicConfig makes a job a cron-launched template.
type PeriodicConfig struct {
	Enabled         bool     `json:"Enabled"`
	Spec            string   `json:"Spec"`
	Specs           []string `json:"Specs,omitempty"`
	SpecType        string   `json:"SpecType"`
	ProhibitOverlap bool     `json:"ProhibitOverlap"`
	TimeZone        string   `json:"TimeZone"`
}

// ParameterizedJobConfig makes a job a dispatch template.
type ParameterizedJobConfig struct {
	Payload      string   `json:"Payload"`
	MetaRequired []string `json:"MetaRequired"`
	MetaOptional []string `json:"MetaOptional"`
}

// EphemeralDisk describes the alloc dir's scratch space.
type EphemeralDisk struct {
	Sticky  bool `json:"Sticky"`
	Migrate bool `json:"Migrate"`
	SizeMB  int  `json:"SizeMB"`
}

// LogConfig bounds a task's rotated log files.
type LogConfig struct {
	MaxFiles      int  `json:"MaxFiles"`
	MaxFileSizeMB int  `json:"MaxFileSizeMB"`
	Disabled      bool `json:"Disabled"`
	// Enabled is the older spelling of !Disabled; a false here disables
	// logs. Canonicalize folds it into Disabled.
	Enabled *bool `json:"Enabled,omitempty"`
}

// DisconnectStrategy says what happens to allocations on a disconnected client.
type DisconnectStrategy struct {
	LostAfter         time.Duration  `json:"LostAfter"`
	Replace           *bool          `json:"Replace"`
	Reconcile         string         `json:"Reconcile"`
	StopOnClientAfter *time.Duration `json:"StopOnClientAfter"`
}
