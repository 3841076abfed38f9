// Package structs is orch's data model. Every type here is also the HTTP wire
// type: JSON field names and value shapes follow Nomad's v1 API (PascalCase,
// durations as integer nanoseconds, times as Unix nanoseconds where Nomad uses
// them), so there is exactly one type per concept.
package structs

import "time"

// Job types.
const (
	JobTypeService  = "service"
	JobTypeBatch    = "batch"
	JobTypeSystem   = "system"
	JobTypeSysBatch = "sysbatch"
)

// Job status values, derived from the job's allocations and evaluations.
const (
	JobStatusPending = "pending"
	JobStatusRunning = "running"
	JobStatusDead    = "dead"
)

// Defaults shared by the jobspec parser, the HTTP API and the scheduler.
const (
	DefaultNamespace   = "default"
	DefaultRegion      = "global"
	DefaultNodePool    = "default"
	DefaultJobPriority = 50
)

// Job is the unit a user submits: one or more task groups scheduled together.
type Job struct {
	Region           string                  `json:"Region"`
	Namespace        string                  `json:"Namespace"`
	ID               string                  `json:"ID"`
	ParentID         string                  `json:"ParentID,omitempty"`
	Name             string                  `json:"Name"`
	Type             string                  `json:"Type"`
	Priority         int                     `json:"Priority"`
	AllAtOnce        bool                    `json:"AllAtOnce"`
	Datacenters      []string                `json:"Datacenters"`
	NodePool         string                  `json:"NodePool"`
	Constraints      []*Constraint           `json:"Constraints"`
	Affinities       []*Affinity             `json:"Affinities"`
	Spreads          []*Spread               `json:"Spreads"`
	TaskGroups       []*TaskGroup            `json:"TaskGroups"`
	Update           *UpdateStrategy         `json:"Update"`
	Periodic         *PeriodicConfig         `json:"Periodic"`
	ParameterizedJob *ParameterizedJobConfig `json:"ParameterizedJob"`
	Reschedule       *ReschedulePolicy       `json:"Reschedule,omitempty"`
	Migrate          *MigrateStrategy        `json:"Migrate,omitempty"`
	Meta             map[string]string       `json:"Meta"`
	Dispatched       bool                    `json:"Dispatched"`
	Payload          []byte                  `json:"Payload"`

	Stop              bool   `json:"Stop"`
	Status            string `json:"Status"`
	StatusDescription string `json:"StatusDescription"`
	Stable            bool   `json:"Stable"`
	Version           uint64 `json:"Version"`
	// SubmitTime is Unix nanoseconds, stamped by the leader.
	SubmitTime     int64  `json:"SubmitTime"`
	CreateIndex    uint64 `json:"CreateIndex"`
	ModifyIndex    uint64 `json:"ModifyIndex"`
	JobModifyIndex uint64 `json:"JobModifyIndex"`

	// Fields of Nomad's job API that orch keeps so a submission carrying
	// them is judged (see jobspec's field-state table) instead of having
	// them silently dropped by the JSON decoder.
	Multiregion              *Opaque        `json:"Multiregion"`
	UI                       *JobUIConfig   `json:"UI"`
	DispatchIdempotencyToken string         `json:"DispatchIdempotencyToken"`
	ConsulNamespace          string         `json:"ConsulNamespace"`
	VaultNamespace           string         `json:"VaultNamespace"`
	NomadTokenID             string         `json:"NomadTokenID"`
	VersionTag               *JobVersionTag `json:"VersionTag"`
}

// NamespacedID identifies a job across namespaces.
type NamespacedID struct {
	Namespace string
	ID        string
}

// NamespacedID returns the job's key.
func (j *Job) NamespacedID() NamespacedID { return NamespacedID{Namespace: j.Namespace, ID: j.ID} }

// LookupTaskGroup returns the group with the given name, or nil.
func (j *Job) LookupTaskGroup(name string) *TaskGroup {
	for _, tg := range j.TaskGroups {
		if tg.Name == name {
			return tg
		}
	}
	return nil
}

// IsPeriodic reports whether the job is a periodic template rather than a
// runnable job. A disabled periodic block still makes the job a template:
// it never runs itself, it just launches nothing.
func (j *Job) IsPeriodic() bool { return j.Periodic != nil }

// IsPeriodicActive reports whether the periodic dispatcher launches the job.
func (j *Job) IsPeriodicActive() bool {
	return j.Periodic != nil && j.Periodic.Enabled && !j.Stop && !j.IsParameterized()
}

// IsParameterized reports whether the job is a dispatch template.
func (j *Job) IsParameterized() bool { return j.ParameterizedJob != nil && !j.Dispatched }

// TaskGroup is a set of tasks placed together on one node.
type TaskGroup struct {
	Name                      string                    `json:"Name"`
	Count                     int                       `json:"Count"`
	Constraints               []*Constraint             `json:"Constraints"`
	Affinities                []*Affinity               `json:"Affinities"`
	Spreads                   []*Spread                 `json:"Spreads"`
	Tasks                     []*Task                   `json:"Tasks"`
	Volumes                   map[string]*VolumeRequest `json:"Volumes"`
	RestartPolicy             *RestartPolicy            `json:"RestartPolicy"`
	ReschedulePolicy          *ReschedulePolicy         `json:"ReschedulePolicy"`
	EphemeralDisk             *EphemeralDisk            `json:"EphemeralDisk"`
	Update                    *UpdateStrategy           `json:"Update"`
	Migrate                   *MigrateStrategy          `json:"Migrate"`
	Networks                  []*NetworkResource        `json:"Networks"`
	Meta                      map[string]string         `json:"Meta"`
	Services                  []*Service                `json:"Services"`
	ShutdownDelay             *time.Duration            `json:"ShutdownDelay"`
	StopAfterClientDisconnect *time.Duration            `json:"StopAfterClientDisconnect"`
	MaxClientDisconnect       *time.Duration            `json:"MaxClientDisconnect"`
	Disconnect                *DisconnectStrategy       `json:"Disconnect"`
	PreventRescheduleOnLost   bool                      `json:"PreventRescheduleOnLost"`
	MaxRunDuration            *time.Duration            `json:"MaxRunDuration"`
	Scaling                   *ScalingPolicy            `json:"Scaling"`
	Consul                    *Opaque                   `json:"Consul"`
}

// LookupTask returns the task with the given name, or nil.
func (tg *TaskGroup) LookupTask(name string) *Task {
	for _, t := range tg.Tasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Task is one process, container or JVM run by a driver.
type Task struct {
	Name            string                 `json:"Name"`
	Driver          string                 `json:"Driver"`
	User            string                 `json:"User"`
	Lifecycle       *TaskLifecycle         `json:"Lifecycle"`
	Config          map[string]any         `json:"Config"`
	Constraints     []*Constraint          `json:"Constraints"`
	Affinities      []*Affinity            `json:"Affinities"`
	Env             map[string]string      `json:"Env"`
	Services        []*Service             `json:"Services"`
	Resources       *Resources             `json:"Resources"`
	RestartPolicy   *RestartPolicy         `json:"RestartPolicy"`
	Meta            map[string]string      `json:"Meta"`
	KillTimeout     time.Duration          `json:"KillTimeout"`
	LogConfig       *LogConfig             `json:"LogConfig"`
	Artifacts       []*TaskArtifact        `json:"Artifacts"`
	Templates       []*Template            `json:"Templates"`
	DispatchPayload *DispatchPayloadConfig `json:"DispatchPayload"`
	VolumeMounts    []*VolumeMount         `json:"VolumeMounts"`
	Leader          bool                   `json:"Leader"`
	ShutdownDelay   time.Duration          `json:"ShutdownDelay"`
	KillSignal      string                 `json:"KillSignal"`
	Kind            string                 `json:"Kind"`
	Vault           *Opaque                `json:"Vault"`
	Consul          *Opaque                `json:"Consul"`
	CSIPluginConfig *Opaque                `json:"CSIPluginConfig"`
	ScalingPolicies []*ScalingPolicy       `json:"ScalingPolicies"`
	Secrets         []*Secret              `json:"Secrets"`
	Identity        *WorkloadIdentity      `json:"Identity"`
	Identities      []*WorkloadIdentity    `json:"Identities"`
	Actions         []*Action              `json:"Actions"`
	Schedule        *Opaque                `json:"Schedule"`
}

// Constraint operands.
const (
	ConstraintEqual            = "="
	ConstraintNotEqual         = "!="
	ConstraintLess             = "<"
	ConstraintLessEqual        = "<="
	ConstraintGreater          = ">"
	ConstraintGreaterEqual     = ">="
	ConstraintRegex            = "regexp"
	ConstraintVersion          = "version"
	ConstraintSemver           = "semver"
	ConstraintSetContains      = "set_contains"
	ConstraintSetContainsAny   = "set_contains_any"
	ConstraintIsSet            = "is_set"
	ConstraintIsNotSet         = "is_not_set"
	ConstraintDistinctHosts    = "distinct_hosts"
	ConstraintDistinctProperty = "distinct_property"
)

// Constraint restricts placement: LTarget Operand RTarget, where targets may
// interpolate ${node.*}, ${attr.*} and ${meta.*}.
type Constraint struct {
	LTarget string `json:"LTarget"`
	RTarget string `json:"RTarget"`
	Operand string `json:"Operand"`
}

// Affinity expresses a weighted placement preference.
type Affinity struct {
	LTarget string `json:"LTarget"`
	RTarget string `json:"RTarget"`
	Operand string `json:"Operand"`
	Weight  int8   `json:"Weight"`
}

// Spread distributes allocations across the values of a node attribute.
type Spread struct {
	Attribute    string          `json:"Attribute"`
	Weight       int8            `json:"Weight"`
	SpreadTarget []*SpreadTarget `json:"SpreadTarget"`
}

// SpreadTarget is a desired share of allocations for one attribute value.
type SpreadTarget struct {
	Value   string `json:"Value"`
	Percent uint8  `json:"Percent"`
}

// TaskLifecycle orders a task relative to the group's main tasks.
type TaskLifecycle struct {
	Hook    string `json:"Hook"`
	Sidecar bool   `json:"Sidecar"`
}

// Lifecycle hooks.
const (
	TaskLifecycleHookPrestart  = "prestart"
	TaskLifecycleHookPoststart = "poststart"
	TaskLifecycleHookPoststop  = "poststop"
)

// DispatchPayloadConfig says where a dispatched job's payload is written.
type DispatchPayloadConfig struct {
	File string `json:"File"`
}

// TaskArtifact is a file fetched into the task directory before start.
type TaskArtifact struct {
	GetterSource   string            `json:"GetterSource"`
	GetterOptions  map[string]string `json:"GetterOptions"`
	GetterHeaders  map[string]string `json:"GetterHeaders"`
	GetterMode     string            `json:"GetterMode"`
	RelativeDest   string            `json:"RelativeDest"`
	GetterInsecure bool              `json:"GetterInsecure"`
	Chown          bool              `json:"Chown"`
}

// Template is a file rendered into the task directory.
type Template struct {
	SourcePath    string        `json:"SourcePath"`
	DestPath      string        `json:"DestPath"`
	EmbeddedTmpl  string        `json:"EmbeddedTmpl"`
	ChangeMode    string        `json:"ChangeMode"`
	ChangeSignal  string        `json:"ChangeSignal"`
	Splay         time.Duration `json:"Splay"`
	Perms         string        `json:"Perms"`
	Uid           *int          `json:"Uid"`
	Gid           *int          `json:"Gid"`
	LeftDelim     string        `json:"LeftDelim"`
	RightDelim    string        `json:"RightDelim"`
	Envvars       bool          `json:"Envvars"`
	ErrMissingKey bool          `json:"ErrMissingKey"`
	ChangeScript  *ChangeScript `json:"ChangeScript"`
	Once          bool          `json:"Once"`
	VaultGrace    time.Duration `json:"VaultGrace"`
	Wait          *WaitConfig   `json:"Wait"`
}

// WaitConfig bounds how long a template waits for its data to settle
// before rendering (consul-template's quiescence timers).
type WaitConfig struct {
	Min *time.Duration `json:"Min"`
	Max *time.Duration `json:"Max"`
}

// ChangeScript is run in the task when a template with change_mode
// "script" re-renders.
type ChangeScript struct {
	Command          string        `json:"Command"`
	Args             []string      `json:"Args"`
	Timeout          time.Duration `json:"Timeout"`
	FailOnError      bool          `json:"FailOnError"`
	RunOnFirstRender bool          `json:"RunOnFirstRender"`
}

// VolumeRequest is a group-level volume claim.
type VolumeRequest struct {
	Name           string           `json:"Name"`
	Type           string           `json:"Type"`
	Source         string           `json:"Source"`
	ReadOnly       bool             `json:"ReadOnly"`
	AccessMode     string           `json:"AccessMode"`
	AttachmentMode string           `json:"AttachmentMode"`
	MountOptions   *CSIMountOptions `json:"MountOptions"`
	PerAlloc       bool             `json:"PerAlloc"`
	Sticky         bool             `json:"Sticky"`
}

// CSIMountOptions tune how a CSI volume is mounted.
type CSIMountOptions struct {
	FSType     string   `json:"FSType"`
	MountFlags []string `json:"MountFlags"`
}

// VolumeMount mounts a group volume into a task.
type VolumeMount struct {
	Volume          string `json:"Volume"`
	Destination     string `json:"Destination"`
	ReadOnly        bool   `json:"ReadOnly"`
	PropagationMode string `json:"PropagationMode"`
	SELinuxLabel    string `json:"SELinuxLabel"`
}
