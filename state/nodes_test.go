package state

import (
	"errors"
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestNodes(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertNode(1, testNode("n-1")))
	must(t, s.UpsertNode(2, testNode("n-2")))
	must(t, s.UpsertNode(3, testNode("m-3")))

	refresh := testNode("n-1")
	refresh.Attributes["kernel.name"] = "darwin"
	must(t, s.UpsertNode(4, refresh))
	n, err := s.NodeByID(nil, "n-1")
	must(t, err)
	if n.CreateIndex != 1 || n.ModifyIndex != 4 || n.Attributes["kernel.name"] != "darwin" || n.SchedulingEligibility != "eligible" {
		t.Fatalf("refreshed node: %+v", n)
	}

	must(t, s.UpdateNodeStatus(5, "n-1", structs.NodeStatusDown, 1700000000))
	n, _ = s.NodeByID(nil, "n-1")
	if n.Status != "down" || n.StatusUpdatedAt != 1700000000 || n.ModifyIndex != 5 || n.CreateIndex != 1 {
		t.Fatalf("status update: %+v", n)
	}
	if err := s.UpdateNodeStatus(6, "nope", "down", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of unknown node: %v", err)
	}

	ns, err := s.NodesByIDPrefix(nil, "n-")
	must(t, err)
	if len(ns) != 2 || ns[0].ID != "n-1" || ns[1].ID != "n-2" {
		t.Fatalf("prefix n-: %v", ns)
	}
	all, _ := s.NodesByIDPrefix(nil, "")
	if len(all) != 3 {
		t.Fatalf("all nodes: %d", len(all))
	}

	must(t, s.DeleteNode(7, "n-2"))
	if n, _ := s.NodeByID(nil, "n-2"); n != nil {
		t.Fatal("node survived delete")
	}
	mustIndex(t, s, TableNodes, 7)
	if err := s.UpsertNode(8, &structs.Node{}); err == nil {
		t.Fatal("node without ID accepted")
	}
}
