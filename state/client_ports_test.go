package state

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

// TestClientUpdateReportsPorts: the client's dynamic port assignment is
// the one part of AllocatedResources a client update may change.
func TestClientUpdateReportsPorts(t *testing.T) {
	s := newTestStore(t)
	ids := placeJob(t, s, structs.JobTypeService, 1)
	orig, _ := s.AllocByID(nil, ids[0])
	ports := []structs.AllocatedPort{{Label: "http", Value: 24567, To: 24567, HostIP: "10.0.0.1"}}
	must(t, s.UpdateAllocsFromClient(4, []*structs.Allocation{{ID: ids[0], ClientStatus: structs.AllocClientStatusRunning,
		AllocatedResources: &structs.AllocatedResources{Shared: structs.AllocatedSharedResources{Ports: ports, DiskMB: 999999}}}}, 2000))
	a, _ := s.AllocByID(nil, ids[0])
	if a.AllocatedResources == nil || len(a.AllocatedResources.Shared.Ports) != 1 || a.AllocatedResources.Shared.Ports[0] != ports[0] {
		t.Fatalf("ports not stored: %+v", a.AllocatedResources)
	}
	if orig.AllocatedResources != nil {
		if a.AllocatedResources.Shared.DiskMB != orig.AllocatedResources.Shared.DiskMB {
			t.Fatal("client update changed DiskMB")
		}
		if len(orig.AllocatedResources.Shared.Ports) != 0 {
			t.Fatal("the stored object of an older snapshot was mutated")
		}
	}
}
