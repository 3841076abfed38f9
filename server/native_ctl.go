package server

import (
	"context"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// nativeRoutes are the control-channel calls of the service catalog and
// the client's template watcher. The node is the call's authenticated
// caller: it writes only its own allocations' instances and reads only
// its own workloads' variables.
func (s *Server) nativeRoutes() {
	s.control.Handle(control.Route{Method: control.MethodServicesUpsert, Auth: control.AuthNode, Leader: true, Handler: s.ctlServicesUpsert})
	s.control.Handle(control.Route{Method: control.MethodServicesDeregister, Auth: control.AuthNode, Leader: true, Handler: s.ctlServicesDeregister})
	s.control.Handle(control.Route{Method: control.MethodTemplateWatch, Auth: control.AuthNode, Handler: s.ctlTemplateWatch})
}

func (s *Server) ctlServicesUpsert(ctx context.Context, c *control.Call) (any, error) {
	var req structs.ServiceRegistrationsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	idx, err := s.UpsertServiceRegistrations(ctx, c.Node, req.Services)
	if err != nil {
		return nil, err
	}
	return &control.WriteResponse{Index: idx}, nil
}

func (s *Server) ctlServicesDeregister(ctx context.Context, c *control.Call) (any, error) {
	var req structs.ServiceDeregisterRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	idx, err := s.DeregisterNodeServices(ctx, c.Node, req.IDs)
	if err != nil {
		return nil, err
	}
	return &control.WriteResponse{Index: idx}, nil
}

// ctlTemplateWatch serves the template watcher from this server's replica,
// waking at least every freshCheck to make sure the replica is still fresh
// enough to be waiting on.
func (s *Server) ctlTemplateWatch(ctx context.Context, c *control.Call) (any, error) {
	var req structs.TemplateWatchRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	wait := min(max(req.MaxWait, time.Second), maxTemplateWait)
	deadline := time.Now().Add(wait)
	for {
		step := req
		step.MaxWait = min(freshCheck, time.Until(deadline))
		resp, err := s.WatchTemplateData(ctx, c.Node, &step)
		if err != nil || len(resp.Results) > 0 || !time.Now().Before(deadline) {
			return resp, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.control.Fresh(c.MaxStale); err != nil {
			return nil, err
		}
	}
}
