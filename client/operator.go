package client

import (
	"context"
	"fmt"

	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// runner returns the runner of an allocation this client runs.
func (c *Client) runner(allocID string) (*allocrunner.AllocRunner, error) {
	c.mu.RLock()
	r, ok := c.runners[allocID]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q on this node", structs.ErrUnknownAllocation, allocID)
	}
	return r, nil
}

// RestartAlloc restarts a task of an allocation, or all its running tasks
// (`alloc restart`).
func (c *Client) RestartAlloc(ctx context.Context, allocID, task string) error {
	r, err := c.runner(allocID)
	if err != nil {
		return err
	}
	return r.RestartTasks(ctx, task)
}

// SignalAlloc signals a task of an allocation, or all its running tasks
// (`alloc signal`).
func (c *Client) SignalAlloc(allocID, task, signal string) error {
	r, err := c.runner(allocID)
	if err != nil {
		return err
	}
	return r.SignalTasks(task, signal)
}

// ExecAlloc runs a command inside a running task (`alloc exec`).
func (c *Client) ExecAlloc(ctx context.Context, allocID, task string, req *drivers.ExecRequest) (int, error) {
	r, err := c.runner(allocID)
	if err != nil {
		return 0, err
	}
	return r.ExecTask(ctx, task, req)
}

// ExecRunsOnHost reports whether commands run in the task run on the host
// (raw_exec, java without isolation).
func (c *Client) ExecRunsOnHost(allocID, task string) (bool, error) {
	r, err := c.runner(allocID)
	if err != nil {
		return false, err
	}
	return r.ExecRunsOnHost(task)
}
