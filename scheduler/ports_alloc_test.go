package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// The node load runs allocSharedPorts for every live allocation of every
// node it scores: one that shares no port (nearly all of them, networks
// or not) must cost no allocation.
func TestAllocSharedPortsAllocatesNothingWithoutSharers(t *testing.T) {
	a := &structs.Allocation{AllocatedResources: &structs.AllocatedResources{
		Shared: structs.AllocatedSharedResources{
			Networks: []*structs.NetworkResource{{Mode: "host", ReservedPorts: []structs.Port{{Label: "http", Value: 8080}}}},
			Ports:    []structs.AllocatedPort{{Label: "http", Value: 8080}},
		},
		Tasks: map[string]*structs.AllocatedTaskResources{
			"web": {Networks: []*structs.NetworkResource{{DynamicPorts: []structs.Port{{Label: "d", Value: 23000}}}}},
		},
	}}
	if n := testing.AllocsPerRun(100, func() { _ = allocSharedPorts(a) }); n != 0 {
		t.Fatalf("allocSharedPorts allocated %v times for an allocation sharing no port", n)
	}
	a.AllocatedResources.Tasks["web"].Networks[0].ReservedPorts = []structs.Port{{Label: "s", Value: 9000, IgnoreCollision: true}}
	a.AllocatedResources.Shared.Ports = append(a.AllocatedResources.Shared.Ports, structs.AllocatedPort{Label: "s", Value: 9000, IgnoreCollision: true})
	if got := allocSharedPorts(a); len(got) != 1 || got[0] != 9000 {
		t.Fatalf("shared ports %v, want [9000] once", got)
	}
}
