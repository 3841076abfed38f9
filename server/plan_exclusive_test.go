package server

import (
	"context"
	"testing"

	"github.com/orch-project/orch/structs"
)

// exclusiveAlloc holds cores and device instances.
func exclusiveAlloc(job *structs.Job, nodeID string, cores []uint16, gpus ...string) *structs.Allocation {
	a := planAlloc(job, nodeID, 0, 64)
	tr := a.AllocatedResources.Tasks["t"]
	tr.Cpu = structs.AllocatedCpuResources{CpuShares: int64(len(cores)) * 1000, ReservedCores: cores}
	if len(gpus) > 0 {
		tr.Devices = []*structs.AllocatedDeviceResource{{Vendor: "nvidia", Type: "gpu", Name: "T4", DeviceIDs: gpus}}
	}
	return a
}

// TestPlanApplierRefusesDoubleGrantedCoresAndDevices: two workers that
// planned from snapshots that did not see each other's plans cannot hand
// out one core or one GPU twice, nor a core or device the node lacks.
func TestPlanApplierRefusesDoubleGrantedCoresAndDevices(t *testing.T) {
	h := newPlanHarness(t, nil)
	n := testNode("gpu", 4000, 8192)
	n.NodeResources.Cpu.TotalCpuCores = 4
	n.NodeResources.Devices = []*structs.NodeDeviceResource{{
		Vendor: "nvidia", Type: "gpu", Name: "T4",
		Instances: []*structs.NodeDevice{{ID: "GPU-a", Healthy: true}, {ID: "GPU-b", Healthy: true}, {ID: "GPU-sick"}},
	}}
	if _, err := h.s.RegisterNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	p := h.applier()
	submit := func(job string, a func(*structs.Job) *structs.Allocation) bool {
		t.Helper()
		j := testJob(job, 1, 64)
		ev, token := h.eval(j)
		plan := &structs.Plan{EvalID: ev.ID, Job: j}
		plan.AppendAlloc(a(j))
		res, err := p.Submit(context.Background(), plan, token, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.NodeAllocation[n.ID]) == 1
	}
	if !submit("first", func(j *structs.Job) *structs.Allocation { return exclusiveAlloc(j, n.ID, []uint16{0, 1}, "GPU-a") }) {
		t.Fatal("first grant refused")
	}
	cases := []struct {
		name  string
		cores []uint16
		gpus  []string
		ok    bool
	}{
		{"core held", []uint16{1, 2}, nil, false},
		{"gpu held", []uint16{2}, []string{"GPU-a"}, false},
		{"core the node lacks", []uint16{7}, nil, false},
		{"gpu the node lacks", nil, []string{"GPU-z"}, false},
		{"unhealthy gpu", nil, []string{"GPU-sick"}, false},
		{"free core and gpu", []uint16{2, 3}, []string{"GPU-b"}, true},
	}
	for i, tc := range cases {
		job := "j" + string(rune('a'+i))
		if got := submit(job, func(j *structs.Job) *structs.Allocation { return exclusiveAlloc(j, n.ID, tc.cores, tc.gpus...) }); got != tc.ok {
			t.Errorf("%s: committed %v, want %v", tc.name, got, tc.ok)
		}
	}
}
