package docker

import (
	"context"
	"fmt"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

// DefaultInfraImage is the sandbox ("pause") image that holds an
// allocation's network namespace, as Nomad's infra_image default.
const DefaultInfraImage = "registry.k8s.io/pause-amd64:3.3"

// LabelSandbox marks the sandbox container of an allocation.
const LabelSandbox = "com.orch.sandbox"

var _ drivers.NetworkCreator = (*Driver)(nil)

// sandboxName is the sandbox container's name: one per allocation, so a
// second CreateNetwork (a retried Prerun) finds the first.
func sandboxName(allocID string) string { return "orch_init_" + allocID }

// CreateNetwork starts the allocation's sandbox container (the infra
// image, no network but its own namespace's loopback) and returns its
// network namespace: the client wires it with CNI and the task containers
// join it with network_mode container:<sandbox>, and with it the sandbox's
// hostname (network.hostname).
func (d *Driver) CreateNetwork(ctx context.Context, allocID, hostname string) (string, map[string]string, error) {
	name := sandboxName(allocID)
	id, err := d.findSandbox(ctx, allocID, name)
	if err != nil {
		return "", nil, err
	}
	if id == "" {
		if id, err = d.createSandbox(ctx, allocID, name, hostname); err != nil {
			return "", nil, err
		}
	}
	if err := d.client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return "", nil, fmt.Errorf("starting sandbox %s: %w", name, err)
	}
	info, err := d.client.ContainerInspect(ctx, id)
	if err != nil {
		return "", nil, fmt.Errorf("inspecting sandbox %s: %w", name, err)
	}
	if info.State == nil || !info.State.Running || info.State.Pid <= 0 {
		return "", nil, fmt.Errorf("sandbox %s is not running (infra image %s must run a long-lived process)", name, d.infraImage())
	}
	path := "/proc/" + strconv.Itoa(info.State.Pid) + "/ns/net"
	return path, map[string]string{LabelSandboxContainer: id}, nil
}

func (d *Driver) infraImage() string {
	if d.cfg.InfraImage != "" {
		return d.cfg.InfraImage
	}
	return DefaultInfraImage
}

// findSandbox returns the ID of the allocation's sandbox when it exists
// (a retried Prerun, a restarted agent). A container with that name that
// this driver did not make for the allocation on this node is refused,
// not adopted: its namespace (the host's, say) would be wired with CNI
// and handed to the tasks.
func (d *Driver) findSandbox(ctx context.Context, allocID, name string) (string, error) {
	info, err := d.client.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("inspecting sandbox %s: %w", name, err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if labels[LabelSandbox] != "true" || labels[LabelAllocID] != allocID || labels[LabelNodeID] != d.cfg.NodeID ||
		info.HostConfig == nil || info.HostConfig.NetworkMode != "none" {
		return "", fmt.Errorf("container %s is not the sandbox this driver made for allocation %s: refusing to use its network namespace", name, allocID)
	}
	return info.ID, nil
}

func (d *Driver) createSandbox(ctx context.Context, allocID, name, hostname string) (string, error) {
	img, err := d.ensureImage(ctx, &taskConfig{Image: d.infraImage()})
	if err != nil {
		return "", fmt.Errorf("infra image: %w", err)
	}
	cc := &container.Config{Image: img, Hostname: hostname, Labels: map[string]string{
		LabelAllocID: allocID, LabelNodeID: d.cfg.NodeID, LabelSandbox: "true"}}
	hc := &container.HostConfig{NetworkMode: "none"}
	resp, err := d.client.ContainerCreate(ctx, cc, hc, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("creating sandbox %s: %w", name, err)
	}
	return resp.ID, nil
}

// DestroyNetwork removes the allocation's sandbox container, and only
// that: a container with the sandbox's name that this driver did not make
// (findSandbox refused it) is left to its owner.
func (d *Driver) DestroyNetwork(ctx context.Context, allocID string) error {
	id, err := d.findSandbox(ctx, allocID, sandboxName(allocID))
	if err != nil || id == "" {
		return err
	}
	err = d.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing sandbox of allocation %s: %w", allocID, err)
	}
	return nil
}
