package client

import (
	"context"

	"github.com/orch-project/orch/client/artifacts"
	"github.com/orch-project/orch/client/devices"
	"github.com/orch-project/orch/client/health"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/identityhook"
	"github.com/orch-project/orch/client/migrate"
	"github.com/orch-project/orch/client/payload"
	"github.com/orch-project/orch/client/volumes"
	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// allocHooks lists the feature alloc hooks every allocation runs, in
// order (see client/hooks for the stages). They run after the built-in
// alloc dir hook and before the group shutdown delay, so a group service
// registered here is deregistered before that delay passes. Add a feature
// with one line: its factory returns nil for allocations it does not
// concern.
func (c *Client) allocHooks() []hooks.AllocHookFactory {
	return []hooks.AllocHookFactory{
		// The previous allocation's data moves in before anything else
		// touches the new allocation's directories.
		migrate.HookFactory(migrate.Config{AllocRoot: c.allocRoot, Source: c.migrateSrc}),
		c.network.AllocHook,
		c.services.AllocHook,
		health.HookFactory(func(a *structs.Allocation) health.Checks { return c.services.Checks.ForHealth(a) }),
	}
}

// taskHooks lists the feature task hooks every task runs, in order. They
// run after the built-in task dir and log hooks and before the task's
// shutdown delay. Order matters where one hook uses another's output:
// artifacts before templates that read them, templates before anything
// that needs their env; secrets before templates and services, which may
// interpolate them.
func (c *Client) taskHooks() []hooks.TaskHookFactory {
	return []hooks.TaskHookFactory{
		identityhook.New(identitySigner{c}),
		artifacts.HookFactory(c.artifactSetup()),
		volumes.HookFactory(func() map[string]*structs.ClientHostVolumeConfig { return c.cfg.HostVolumes }),
		devices.HookFactory(),
		payload.HookFactory(),
		c.network.TaskHook,
		c.templates.SecretsHook,
		c.templates.TaskHook,
		c.services.TaskHook,
	}
}

// identitySigner asks the servers, over the control channel, for the
// workload identities of this node's tasks.
type identitySigner struct{ c *Client }

func (s identitySigner) SignIdentities(ctx context.Context, allocID string, tasks []string) (map[string]string, error) {
	var resp control.SignIdentitiesResponse
	if _, err := s.c.rpc.Call(ctx, control.MethodSignIdentities,
		&control.SignIdentitiesRequest{AllocID: allocID, Tasks: tasks}, &resp); err != nil {
		return nil, err
	}
	return resp.Identities, nil
}

func (c *Client) artifactSetup() artifacts.Setup {
	cfg := artifacts.DefaultConfig()
	if c.cfg.Artifacts != nil {
		cfg = *c.cfg.Artifacts
	}
	return artifacts.Setup{Config: cfg, DataDir: c.cfg.DataDir, Logger: c.logger}
}
