package client

import (
	"github.com/orch-project/orch/client/health"
	"github.com/orch-project/orch/client/hooks"
)

// allocHooks lists the feature alloc hooks every allocation runs, in
// order (see client/hooks for the stages). They run after the built-in
// alloc dir hook and before the group shutdown delay, so a group service
// registered here is deregistered before that delay passes. Add a feature
// with one line: its factory returns nil for allocations it does not
// concern.
func (c *Client) allocHooks() []hooks.AllocHookFactory {
	return []hooks.AllocHookFactory{
		// Health checks are not run yet: "checks" judges by task states.
		health.HookFactory(nil),
	}
}

// taskHooks lists the feature task hooks every task runs, in order. They
// run after the built-in task dir and log hooks and before the task's
// shutdown delay. Order matters where one hook uses another's output:
// artifacts before templates that read them, templates before anything
// that needs their env.
func (c *Client) taskHooks() []hooks.TaskHookFactory {
	return nil
}
