package jobspec

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// canonicalizeScaling fills a group scaling block's defaults as Nomad
// does: type horizontal, min the group's count, enabled.
func canonicalizeScaling(tg *structs.TaskGroup) {
	p := tg.Scaling
	if p == nil {
		return
	}
	if p.Type == "" {
		p.Type = structs.ScalingPolicyTypeHorizontal
	}
	if p.Min == nil {
		m := int64(tg.Count)
		p.Min = &m
	}
	if p.Enabled == nil {
		t := true
		p.Enabled = &t
	}
}

// validateScaling checks a group's scaling block and its count.
func (v *validator) scaling(path string, tg *structs.TaskGroup) {
	p := tg.Scaling
	if p == nil {
		return
	}
	sp := joinPath(path, "scaling")
	if p.Type != structs.ScalingPolicyTypeHorizontal {
		v.add(sp, "scaling policy type %q is not supported: only %q", p.Type, structs.ScalingPolicyTypeHorizontal)
		return
	}
	if p.Max == nil {
		v.add(sp, "maximum count is required")
		return
	}
	if *p.Max < 0 {
		v.add(sp, "maximum count must not be negative")
	}
	if p.Min != nil {
		if *p.Min < 0 {
			v.add(sp, "minimum count must not be negative")
		}
		if *p.Min > *p.Max {
			v.add(sp, "maximum count (%d) must not be less than minimum count (%d)", *p.Max, *p.Min)
		}
		if int64(tg.Count) < *p.Min {
			v.add(path, "task group count must not be less than minimum count in scaling policy")
		}
	}
	if int64(tg.Count) > *p.Max {
		v.add(path, "task group count must not be greater than maximum count in scaling policy")
	}
}

// CheckScale checks a scaling request against a job: the group exists,
// the job is one a count means something for, and the new count is
// within the group's scaling policy. The errors say which, as Nomad's do.
func CheckScale(job *structs.Job, group string, count *int64, isError bool) error {
	if group == "" {
		return fmt.Errorf("missing task group name for scaling action")
	}
	tg := job.LookupTaskGroup(group)
	if tg == nil {
		return fmt.Errorf("task group %q specified for scaling does not exist in job", group)
	}
	if count == nil {
		return nil
	}
	if isError {
		return fmt.Errorf("scaling action should not contain count if error is true")
	}
	switch {
	case *count < 0:
		return fmt.Errorf("scaling action count can't be negative")
	case job.Type == structs.JobTypeSystem || job.Type == structs.JobTypeSysBatch:
		return fmt.Errorf("cannot scale a %s job: it runs on every eligible node", job.Type)
	case job.IsPeriodic() || job.IsParameterized():
		return fmt.Errorf("cannot scale a periodic or parameterized job")
	}
	if p := tg.Scaling; p != nil {
		if p.Max != nil && *count > *p.Max {
			return fmt.Errorf("group count was greater than scaling policy maximum: %d > %d", *count, *p.Max)
		}
		if p.Min != nil && *count < *p.Min {
			return fmt.Errorf("group count was less than scaling policy minimum: %d < %d", *count, *p.Min)
		}
	}
	return nil
}
