package structs

import "time"

// Desired status values, set by the scheduler.
const (
	AllocDesiredStatusRun   = "run"
	AllocDesiredStatusStop  = "stop"
	AllocDesiredStatusEvict = "evict"
)

// Client status values, reported by the client.
const (
	AllocClientStatusPending  = "pending"
	AllocClientStatusRunning  = "running"
	AllocClientStatusComplete = "complete"
	AllocClientStatusFailed   = "failed"
	AllocClientStatusLost     = "lost"
	AllocClientStatusUnknown  = "unknown"
)

// Allocation is one placement of a task group on a node.
type Allocation struct {
	ID        string `json:"ID"`
	Namespace string `json:"Namespace"`
	EvalID    string `json:"EvalID"`
	Name      string `json:"Name"`
	NodeID    string `json:"NodeID"`
	NodeName  string `json:"NodeName"`
	JobID     string `json:"JobID"`
	// Job is the job version the allocation runs. Plans and Raft entries carry
	// allocations without it; the FSM attaches the stored version.
	Job                *Job                  `json:"Job"`
	JobVersion         uint64                `json:"JobVersion"`
	TaskGroup          string                `json:"TaskGroup"`
	AllocatedResources *AllocatedResources   `json:"AllocatedResources"`
	Metrics            *AllocMetric          `json:"Metrics"`
	DesiredStatus      string                `json:"DesiredStatus"`
	DesiredDescription string                `json:"DesiredDescription"`
	DesiredTransition  DesiredTransition     `json:"DesiredTransition"`
	ClientStatus       string                `json:"ClientStatus"`
	ClientDescription  string                `json:"ClientDescription"`
	TaskStates         map[string]*TaskState `json:"TaskStates"`
	DeploymentID       string                `json:"DeploymentID"`
	FollowupEvalID     string                `json:"FollowupEvalID"`
	PreviousAllocation string                `json:"PreviousAllocation"`
	NextAllocation     string                `json:"NextAllocation"`
	RescheduleTracker  *RescheduleTracker    `json:"RescheduleTracker"`
	// AllocStates records server-side status transitions (an allocation
	// going unknown when its node disconnects), with their times.
	AllocStates      []*AllocState `json:"AllocStates"`
	CreateIndex      uint64        `json:"CreateIndex"`
	ModifyIndex      uint64        `json:"ModifyIndex"`
	AllocModifyIndex uint64        `json:"AllocModifyIndex"`
	// CreateTime and ModifyTime are Unix nanoseconds, stamped by the leader.
	CreateTime int64 `json:"CreateTime"`
	ModifyTime int64 `json:"ModifyTime"`

	// DeploymentStatus is the allocation's standing in its deployment
	// (DeploymentID): canary or not (server-owned), healthy or not
	// (client-owned).
	DeploymentStatus *AllocDeploymentStatus `json:"DeploymentStatus"`
}

// TerminalStatus reports whether the allocation is done for good: told to
// stop, or finished on the client.
func (a *Allocation) TerminalStatus() bool {
	switch a.DesiredStatus {
	case AllocDesiredStatusStop, AllocDesiredStatusEvict:
		return true
	}
	return a.ClientTerminalStatus()
}

// ClientTerminalStatus reports whether the client has finished with the allocation.
func (a *Allocation) ClientTerminalStatus() bool {
	switch a.ClientStatus {
	case AllocClientStatusComplete, AllocClientStatusFailed, AllocClientStatusLost:
		return true
	}
	return false
}

// Index returns the allocation's index within its group, parsed from its
// name "job.group[i]"; -1 when the name has no index.
func (a *Allocation) Index() int {
	n := a.Name
	if len(n) < 3 || n[len(n)-1] != ']' {
		return -1
	}
	i := len(n) - 2
	v, mul := 0, 1
	for ; i >= 0 && n[i] >= '0' && n[i] <= '9'; i-- {
		v += int(n[i]-'0') * mul
		mul *= 10
	}
	if i < 0 || n[i] != '[' || i == len(n)-2 {
		return -1
	}
	return v
}

// AllocName builds the canonical allocation name.
func AllocName(job, group string, idx int) string {
	return job + "." + group + "[" + itoa(idx) + "]"
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		p--
		b[p] = '-'
	}
	return string(b[p:])
}

// RescheduleTracker records earlier reschedules of an allocation's lineage.
type RescheduleTracker struct {
	Events []*RescheduleEvent `json:"Events"`
}

// RescheduleEvent is one reschedule.
type RescheduleEvent struct {
	RescheduleTime int64         `json:"RescheduleTime"`
	PrevAllocID    string        `json:"PrevAllocID"`
	PrevNodeID     string        `json:"PrevNodeID"`
	Delay          time.Duration `json:"Delay"`
}

// Task states.
const (
	TaskStatePending = "pending"
	TaskStateRunning = "running"
	TaskStateDead    = "dead"
)

// TaskState is a task's life on the client.
type TaskState struct {
	State       string       `json:"State"`
	Failed      bool         `json:"Failed"`
	Restarts    uint64       `json:"Restarts"`
	LastRestart time.Time    `json:"LastRestart"`
	StartedAt   time.Time    `json:"StartedAt"`
	FinishedAt  time.Time    `json:"FinishedAt"`
	Events      []*TaskEvent `json:"Events"`
}

// Task event types, with Nomad's spelling.
const (
	TaskReceived          = "Received"
	TaskSetup             = "Task Setup"
	TaskStarted           = "Started"
	TaskTerminated        = "Terminated"
	TaskKilling           = "Killing"
	TaskKilled            = "Killed"
	TaskRestarting        = "Restarting"
	TaskNotRestarting     = "Not Restarting"
	TaskDriverFailure     = "Driver Failure"
	TaskSetupFailure      = "Setup Failure"
	TaskFailedValidation  = "Failed Validation"
	TaskSignaling         = "Signaling"
	TaskOOMKilled         = "OOM Killed"
	TaskClientReconnected = "Reconnected"

	TaskRestartSignal            = "Restart Signaled"
	TaskHookFailed               = "Task hook failed"
	TaskDownloadingArtifacts     = "Downloading Artifacts"
	TaskArtifactDownloadFailed   = "Failed Artifact Download"
	TaskWaitingShuttingDownDelay = "Waiting for shutdown delay"
	TaskSkippingShutdownDelay    = "Skipping shutdown delay"
)

// TaskEvent is one step in a task's life.
type TaskEvent struct {
	Type string `json:"Type"`
	// Time is Unix nanoseconds.
	Time           int64             `json:"Time"`
	Message        string            `json:"Message"`
	DisplayMessage string            `json:"DisplayMessage"`
	Details        map[string]string `json:"Details"`
	FailsTask      bool              `json:"FailsTask"`
	RestartReason  string            `json:"RestartReason"`
	DriverError    string            `json:"DriverError"`
	ExitCode       int               `json:"ExitCode"`
	Signal         int               `json:"Signal"`
	KillTimeout    time.Duration     `json:"KillTimeout"`
	KillError      string            `json:"KillError"`
	StartDelay     int64             `json:"StartDelay"`
	DriverMessage  string            `json:"DriverMessage"`
}

// AllocListStub is the summary row of allocation lists.
type AllocListStub struct {
	ID                 string                `json:"ID"`
	EvalID             string                `json:"EvalID"`
	Name               string                `json:"Name"`
	Namespace          string                `json:"Namespace"`
	NodeID             string                `json:"NodeID"`
	NodeName           string                `json:"NodeName"`
	JobID              string                `json:"JobID"`
	JobType            string                `json:"JobType"`
	JobVersion         uint64                `json:"JobVersion"`
	TaskGroup          string                `json:"TaskGroup"`
	AllocatedResources *AllocatedResources   `json:"AllocatedResources,omitempty"`
	DesiredStatus      string                `json:"DesiredStatus"`
	DesiredDescription string                `json:"DesiredDescription"`
	ClientStatus       string                `json:"ClientStatus"`
	ClientDescription  string                `json:"ClientDescription"`
	TaskStates         map[string]*TaskState `json:"TaskStates"`
	FollowupEvalID     string                `json:"FollowupEvalID"`
	RescheduleTracker  *RescheduleTracker    `json:"RescheduleTracker"`
	CreateIndex        uint64                `json:"CreateIndex"`
	ModifyIndex        uint64                `json:"ModifyIndex"`
	CreateTime         int64                 `json:"CreateTime"`
	ModifyTime         int64                 `json:"ModifyTime"`

	DeploymentStatus *AllocDeploymentStatus `json:"DeploymentStatus"`
}

// Stub returns the allocation's list row.
func (a *Allocation) Stub() *AllocListStub {
	s := &AllocListStub{
		ID: a.ID, EvalID: a.EvalID, Name: a.Name, Namespace: a.Namespace,
		NodeID: a.NodeID, NodeName: a.NodeName, JobID: a.JobID, JobVersion: a.JobVersion,
		TaskGroup: a.TaskGroup, DesiredStatus: a.DesiredStatus, DesiredDescription: a.DesiredDescription,
		ClientStatus: a.ClientStatus, ClientDescription: a.ClientDescription, TaskStates: a.TaskStates,
		FollowupEvalID: a.FollowupEvalID, RescheduleTracker: a.RescheduleTracker,
		CreateIndex: a.CreateIndex, ModifyIndex: a.ModifyIndex, CreateTime: a.CreateTime, ModifyTime: a.ModifyTime,
		DeploymentStatus: a.DeploymentStatus,
	}
	if a.Job != nil {
		s.JobType = a.Job.Type
	}
	return s
}

// Copy returns a shallow copy whose TaskStates map may be replaced without
// touching the original; the Job pointer is shared because jobs are immutable
// once stored.
func (a *Allocation) Copy() *Allocation {
	c := *a
	return &c
}
