package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// stickyJob is mkJob with one group whose ephemeral disk is sticky, or
// migrates (which implies sticky).
func stickyJob(count int, sticky, migrate bool) *structs.Job {
	j := mkJob("web", structs.JobTypeService, count)
	j.TaskGroups[0].EphemeralDisk = &structs.EphemeralDisk{SizeMB: 150, Sticky: sticky, Migrate: migrate}
	return j
}

// filler puts a job of n 1000 MHz tasks on node 2, so bin-packing prefers
// node 2 for anything placed afterwards.
func (h *harness) fillNode2(n int) {
	h.t.Helper()
	f := mkJob("filler", structs.JobTypeService, n)
	f.TaskGroups[0].Tasks[0].Resources.CPU = 1000
	f.Constraints = []*structs.Constraint{{LTarget: "${node.unique.id}", Operand: "=", RTarget: nodeID(2)}}
	h.run(h.upsertJob(f), structs.EvalTriggerJobRegister)
}

// destructiveUpdate changes the task's command (a destructive update) and
// returns the replacements by name.
func (h *harness) destructiveUpdate(job *structs.Job, cmd string) map[string]*structs.Allocation {
	h.t.Helper()
	job.TaskGroups[0].Tasks[0].Config = map[string]any{"command": cmd}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	out := map[string]*structs.Allocation{}
	for _, a := range placed(res.Plan) {
		if a.PreviousAllocation != "" {
			out[a.Name] = a
		}
	}
	return out
}

// A replacement of a group with a sticky ephemeral disk goes back to its
// previous allocation's node, although bin-packing ranks another node
// higher; without sticky the same update follows bin-packing.
func TestStickyDiskReplacementPrefersPreviousNode(t *testing.T) {
	for _, tc := range []struct {
		name            string
		sticky, migrate bool
	}{{"sticky", true, false}, {"migrate", false, true}, {"neither", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
			job := stickyJob(2, tc.sticky, tc.migrate)
			h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
			before := h.liveAllocs("web")
			h.upsertNodes(mkNode(2, "dc1", 4000, 8000))
			h.fillNode2(3)

			after := h.destructiveUpdate(job, "/bin/true")
			if len(after) != 2 {
				t.Fatalf("replacements: %v", nameSet(after))
			}
			moved := 0
			for name, a := range after {
				if a.PreviousAllocation != before[name].ID {
					t.Fatalf("%s: previous allocation %q, want %q", name, a.PreviousAllocation, before[name].ID)
				}
				if a.NodeID != nodeID(1) {
					moved++
				}
			}
			// Without sticky the fuller node wins on bin-packing (for the
			// first replacement at least: anti-affinity may send the
			// second back).
			if sticky := tc.sticky || tc.migrate; sticky != (moved == 0) {
				t.Fatalf("sticky=%v: %d replacements left node 1", sticky, moved)
			}
		})
	}
}

// The preference is best effort: a previous node that no longer fits the
// group, or is no longer eligible, leaves the replacement to the usual
// ranking.
func TestStickyDiskFallsBackWhenPreviousNodeUnfit(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := stickyJob(1, true, false)
	job.Constraints = []*structs.Constraint{{LTarget: "${node.unique.id}", Operand: "=", RTarget: nodeID(1)}}
	h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	prev := h.liveAllocs("web")["web.web[0]"]
	if prev.NodeID != nodeID(1) {
		t.Fatalf("placed on %s", prev.NodeID)
	}
	// The new version asks for more memory than node 1 has.
	job.Constraints = nil
	job.TaskGroups[0].Tasks[0].Resources.MemoryMB = 9000
	h.upsertNodes(mkNode(2, "dc1", 4000, 16000))
	after := h.destructiveUpdate(job, "/bin/true")
	if a := after["web.web[0]"]; a == nil || a.NodeID != nodeID(2) || a.PreviousAllocation != prev.ID {
		t.Fatalf("replacement: %+v", a)
	}

	// An ineligible previous node is not a candidate at all.
	h2 := newHarness(t)
	h2.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	job2 := stickyJob(1, true, false)
	h2.run(h2.upsertJob(job2), structs.EvalTriggerJobRegister)
	n1 := mkNode(1, "dc1", 4000, 8000)
	n1.SchedulingEligibility = structs.NodeSchedulingIneligible
	h2.upsertNodes(n1, mkNode(2, "dc1", 4000, 8000))
	if a := h2.destructiveUpdate(job2, "/bin/true")["web.web[0]"]; a == nil || a.NodeID != nodeID(2) {
		t.Fatalf("replacement on an ineligible node: %+v", a)
	}
}

// A failed allocation of a sticky group is rescheduled onto its own node
// (its data is there), as Nomad does; without sticky it is avoided.
func TestStickyDiskRescheduleReturnsToNode(t *testing.T) {
	for _, sticky := range []bool{true, false} {
		h := newHarness(t)
		h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
		job := stickyJob(1, sticky, false)
		job.TaskGroups[0].ReschedulePolicy = &structs.ReschedulePolicy{Attempts: 1, Interval: 3600e9}
		job = h.upsertJob(job)
		h.run(job, structs.EvalTriggerJobRegister)
		failed := h.liveAllocs("web")["web.web[0]"]
		h.clientStatus(failed.ID, structs.AllocClientStatusFailed)
		res := h.run(job, structs.EvalTriggerRetryFailedAlloc)
		p := placed(res.Plan)
		if len(p) != 1 || p[0].PreviousAllocation != failed.ID {
			t.Fatalf("sticky=%v: replacement %+v", sticky, p)
		}
		if same := p[0].NodeID == failed.NodeID; same != sticky {
			t.Fatalf("sticky=%v: replacement on the failed node: %v", sticky, same)
		}
	}
}

// ignore_collision: a static port that several allocations share (programs
// using SO_REUSEPORT) neither blocks placement where the port is taken or
// reserved nor holds the port against others; without it one node takes
// one allocation.
func TestIgnoreCollisionSharesStaticPort(t *testing.T) {
	for _, ignore := range []bool{true, false} {
		h := newHarness(t)
		n1 := mkNode(1, "dc1", 4000, 8000)
		n1.ReservedResources = &structs.NodeReservedResources{Networks: structs.NodeReservedNetworkResources{ReservedHostPorts: "9000"}}
		h.upsertNodes(n1)
		job := mkJob("web", structs.JobTypeService, 3)
		job.TaskGroups[0].Networks = []*structs.NetworkResource{{
			Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080, IgnoreCollision: ignore}, {Label: "x", Value: 9000, IgnoreCollision: ignore}},
		}}
		res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
		want := 0 // node 1 reserves port 9000
		if ignore {
			want = 3
		}
		p := placed(res.Plan)
		if len(p) != want {
			t.Fatalf("ignore_collision=%v: placed %d, want %d", ignore, len(p), want)
		}
		for _, a := range p {
			if ports := a.AllocatedResources.Shared.Ports; len(ports) != 2 || ports[0].Value != 8080 || !ports[0].IgnoreCollision {
				t.Fatalf("shared ports %+v", ports)
			}
		}
		if !ignore {
			continue
		}
		// The sharers hold the port against a plain ask (which would
		// meet their bound programs, or join their SO_REUSEPORT group
		// without having asked to); another sharer fits.
		other := mkJob("other", structs.JobTypeService, 1)
		other.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080}}}}
		if p := placed(h.run(h.upsertJob(other), structs.EvalTriggerJobRegister).Plan); len(p) != 0 {
			t.Fatalf("plain static port beside ignore_collision ones: placed %d", len(p))
		}
		sharer := mkJob("sharer", structs.JobTypeService, 1)
		sharer.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080, IgnoreCollision: true}}}}
		if p := placed(h.run(h.upsertJob(sharer), structs.EvalTriggerJobRegister).Plan); len(p) != 1 {
			t.Fatalf("another sharer of the port: placed %d", len(p))
		}
	}
}

// An ignore_collision port is not placed where a plain allocation holds
// the port: sharing is among sharers (and with the node's reserved
// ports), not a way to take a port another job holds.
func TestIgnoreCollisionDoesNotTakeAPlainHoldersPort(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000))
	plain := mkJob("plain", structs.JobTypeService, 1)
	plain.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080}}}}
	if p := placed(h.run(h.upsertJob(plain), structs.EvalTriggerJobRegister).Plan); len(p) != 1 {
		t.Fatalf("plain: placed %d", len(p))
	}
	squat := mkJob("squat", structs.JobTypeService, 1)
	squat.TaskGroups[0].Networks = []*structs.NetworkResource{{Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080, IgnoreCollision: true}}}}
	if p := placed(h.run(h.upsertJob(squat), structs.EvalTriggerJobRegister).Plan); len(p) != 0 {
		t.Fatalf("ignore_collision on a port a plain allocation holds: placed %d", len(p))
	}
}
