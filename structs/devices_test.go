package structs

import (
	"encoding/json"
	"reflect"
	"testing"

	nomad "github.com/hashicorp/nomad/api"
)

// TestPlacementShapesDecodeAsNomads: the node's devices, cores and host
// volumes and an allocation's granted cores and devices reach a
// nomad/api client with every value, so the stock CLI shows them.
func TestPlacementShapesDecodeAsNomads(t *testing.T) {
	node := &Node{
		ID: "n1",
		NodeResources: &NodeResources{
			Cpu: NodeCpuResources{CpuShares: 8000, TotalCpuCores: 4, ReservableCpuCores: []uint16{1, 2, 3}},
			Devices: []*NodeDeviceResource{{
				Vendor: "nvidia", Type: "gpu", Name: "Tesla T4",
				Instances: []*NodeDevice{{ID: "GPU-1", Healthy: true, Locality: &NodeDeviceLocality{PciBusID: "0000:3b:00.0"}}},
				Attributes: map[string]*Attribute{
					"memory": NewIntAttribute(15360, "MiB"), "driver_version": NewStringAttribute("535.1"),
					"power": NewFloatAttribute(70.5, "W"), "mig": NewBoolAttribute(false),
				},
			}},
		},
		ReservedResources: &NodeReservedResources{Cpu: NodeReservedCpuResources{CpuShares: 100, ReservedCpuCores: []uint16{0}}},
		HostVolumes:       map[string]*ClientHostVolumeConfig{"data": {Name: "data", Path: "/srv/data", ReadOnly: true}},
	}
	var got nomad.Node
	roundTrip(t, node, &got)
	if c := got.NodeResources.Cpu; c.CpuShares != 8000 || c.TotalCpuCores != 4 || !reflect.DeepEqual(c.ReservableCpuCores, []uint16{1, 2, 3}) {
		t.Errorf("cpu = %+v", c)
	}
	if hv := got.HostVolumes["data"]; hv == nil || hv.Path != "/srv/data" || !hv.ReadOnly {
		t.Errorf("host volumes = %+v", got.HostVolumes)
	}
	d := got.NodeResources.Devices[0]
	if d.ID() != "nvidia/gpu/Tesla T4" || len(d.Instances) != 1 || d.Instances[0].ID != "GPU-1" || !d.Instances[0].Healthy ||
		d.Instances[0].Locality.PciBusID != "0000:3b:00.0" {
		t.Errorf("device = %+v", d)
	}
	for k, want := range map[string]string{"memory": "15360 MiB", "driver_version": "535.1", "power": "70.5 W", "mig": "false"} {
		if a := d.Attributes[k]; a == nil || a.String() != want || node.NodeResources.Devices[0].Attributes[k].String() != want {
			t.Errorf("attribute %s = %v, want %q", k, a, want)
		}
	}
	if got.ReservedResources.Cpu.CpuShares != 100 {
		t.Errorf("reserved = %+v", got.ReservedResources)
	}

	ar := &AllocatedResources{Tasks: map[string]*AllocatedTaskResources{"t": {
		Cpu:     AllocatedCpuResources{CpuShares: 4000, ReservedCores: []uint16{2, 3}},
		Devices: []*AllocatedDeviceResource{{Vendor: "nvidia", Type: "gpu", Name: "Tesla T4", DeviceIDs: []string{"GPU-1"}}},
	}}}
	var gotAR nomad.AllocatedResources
	roundTrip(t, ar, &gotAR)
	tr := gotAR.Tasks["t"]
	if tr.Cpu.CpuShares != 4000 || len(tr.Devices) != 1 || !reflect.DeepEqual(tr.Devices[0].DeviceIDs, []string{"GPU-1"}) ||
		tr.Devices[0].Name != "Tesla T4" || tr.Devices[0].Vendor != "nvidia" || tr.Devices[0].Type != "gpu" {
		t.Errorf("allocated = %+v / %+v", tr, tr.Devices)
	}
	// nomad/api has no ReservedCores field; the raw JSON carries Nomad's name.
	raw, _ := json.Marshal(ar)
	var m map[string]map[string]map[string]map[string]any
	_ = json.Unmarshal(raw, &m)
	if cores := m["Tasks"]["t"]["Cpu"]["ReservedCores"]; !reflect.DeepEqual(cores, []any{2.0, 3.0}) {
		t.Errorf("ReservedCores = %v", cores)
	}
}

func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceNameMatches(t *testing.T) {
	d := &NodeDeviceResource{Vendor: "nvidia", Type: "gpu", Name: "1080ti"}
	for name, want := range map[string]bool{
		"gpu": true, "nvidia/gpu": true, "nvidia/gpu/1080ti": true,
		"fpga": false, "amd/gpu": false, "nvidia/gpu/2080ti": false, "nvidia/fpga": false,
	} {
		if got := ParseDeviceName(name).Matches(d); got != want {
			t.Errorf("%q matches = %v, want %v", name, got, want)
		}
	}
}
