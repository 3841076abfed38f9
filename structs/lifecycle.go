package structs

import (
	"fmt"
	"time"

	"github.com/hashicorp/cronexpr"
)

// Child job IDs, as Nomad forms them: <parent>/periodic-<unix seconds> and
// <parent>/dispatch-[<prefix>-]<unix seconds>-<8 hex>.
const (
	PeriodicLaunchSuffix = "/periodic-"
	DispatchLaunchSuffix = "/dispatch-"

	// DispatchPayloadSizeLimit is Nomad's limit on a dispatch payload.
	DispatchPayloadSizeLimit = 16 * 1024

	DispatchPayloadForbidden = "forbidden"
	DispatchPayloadOptional  = "optional"
	DispatchPayloadRequired  = "required"
)

// PeriodicLaunch records the last launch time of a periodic job. It is
// replicated so a new leader neither repeats nor skips a launch.
type PeriodicLaunch struct {
	Namespace string `json:"Namespace"`
	ID        string `json:"ID"`
	// Launch is the launch's scheduled time in Unix nanoseconds.
	Launch      int64  `json:"Launch"`
	CreateIndex uint64 `json:"CreateIndex"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

// JobDispatchRequest is the body of PUT /v1/job/<id>/dispatch.
type JobDispatchRequest struct {
	JobID            string            `json:"JobID"`
	Payload          []byte            `json:"Payload"`
	Meta             map[string]string `json:"Meta"`
	IdPrefixTemplate string            `json:"IdPrefixTemplate"`
	Priority         int               `json:"Priority"`
	// IdempotencyToken comes from the idempotency_token query parameter.
	IdempotencyToken string `json:"-"`
}

// JobDispatchResponse answers a dispatch.
type JobDispatchResponse struct {
	DispatchedJobID string `json:"DispatchedJobID"`
	EvalID          string `json:"EvalID"`
	EvalCreateIndex uint64 `json:"EvalCreateIndex"`
	JobCreateIndex  uint64 `json:"JobCreateIndex"`
	Index           uint64 `json:"Index"`
}

// PeriodicForceResponse answers PUT /v1/job/<id>/periodic/force.
type PeriodicForceResponse struct {
	EvalID          string `json:"EvalID"`
	EvalCreateIndex uint64 `json:"EvalCreateIndex"`
	Index           uint64 `json:"Index"`
}

// PeriodicChildID is the ID of the child a periodic job launches at t.
func PeriodicChildID(parent string, t time.Time) string {
	return fmt.Sprintf("%s%s%d", parent, PeriodicLaunchSuffix, t.Unix())
}

// AllSpecs returns the cron expressions of the block, the older single Spec first.
func (p *PeriodicConfig) AllSpecs() []string {
	specs := append([]string(nil), p.Specs...)
	if p.Spec != "" {
		specs = append([]string{p.Spec}, specs...)
	}
	return specs
}

// Location is the block's time zone (UTC when unset or unknown: a job with
// an unknown zone is refused at submit).
func (p *PeriodicConfig) Location() *time.Location {
	if p.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Next is the earliest launch of any of the block's cron expressions
// strictly after after, evaluated in the block's time zone; zero when none
// fires again.
func (p *PeriodicConfig) Next(after time.Time) time.Time {
	loc := p.Location()
	var next time.Time
	for _, spec := range p.AllSpecs() {
		e, err := cronexpr.Parse(spec)
		if err != nil {
			continue
		}
		if t := e.Next(after.In(loc)); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return next
	}
	return next.UTC()
}
