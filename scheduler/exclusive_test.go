package scheduler

import (
	"slices"
	"testing"

	"github.com/orch-project/orch/structs"
)

// coreNode is a node with cores 0..n-1 at 2000 MHz each.
func coreNode(i, cores int) *structs.Node {
	n := mkNode(i, "dc1", int64(2000*cores), 64_000)
	n.NodeResources.Cpu.TotalCpuCores = uint16(cores)
	return n
}

func coresJob(id string, count, cores int) *structs.Job {
	j := mkJob(id, structs.JobTypeService, count)
	j.TaskGroups[0].Tasks[0].Resources = &structs.Resources{Cores: cores, MemoryMB: 128}
	return j
}

// placedCores lists the cores of each placement, and checks each alloc got
// its cores' MHz.
func placedCores(t *testing.T, allocs []*structs.Allocation, mhz int64) [][]uint16 {
	t.Helper()
	var out [][]uint16
	for _, a := range allocs {
		tr := a.AllocatedResources.Tasks["server"]
		if tr.Cpu.CpuShares != int64(len(tr.Cpu.ReservedCores))*mhz {
			t.Errorf("%s: %d MHz for cores %v", a.Name, tr.Cpu.CpuShares, tr.Cpu.ReservedCores)
		}
		out = append(out, tr.Cpu.ReservedCores)
	}
	return out
}

// TestCoresReservedExclusively: a 4-core node takes two allocations of 2
// cores each, on disjoint cores with their MHz, and refuses the third
// naming cores; the reserved MHz leave no room for a shared-CPU task.
func TestCoresReservedExclusively(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(coreNode(1, 4))
	job := h.upsertJob(coresJob("pinned", 3, 2))
	res := h.run(job, structs.EvalTriggerJobRegister)
	got := placedCores(t, placed(res.Plan), 2000)
	if len(got) != 2 {
		t.Fatalf("placed %d, want 2: %v", len(got), got)
	}
	all := append(slices.Clone(got[0]), got[1]...)
	slices.Sort(all)
	if !slices.Equal(all, []uint16{0, 1, 2, 3}) {
		t.Fatalf("cores %v, want each of 0-3 once", got)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted[dimCores] != 1 {
		t.Fatalf("failed metric = %+v, want cores exhausted", m)
	}

	// The next eval sees the stored cores held.
	res = h.run(h.upsertJob(coresJob("more", 1, 1)), structs.EvalTriggerJobRegister)
	if m := res.EvalUpdate.FailedTGAllocs["web"]; m == nil || m.DimensionExhausted[dimCores] != 1 {
		t.Fatalf("a fifth core was granted: %+v", placed(res.Plan))
	}
	shared := mkJob("shared", structs.JobTypeService, 1)
	res = h.run(h.upsertJob(shared), structs.EvalTriggerJobRegister)
	if m := res.EvalUpdate.FailedTGAllocs["web"]; m == nil || m.DimensionExhausted["cpu"] != 1 {
		t.Fatalf("a shared-CPU task was placed on MHz the cores hold: %+v", placed(res.Plan))
	}

	// Stopping one allocation frees its cores for the next placement.
	h.run(h.upsertJob(coresJob("pinned", 1, 2)), structs.EvalTriggerJobRegister)
	res = h.run(h.upsertJob(coresJob("more", 1, 1)), structs.EvalTriggerJobRegister)
	if n := len(placed(res.Plan)); n != 1 {
		t.Fatalf("freed cores not reused: placed %d", n)
	}
}

// TestCoresOverloadRefusedNamingCores is the case: fifty
// allocations asking for 4 cores each on one 4-core node place one.
func TestCoresOverloadRefusedNamingCores(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(coreNode(1, 4))
	res := h.run(h.upsertJob(coresJob("big", 50, 4)), structs.EvalTriggerJobRegister)
	if n := len(placed(res.Plan)); n != 1 {
		t.Fatalf("placed %d on a 4-core node, want 1", n)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted[dimCores] != 1 || m.CoalescedFailures != 48 || res.EvalUpdate.QueuedAllocations["web"] != 49 {
		t.Fatalf("metric %+v queued %v", m, res.EvalUpdate.QueuedAllocations)
	}
}

// TestCoresReservableSet: only the node's reservable cores, less those its
// operator reserved, are handed out; a node that reports no cores takes
// no cores ask.
func TestCoresReservableSet(t *testing.T) {
	h := newHarness(t)
	n := coreNode(1, 4)
	n.NodeResources.Cpu.ReservableCpuCores = []uint16{1, 2, 3}
	n.ReservedResources = &structs.NodeReservedResources{Cpu: structs.NodeReservedCpuResources{ReservedCpuCores: []uint16{2}}}
	bare := mkNode(2, "dc1", 8000, 64_000) // no TotalCpuCores
	h.upsertNodes(n, bare)
	res := h.run(h.upsertJob(coresJob("c", 3, 1)), structs.EvalTriggerJobRegister)
	got := placedCores(t, placed(res.Plan), 2000)
	if len(got) != 2 || !slices.Equal(slices.Sorted(slices.Values(append(slices.Clone(got[0]), got[1]...))), []uint16{1, 3}) {
		t.Fatalf("cores %v, want 1 and 3", got)
	}
	for _, a := range placed(res.Plan) {
		if a.NodeID != n.ID {
			t.Fatalf("placed on the node without cores")
		}
	}
}

// gpuNode offers two T4s and one A100.
func gpuNode(i int) *structs.Node {
	n := mkNode(i, "dc1", 16_000, 64_000)
	n.NodeResources.Devices = []*structs.NodeDeviceResource{
		{
			Vendor: "nvidia", Type: "gpu", Name: "T4",
			Instances: []*structs.NodeDevice{
				{ID: "GPU-t4-a", Healthy: true}, {ID: "GPU-t4-sick", Healthy: false}, {ID: "GPU-t4-b", Healthy: true},
			},
			Attributes: map[string]*structs.Attribute{"memory": structs.NewIntAttribute(15360, "MiB")},
		},
		{
			Vendor: "nvidia", Type: "gpu", Name: "A100",
			Instances:  []*structs.NodeDevice{{ID: "GPU-a100", Healthy: true}},
			Attributes: map[string]*structs.Attribute{"memory": structs.NewIntAttribute(40, "GiB")},
		},
	}
	return n
}

func deviceJob(id string, count int, dev *structs.RequestedDevice) *structs.Job {
	j := mkJob(id, structs.JobTypeService, count)
	j.TaskGroups[0].Tasks[0].Resources.Devices = []*structs.RequestedDevice{dev}
	return j
}

func grantedDevices(allocs []*structs.Allocation) []string {
	var out []string
	for _, a := range allocs {
		for _, d := range a.AllocatedResources.Tasks["server"].Devices {
			for _, id := range d.DeviceIDs {
				out = append(out, d.Name+":"+id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestDevicesAssignedByInstance: every placement gets its own healthy
// instances, the affinity picks the group (the A100 first), and the
// placement past the last free instance fails naming the device.
func TestDevicesAssignedByInstance(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(gpuNode(1))
	dev := &structs.RequestedDevice{Name: "nvidia/gpu", Count: 1, Affinities: []*structs.Affinity{
		{LTarget: "${device.attr.memory}", Operand: ">=", RTarget: "20 GiB", Weight: 100},
	}}
	res := h.run(h.upsertJob(deviceJob("gpu", 1, dev)), structs.EvalTriggerJobRegister)
	if got := grantedDevices(placed(res.Plan)); !slices.Equal(got, []string{"A100:GPU-a100"}) {
		t.Fatalf("first grant %v, want the A100 by affinity", got)
	}
	if s := placed(res.Plan)[0].Metrics.ScoreMetaData[0].Scores[scoreDevices]; s != 1 {
		t.Fatalf("devices score %v, want 1", s)
	}
	res = h.run(h.upsertJob(deviceJob("gpu", 4, dev)), structs.EvalTriggerJobRegister)
	all, _ := h.store.AllocsByJob(nil, structs.DefaultNamespace, "gpu")
	var live []*structs.Allocation
	for _, a := range all {
		if !a.TerminalStatus() {
			live = append(live, a)
		}
	}
	if got := grantedDevices(live); !slices.Equal(got, []string{"A100:GPU-a100", "T4:GPU-t4-a", "T4:GPU-t4-b"}) {
		t.Fatalf("grants %v, want each healthy instance once", got)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted[dimDevices+"nvidia/gpu"] != 1 {
		t.Fatalf("failed metric %+v, want devices: nvidia/gpu exhausted", m)
	}
}

// TestDeviceConstraintsAndMissingDevice: constraints (with unit
// conversion) choose the group; a node without a matching device is
// filtered with the device's name; count asks for several instances of
// one group.
func TestDeviceConstraintsAndMissingDevice(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(gpuNode(1), mkNode(2, "dc1", 16_000, 64_000))
	dev := &structs.RequestedDevice{Name: "gpu", Count: 1, Constraints: []*structs.Constraint{
		{LTarget: "${device.attr.memory}", Operand: "<", RTarget: "16 GiB"},
	}}
	res := h.run(h.upsertJob(deviceJob("small", 1, dev)), structs.EvalTriggerJobRegister)
	if got := grantedDevices(placed(res.Plan)); !slices.Equal(got, []string{"T4:GPU-t4-a"}) {
		t.Fatalf("grant %v, want a T4 (15360 MiB < 16 GiB)", got)
	}
	two := &structs.RequestedDevice{Name: "nvidia/gpu/T4", Count: 2}
	res = h.run(h.upsertJob(deviceJob("two", 1, two)), structs.EvalTriggerJobRegister)
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.DimensionExhausted[dimDevices+"nvidia/gpu/T4"] != 1 || m.ConstraintFiltered[reasonMissingDevices+"nvidia/gpu/T4"] != 1 {
		t.Fatalf("two T4s with one free: metric %+v", m)
	}
	fpga := &structs.RequestedDevice{Name: "xilinx/fpga", Count: 1}
	res = h.run(h.upsertJob(deviceJob("fpga", 1, fpga)), structs.EvalTriggerJobRegister)
	m = res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.ConstraintFiltered[reasonMissingDevices+"xilinx/fpga"] != 2 {
		t.Fatalf("fpga metric %+v, want both nodes filtered naming it", m)
	}
}

func TestDeviceCheckOperators(t *testing.T) {
	d := gpuNode(1).NodeResources.Devices[0]
	d.Attributes["driver_version"] = structs.NewStringAttribute("535.104.05")
	d.Attributes["power"] = structs.NewFloatAttribute(70, "W")
	d.Attributes["ecc"] = structs.NewBoolAttribute(true)
	c := newEvalCtx(nil, &structs.Evaluation{}, nil, "default", 0, Config{})
	for _, tc := range []struct {
		l, op, r string
		want     bool
	}{
		{"${device.attr.memory}", ">=", "15 GiB", true},
		{"${device.attr.memory}", ">", "15 GiB", false},
		{"${device.attr.memory}", "=", "15360 MiB", true},
		{"${device.attr.memory}", "<", "15000", false}, // unitless takes MiB
		{"${device.attr.memory}", "<", "2 GHz", false}, // different bases
		{"${device.attr.power}", "<=", "0.07 kW", true},
		{"${device.attr.ecc}", "=", "true", true},
		{"${device.attr.ecc}", ">", "false", false},
		{"${device.attr.driver_version}", "version", ">= 535.0", true},
		{"${device.attr.driver_version}", "regexp", "^535\\.", true},
		{"${device.attr.nope}", "is_not_set", "", true},
		{"${device.attr.nope}", "!=", "x", true},
		{"${device.model}", "=", "T4", true},
		{"${device.vendor}", "=", "amd", false},
		{"${device.type}", "=", "gpu", true},
		{"${device.ids}", "set_contains", "GPU-t4-b", true},
		{"${device.ids}", "set_contains_any", "GPU-x,GPU-a100", false},
		{"${device.bogus}", "=", "x", false},
	} {
		dc := c.compileDeviceCheck(tc.l, tc.op, tc.r, 0)
		if got := dc.match(d); got != tc.want {
			t.Errorf("%s %s %s = %v, want %v", tc.l, tc.op, tc.r, got, tc.want)
		}
	}
}

// TestHostVolumeFeasibility: a group's host volume places it only on nodes
// offering the volume, writable when it asks for write access; the failure
// names the volume.
func TestHostVolumeFeasibility(t *testing.T) {
	h := newHarness(t)
	none := mkNode(1, "dc1", 4000, 8000)
	ro := mkNode(2, "dc1", 4000, 8000)
	ro.HostVolumes = map[string]*structs.ClientHostVolumeConfig{"data": {Name: "data", Path: "/srv/ro", ReadOnly: true}}
	rw := mkNode(3, "dc1", 4000, 8000)
	rw.HostVolumes = map[string]*structs.ClientHostVolumeConfig{"data": {Name: "data", Path: "/srv/rw"}}
	h.upsertNodes(none, ro, rw)

	job := mkJob("vol", structs.JobTypeService, 3)
	job.TaskGroups[0].Volumes = map[string]*structs.VolumeRequest{"d": {Name: "d", Type: structs.VolumeTypeHost, Source: "data"}}
	res := h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	for _, a := range placed(res.Plan) {
		if a.NodeID != rw.ID {
			t.Fatalf("read-write volume placed on %s", a.NodeName)
		}
	}
	if len(placed(res.Plan)) != 3 {
		t.Fatalf("placed %d", len(placed(res.Plan)))
	}

	job.TaskGroups[0].Volumes["d"].ReadOnly = true
	job.Constraints = []*structs.Constraint{{Operand: structs.ConstraintDistinctHosts}}
	res = h.run(h.upsertJob(job), structs.EvalTriggerJobRegister)
	on := map[string]bool{}
	for _, a := range h.liveAllocs("vol") {
		on[a.NodeID] = true
	}
	if !on[ro.ID] || !on[rw.ID] || on[none.ID] {
		t.Fatalf("read-only volume on %v", on)
	}
	m := res.EvalUpdate.FailedTGAllocs["web"]
	if m == nil || m.ConstraintFiltered[reasonMissingHostVolumes+"data"] == 0 {
		t.Fatalf("metric %+v, want the missing volume named", m)
	}
}
