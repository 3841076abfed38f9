package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// CleanupOrphans removes this node's containers whose allocation is not in
// live: leftovers of allocations the client no longer knows (stopped while
// the client was down, or whose state was lost). Containers of other nodes
// sharing the daemon are left alone.
func (d *Driver) CleanupOrphans(ctx context.Context, live map[string]bool) error {
	if d.cfg.NodeID == "" {
		return errors.New("docker driver: orphan cleanup needs a node ID")
	}
	list, err := d.client.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelNodeID+"="+d.cfg.NodeID)),
	})
	if err != nil {
		return fmt.Errorf("listing containers of node %s: %w", d.cfg.NodeID, err)
	}
	var errs []error
	for _, c := range list {
		allocID := c.Labels[LabelAllocID]
		if live[allocID] {
			continue
		}
		err := d.client.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing orphan container %s: %w", shortID(c.ID), err))
			continue
		}
		if d.cfg.StateDir != "" {
			_ = os.Remove(filepath.Join(d.cfg.StateDir, c.ID+".logcursor"))
		}
		d.logger.Info("removed orphan container", "container", shortID(c.ID), "alloc_id", allocID, "task", c.Labels[LabelTask])
	}
	return errors.Join(errs...)
}
