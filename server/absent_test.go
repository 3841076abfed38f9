package server

import (
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestAbsentNodesGrace: a node missing from the gossip pool is marked down
// only once both its own grace (since its last status change) and the
// leader's (since it gained leadership) are over; alive and down nodes
// never are.
func TestAbsentNodesGrace(t *testing.T) {
	now := time.Unix(10_000, 0)
	node := func(id, status string, updated time.Time) *structs.Node {
		return &structs.Node{ID: id, Status: status, StatusUpdatedAt: updated.Unix()}
	}
	old := now.Add(-time.Hour)
	nodes := []*structs.Node{
		node("gone", structs.NodeStatusReady, old),
		node("alive", structs.NodeStatusReady, old),
		node("down", structs.NodeStatusDown, old),
		node("fresh", structs.NodeStatusReady, now.Add(-5*time.Second)),
	}
	alive := map[string]bool{"alive": true}
	// A leader of a few seconds has not heard the pool yet: nobody goes down
	// (the restarted single agent whose client is not up yet).
	if got := absentNodes(nodes, alive, now.Add(-2*time.Second), now); len(got) != 0 {
		t.Fatalf("new leader marked %v down", got)
	}
	got := absentNodes(nodes, alive, now.Add(-time.Minute), now)
	if len(got) != 1 || got[0].ID != "gone" {
		t.Fatalf("absent nodes %v, want only gone", got)
	}
}
