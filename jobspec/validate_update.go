package jobspec

import "github.com/orch-project/orch/structs"

// updateForType refuses the parts of an update block a job type does not
// act on. Batch jobs never update in place of running work, so, as in
// Nomad, they take no update block at all. System jobs roll max_parallel at
// a time every stagger, without deployments: canaries, promotion, reverts
// and health settings other than the defaults would be accepted and
// ignored, so they are refused. inherited marks a group's copy of the
// job's block, reported once at the job.
func (v *validator) updateForType(path, jobType string, u *structs.UpdateStrategy, inherited bool) {
	if u == nil || inherited {
		return
	}
	switch jobType {
	case structs.JobTypeBatch, structs.JobTypeSysBatch:
		v.add(path, "job type %q does not allow update block", jobType)
	case structs.JobTypeSystem:
		def := DefaultUpdateStrategy()
		if u.Canary > 0 {
			v.add(path, "canary is not supported for system jobs")
		}
		if u.AutoRevert {
			v.add(path, "auto_revert is not supported for system jobs")
		}
		if u.AutoPromote {
			v.add(path, "auto_promote is not supported for system jobs")
		}
		if u.HealthCheck != def.HealthCheck || u.MinHealthyTime != def.MinHealthyTime ||
			u.HealthyDeadline != def.HealthyDeadline || u.ProgressDeadline != def.ProgressDeadline {
			v.add(path, "system jobs update max_parallel allocations every stagger, without deployments: "+
				"health_check, min_healthy_time, healthy_deadline and progress_deadline do not apply")
		}
	}
}
