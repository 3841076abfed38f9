package structs

// JobSummary counts a job's allocations by client status, per group.
type JobSummary struct {
	JobID       string                      `json:"JobID"`
	Namespace   string                      `json:"Namespace"`
	Summary     map[string]TaskGroupSummary `json:"Summary"`
	Children    *JobChildrenSummary         `json:"Children"`
	CreateIndex uint64                      `json:"CreateIndex"`
	ModifyIndex uint64                      `json:"ModifyIndex"`
}

// TaskGroupSummary counts one group's allocations.
type TaskGroupSummary struct {
	Queued   int `json:"Queued"`
	Complete int `json:"Complete"`
	Failed   int `json:"Failed"`
	Running  int `json:"Running"`
	Starting int `json:"Starting"`
	Lost     int `json:"Lost"`
	Unknown  int `json:"Unknown"`
}

// JobChildrenSummary counts children of periodic and parameterized jobs.
type JobChildrenSummary struct {
	Pending int64 `json:"Pending"`
	Running int64 `json:"Running"`
	Dead    int64 `json:"Dead"`
}

// JobListStub is the summary row of GET /v1/jobs.
type JobListStub struct {
	ID                string            `json:"ID"`
	ParentID          string            `json:"ParentID"`
	Name              string            `json:"Name"`
	Namespace         string            `json:"Namespace"`
	Datacenters       []string          `json:"Datacenters"`
	NodePool          string            `json:"NodePool"`
	Type              string            `json:"Type"`
	Priority          int               `json:"Priority"`
	Periodic          bool              `json:"Periodic"`
	ParameterizedJob  bool              `json:"ParameterizedJob"`
	Stop              bool              `json:"Stop"`
	Status            string            `json:"Status"`
	StatusDescription string            `json:"StatusDescription"`
	JobSummary        *JobSummary       `json:"JobSummary"`
	CreateIndex       uint64            `json:"CreateIndex"`
	ModifyIndex       uint64            `json:"ModifyIndex"`
	JobModifyIndex    uint64            `json:"JobModifyIndex"`
	SubmitTime        int64             `json:"SubmitTime"`
	Meta              map[string]string `json:"Meta"`
}

// Stub returns the job's list row with the given summary.
func (j *Job) Stub(summary *JobSummary) *JobListStub {
	return &JobListStub{
		ID: j.ID, ParentID: j.ParentID, Name: j.Name, Namespace: j.Namespace, Datacenters: j.Datacenters,
		NodePool: j.NodePool, Type: j.Type, Priority: j.Priority, Periodic: j.IsPeriodic(),
		ParameterizedJob: j.IsParameterized(), Stop: j.Stop, Status: j.Status,
		StatusDescription: j.StatusDescription, JobSummary: summary, CreateIndex: j.CreateIndex,
		ModifyIndex: j.ModifyIndex, JobModifyIndex: j.JobModifyIndex, SubmitTime: j.SubmitTime, Meta: j.Meta,
	}
}
