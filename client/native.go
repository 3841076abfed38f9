package client

import (
	"context"
	"time"

	"github.com/orch-project/orch/client/services"
	"github.com/orch-project/orch/client/template"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// The client's native features: service registration with checks, and
// templates. Both reach the servers over the control channel as this node.

// nativeRPC is the control channel as the services and template packages
// see it.
type nativeRPC struct{ rpc *control.Client }

func (n nativeRPC) UpsertServices(ctx context.Context, regs []*structs.ServiceRegistration) error {
	_, err := n.rpc.Call(ctx, control.MethodServicesUpsert, &structs.ServiceRegistrationsRequest{Services: regs}, nil)
	return err
}

func (n nativeRPC) DeregisterServices(ctx context.Context, ids []string) error {
	_, err := n.rpc.Call(ctx, control.MethodServicesDeregister, &structs.ServiceDeregisterRequest{IDs: ids}, nil)
	return err
}

func (n nativeRPC) WatchTemplateData(ctx context.Context, req *structs.TemplateWatchRequest) (*structs.TemplateWatchResponse, error) {
	// The call may block for req.MaxWait; give it a margin past that.
	ctx, cancel := context.WithTimeout(ctx, req.MaxWait+templateCallMargin)
	defer cancel()
	var resp structs.TemplateWatchResponse
	if _, err := n.rpc.Call(ctx, control.MethodTemplateWatch, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// initNative builds the services and template machinery; runNative runs
// their loops until ctx ends.
func (c *Client) initNative() {
	rpc := nativeRPC{c.rpc}
	c.services = services.NewManager(rpc, c.cfg.Logger)
	c.templates = &template.Manager{Watcher: template.NewWatcher(rpc, c.cfg.Logger), Region: c.cfg.Region}
}

func (c *Client) runNative(ctx context.Context) {
	go c.services.Registrar.Run(ctx)
	c.templates.Watcher.Run(ctx)
}

// CheckResults returns the latest results of an allocation's service checks.
func (c *Client) CheckResults(allocID string) map[string]*structs.CheckQueryResult {
	return c.services.Checks.Results(allocID)
}

// AllocChecks is an allocation's checks as deployment health reads them
// (client/health.Checks: Passing and Changed).
func (c *Client) AllocChecks(allocID string) *services.AllocChecks {
	return c.services.Checks.Alloc(allocID)
}

// templateCallMargin is how much longer than its MaxWait a template watch
// call may take before the client gives up on it.
const templateCallMargin = 30 * time.Second
