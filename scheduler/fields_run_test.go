package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// These tests prove rows of the field-state table (jobspec/fields.go).

// Resources.CPU, Resources.MemoryMB and EphemeralDisk.SizeMB are each a
// dimension the bin-packer honours: a group that fits on the other two
// but not on one of them is not placed, and the metrics name the
// exhausted dimension.
func TestResourceDimensionsPacked(t *testing.T) {
	cases := []struct {
		dim      string
		mutate   func(j *structs.Job)
		capacity func(n *structs.Node)
	}{
		{"cpu", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Resources.CPU = 3000 }, nil},
		{"memory", func(j *structs.Job) { j.TaskGroups[0].Tasks[0].Resources.MemoryMB = 6000 }, nil},
		{"disk", func(j *structs.Job) { j.TaskGroups[0].EphemeralDisk.SizeMB = 60_000 }, nil},
		// The secrets tmpfs counts into memory, as in Nomad: 3000 + 3000.
		{"memory", func(j *structs.Job) {
			r := j.TaskGroups[0].Tasks[0].Resources
			r.MemoryMB, r.SecretsMB = 3000, new(int)
			*r.SecretsMB = 3000
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.dim, func(t *testing.T) {
			h := newHarness(t)
			// 4000 MHz, 8000 MB, 100,000 MB disk: one allocation of the
			// mutated size fits, a second does not.
			h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
			job := mkJob("web", structs.JobTypeService, 2)
			tc.mutate(job)
			job = h.upsertJob(job)
			res := h.schedule(h.eval(job, structs.EvalTriggerJobRegister))
			if n := len(placed(res.Plan)); n != 1 {
				t.Fatalf("placed %d, want 1", n)
			}
			m := res.EvalUpdate.FailedTGAllocs["web"]
			if m == nil || m.DimensionExhausted[tc.dim] == 0 {
				t.Fatalf("failed metric does not name %s: %+v", tc.dim, m)
			}
		})
	}
}

// TaskGroup.PreventRescheduleOnLost: an allocation on a node that went
// down is not replaced when the group asks for that; without it, it is.
func TestPreventRescheduleOnLost(t *testing.T) {
	for _, prevent := range []bool{false, true} {
		h := newHarness(t)
		h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
		job := mkJob("web", structs.JobTypeService, 1)
		job.TaskGroups[0].PreventRescheduleOnLost = prevent
		job.Constraints = []*structs.Constraint{{LTarget: "${node.unique.name}", RTarget: "node-1", Operand: "="}}
		job = h.upsertJob(job)
		h.run(job, structs.EvalTriggerJobRegister)
		// Let the replacement go anywhere, then take node 1 down.
		job.Constraints = nil
		job = h.upsertJob(job)
		h.run(job, structs.EvalTriggerJobRegister)
		h.setNodeStatus(nodeID(1), structs.NodeStatusDown)
		res := h.run(job, structs.EvalTriggerNodeUpdate)
		replaced := len(placed(res.Plan)) == 1 && placed(res.Plan)[0].NodeID == nodeID(2)
		if replaced == prevent {
			t.Fatalf("prevent_reschedule_on_lost=%v: plan placed %+v", prevent, placed(res.Plan))
		}
	}
}
