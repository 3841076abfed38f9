package server

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// migrateRoutes are the control-channel calls for moving a previous
// allocation's ephemeral disk to its replacement (sticky/migrate).
func (s *Server) migrateRoutes() {
	s.control.Handle(control.Route{Method: control.MethodMigrateInfo, Auth: control.AuthNode, Handler: s.ctlMigrateInfo})
}

// ctlMigrateInfo answers for the authenticated node's own allocation only:
// the token it returns lets the caller read another node's allocation
// data, so it goes to nobody but the node running the replacement, and
// only for a group whose disk migrates.
func (s *Server) ctlMigrateInfo(_ context.Context, c *control.Call) (any, error) {
	var req control.MigrateInfoRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	snap := s.State().Snapshot()
	a, err := snap.AllocByID(nil, req.AllocID)
	if err != nil {
		return nil, err
	}
	if a == nil || a.NodeID != c.Node {
		return nil, control.Errorf(http.StatusForbidden, "allocation %s is not on node %s", req.AllocID, c.Node)
	}
	var disk *structs.EphemeralDisk
	if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
		disk = tg.EphemeralDisk
	}
	if a.PreviousAllocation == "" || disk == nil || !(disk.Sticky || disk.Migrate) {
		return nil, control.Errorf(http.StatusBadRequest, "allocation %s has no sticky ephemeral disk to take over", a.ID)
	}
	prev, err := snap.AllocByID(nil, a.PreviousAllocation)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		return nil, control.Errorf(http.StatusNotFound, "previous allocation %s no longer exists", a.PreviousAllocation)
	}
	resp := &control.MigrateInfoResponse{PrevAllocID: prev.ID, PrevNodeID: prev.NodeID}
	n, err := snap.NodeByID(nil, prev.NodeID)
	if err != nil {
		return nil, err
	}
	if n == nil || n.Status == structs.NodeStatusDown || n.Status == structs.NodeStatusDisconnected {
		resp.PrevNodeDown = true
		return resp, nil
	}
	resp.PrevNodeHTTPAddr, resp.PrevNodeTLS = n.HTTPAddr, n.TLSEnabled
	if disk.Migrate && prev.NodeID != c.Node && n.SecretID != "" {
		resp.Token = control.MigrateToken(n.SecretID, prev.ID)
	}
	return resp, nil
}
