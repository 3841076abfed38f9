package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// TestMigrateInfoOnlyForTheReplacementsNode: the node running the
// replacement of a migrating group learns where the previous allocation is
// and gets the token its node accepts; no other node does, and a node
// marked down yields no token.
func TestMigrateInfoOnlyForTheReplacementsNode(t *testing.T) {
	s, dial := testHBServer(t, HeartbeatConfig{MinTTL: time.Hour})
	n1, n2 := testNode("n1", 4000, 4096), testNode("n2", 4000, 4096)
	n1.HTTPAddr, n2.HTTPAddr = "10.0.0.1:4646", "10.0.0.2:4646"
	c1, c2 := dial(n1.ID, n1.SecretID), dial(n2.ID, n2.SecretID)
	for _, n := range []struct {
		c *control.Client
		n *structs.Node
	}{{c1, n1}, {c2, n2}} {
		if _, err := register(t, n.c, n.n); err != nil {
			t.Fatal(err)
		}
	}
	job := testJob("m", 1, 64)
	job.TaskGroups[0].EphemeralDisk = &structs.EphemeralDisk{SizeMB: 10, Migrate: true}
	job.Constraints = []*structs.Constraint{{LTarget: "${node.unique.name}", Operand: "=", RTarget: "n1"}}
	if _, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "placed on n1", func() bool { return len(liveAllocs(t, s, "m")) == 1 })
	prev := liveAllocs(t, s, "m")[0]
	job.Constraints[0].RTarget = "n2"
	if _, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	var next *structs.Allocation
	waitUntil(t, 5*time.Second, "replaced on n2", func() bool {
		l := liveAllocs(t, s, "m")
		if len(l) == 1 && l[0].ID != prev.ID {
			next = l[0]
		}
		return next != nil
	})
	if next.NodeID != n2.ID || next.PreviousAllocation != prev.ID {
		t.Fatalf("replacement %+v", next)
	}
	info := func(c *control.Client, id string) (*control.MigrateInfoResponse, error) {
		var resp control.MigrateInfoResponse
		_, err := c.Call(context.Background(), control.MethodMigrateInfo, &control.MigrateInfoRequest{AllocID: id}, &resp)
		return &resp, err
	}
	got, err := info(c2, next.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrevAllocID != prev.ID || got.PrevNodeID != n1.ID || got.PrevNodeHTTPAddr != n1.HTTPAddr || got.PrevNodeDown ||
		!control.VerifyMigrateToken(n1.SecretID, prev.ID, got.Token) {
		t.Fatalf("migrate info %+v", got)
	}
	// Another node asking about the replacement, or about the previous
	// allocation (which replaces nothing): refused.
	if _, err := info(c1, next.ID); !control.IsCode(err, http.StatusForbidden) {
		t.Fatalf("n1 asking for n2's allocation: %v", err)
	}
	if _, err := info(c1, prev.ID); !control.IsCode(err, http.StatusBadRequest) {
		t.Fatalf("asking for an allocation that replaces nothing: %v", err)
	}
	markDown(t, s, n1.ID)
	if got, err := info(c2, next.ID); err != nil || !got.PrevNodeDown || got.Token != "" {
		t.Fatalf("previous node down: %+v %v", got, err)
	}
}
