package network

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/netns"
	"github.com/orch-project/orch/structs"
)

// AllocHook builds the network hook of an allocation whose group asks for
// a namespace of its own; nil otherwise. It must run before the hooks
// that use the allocation's address (services).
func (m *Manager) AllocHook(cfg *hooks.AllocHookConfig) hooks.Hook {
	if m == nil || GroupNetwork(cfg.Alloc) == nil {
		return nil
	}
	return &allocHook{m: m, allocID: cfg.Alloc.ID, node: cfg.NodeInfo}
}

type allocHook struct {
	m       *Manager
	allocID string
	node    taskenv.NodeInfo
}

func (*allocHook) Name() string { return "network" }

// Prerun builds the namespace once; it is Done, so after an agent restart
// the saved namespace path is given to the tasks again (they are still in
// it) instead of building a new one.
func (h *allocHook) Prerun(ctx context.Context, req *hooks.AllocPrerunRequest, resp *hooks.AllocPrerunResponse) error {
	nw := GroupNetwork(req.Alloc)
	if nw == nil {
		return errors.New("network: the group no longer asks for a network namespace")
	}
	if nw.Hostname != "" {
		// hostname is interpolated (${NOMAD_ALLOC_INDEX}, node
		// attributes), as in Nomad.
		c := *nw
		c.Hostname = taskenv.Build(h.node, req.Alloc, &structs.Task{}, taskenv.Dirs{}).ReplaceString(nw.Hostname)
		nw = &c
	}
	att, err := h.m.Create(ctx, req.Alloc, nw)
	if err != nil {
		return fmt.Errorf("setting up %s networking: %w", nw.Mode, err)
	}
	labels := maps.Clone(att.Labels)
	if att.Address != "" {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[drivers.LabelAllocAddress] = att.Address
	}
	resp.NetworkIsolation = &drivers.NetworkIsolationSpec{Mode: drivers.NetIsolationModeGroup, Path: att.NSPath, Labels: labels}
	resp.Network = &hooks.AllocNetworkStatus{InterfaceName: ifName, Address: att.Address, DNS: att.DNS}
	resp.Done = true
	return nil
}

// Postrun tears the namespace down once every task is dead for good.
func (h *allocHook) Postrun(ctx context.Context, _ *hooks.AllocPostrunRequest) error {
	h.m.Destroy(context.WithoutCancel(ctx), h.allocID)
	return nil
}

// Destroy makes sure nothing is left when the client forgets the
// allocation (Postrun did not run: the allocation never started).
func (h *allocHook) Destroy(ctx context.Context) error {
	h.m.Destroy(context.WithoutCancel(ctx), h.allocID)
	return nil
}

// TaskHook checks, before each task start, that the allocation's
// namespace still exists, and gives the task the allocation's resolv.conf
// (the group's dns block), bound at /etc/resolv.conf. A
// driver without a mount namespace (raw_exec) refuses the mount, so the
// job validation refuses dns for raw_exec tasks first.
func (m *Manager) TaskHook(cfg *hooks.TaskHookConfig) hooks.Hook {
	if m == nil || GroupNetwork(cfg.Alloc) == nil {
		return nil
	}
	return &dnsHook{m: m}
}

type dnsHook struct{ m *Manager }

func (*dnsHook) Name() string { return "network_dns" }

func (h *dnsHook) Prestart(_ context.Context, req *hooks.TaskPrestartRequest, resp *hooks.TaskPrestartResponse) error {
	// The namespace is kernel state: after a host reboot the saved path
	// names nothing, and no restart of the task can bring it back.
	if ns := h.m.NSPath(req.Alloc.ID); !netns.IsNamespace(ns) {
		return drivers.NonRecoverable(fmt.Errorf("the allocation's network namespace %s is gone (was the host rebooted?)", ns))
	}
	path := h.m.ResolvConfPath(req.Alloc.ID)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("allocation resolv.conf: %w", err)
	}
	resp.Mounts = []*drivers.MountConfig{{TaskPath: "/etc/resolv.conf", HostPath: path, Readonly: true}}
	return nil
}
