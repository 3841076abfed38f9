package client

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/structs"
)

// watchWait is the blocking-query wait for allocation changes.
const watchWait = 5 * time.Minute

// Run re-attaches to the allocations an earlier client left running,
// registers the node and runs allocations until ctx ends. Tasks are left
// running on return so a restarted agent can re-attach; the state file is
// closed, so a Client runs once.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		c.waitRunners()
		c.updater.flush()
		c.closeDrivers()
		if err := c.db.Close(); err != nil {
			c.logger.Warn("closing state file", "error", err)
		}
	}()
	wg.Add(1)
	go func() { defer wg.Done(); c.updater.run(ctx) }()
	c.restore(ctx)
	c.cleanupOrphans(ctx)

	if !c.registerUntilDone(ctx) {
		return nil
	}
	wg.Add(1)
	go func() { defer wg.Done(); c.registerLoop(ctx) }()
	c.watch(ctx)
	return nil
}

// restore rebuilds runners from the state file; each task runner then
// re-attaches to its task through the driver.
func (c *Client) restore(ctx context.Context) {
	allocs, err := c.db.Allocs()
	if err != nil {
		c.logger.Error("loading client state", "error", err)
	}
	for _, al := range allocs {
		if al.Tasks == nil {
			al.Tasks = map[string]*state.TaskLocal{}
		}
		c.startRunner(ctx, al.Alloc, al.Tasks, al.Hooks)
		c.logger.Info("restored allocation", "alloc", al.Alloc.ID)
	}
}

func (c *Client) startRunner(ctx context.Context, a *structs.Allocation, restored map[string]*state.TaskLocal,
	restoredHooks map[string]*hooks.AllocHookState) {
	ports, err := c.ports.Assign(a)
	if err != nil {
		c.logger.Error("cannot assign ports", "alloc", a.ID, "error", err)
		u := &structs.Allocation{ID: a.ID, ClientStatus: structs.AllocClientStatusFailed,
			ClientDescription: "Failed to assign ports: " + err.Error()}
		c.updater.enqueue(u)
		return
	}
	a = withPorts(a, ports)
	r, err := allocrunner.New(allocrunner.Config{
		Alloc: a, AllocRoot: c.allocRoot, Drivers: c.drivers, NodeInfo: c.nodeInfo(),
		DB: c.db, Logger: c.cfg.Logger, OnUpdate: c.updater.enqueue, Restored: restored,
		RestoredHooks: restoredHooks, AllocHooks: c.allocHooks(), TaskHooks: c.taskHooks(),
	})
	if err != nil {
		c.logger.Error("cannot run allocation", "alloc", a.ID, "error", err)
		u := &structs.Allocation{ID: a.ID, ClientStatus: structs.AllocClientStatusFailed, ClientDescription: err.Error()}
		c.updater.enqueue(u)
		if rerr := c.ports.Release(a.ID); rerr != nil {
			c.logger.Warn("releasing ports", "alloc", a.ID, "error", rerr)
		}
		return
	}
	c.mu.Lock()
	c.runners[a.ID] = r
	c.seen[a.ID] = versionOf(a)
	c.mu.Unlock()
	go func() {
		r.Run(ctx)
		// Run returning while ctx lives means every task is dead: the
		// ports are free. On shutdown they stay held for the next client.
		if ctx.Err() == nil {
			if err := c.ports.Release(a.ID); err != nil {
				c.logger.Warn("releasing ports", "alloc", a.ID, "error", err)
			}
		}
	}()
}

func versionOf(a *structs.Allocation) allocVersion {
	return allocVersion{allocModify: a.AllocModifyIndex, jobVersion: a.JobVersion, desired: a.DesiredStatus}
}

func (c *Client) waitRunners() {
	c.mu.RLock()
	rs := make([]*allocrunner.AllocRunner, 0, len(c.runners))
	for _, r := range c.runners {
		rs = append(rs, r)
	}
	c.mu.RUnlock()
	for _, r := range rs {
		<-r.Done()
	}
}

func (c *Client) register(ctx context.Context) error {
	node := c.Node()
	node.Status = structs.NodeStatusReady
	node.StatusUpdatedAt = time.Now().Unix()
	var resp structs.NodeUpdateResponse
	err := c.servers.do(ctx, func(ac *api.Client) error {
		return ac.Write(ctx, http.MethodPut, "/v1/internal/node/register", nil,
			&structs.NodeRegisterRequest{Node: node}, &resp)
	})
	if err != nil {
		return err
	}
	if len(resp.Servers) > 0 {
		c.servers.set(resp.Servers)
	}
	return nil
}

// registerUntilDone retries registration until it succeeds; false when ctx
// ended first.
func (c *Client) registerUntilDone(ctx context.Context) bool {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		err := c.register(ctx)
		if err == nil {
			c.logger.Info("node registered", "node_id", c.nodeID)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := b.next()
		c.logger.Warn("node registration failed", "retry_in", d, "error", err)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return false
		}
	}
}

// registerLoop re-registers periodically, at once when a driver's health
// changes, and when a server no longer knows the node.
func (c *Client) registerLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.RegisterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.refreshDrivers(ctx)
		case <-c.reregister:
		}
		c.registerUntilDone(ctx)
	}
}

// refreshDrivers re-fingerprints the drivers and reports whether the
// node's view of them changed.
func (c *Client) refreshDrivers(ctx context.Context) bool {
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	infos := c.fingerprintDrivers(fctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	n := *c.node
	n.Attributes = copyMap(c.node.Attributes)
	for name, info := range infos {
		old := c.node.Drivers[name]
		if old == nil || old.Detected != info.Detected || old.Healthy != info.Healthy {
			changed = true
		}
		for k, v := range info.Attributes {
			n.Attributes[k] = v
		}
		if info.Detected {
			n.Attributes["driver."+name] = "1"
		} else {
			delete(n.Attributes, "driver."+name)
		}
	}
	n.Drivers = infos
	c.node = &n
	return changed
}

func (c *Client) triggerRegister() {
	select {
	case c.reregister <- struct{}{}:
	default:
	}
}

// watch follows the node's allocations with blocking queries.
func (c *Client) watch(ctx context.Context) {
	var index uint64
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	path := "/v1/internal/node/" + c.nodeID + "/allocs"
	retry := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if api.IsNotFound(err) {
			c.triggerRegister()
		}
		d := b.next()
		c.logger.Warn("watching allocations failed", "retry_in", d, "error", err)
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		// The watch returns each allocation's AllocModifyIndex only; full
		// allocations are fetched for those that changed, so status
		// reports (which change ModifyIndex, not AllocModifyIndex) and
		// unchanged allocations cost nothing to move.
		var mods map[string]uint64
		var last uint64
		err := c.servers.do(ctx, func(ac *api.Client) error {
			mods = nil
			qm, err := ac.Query(ctx, path, &api.QueryOptions{WaitIndex: index, WaitTime: watchWait}, &mods)
			if err == nil {
				last = qm.LastIndex
			}
			return err
		})
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		allocs, err := c.fetchChanged(ctx, mods)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		b.reset()
		switch {
		case last < index:
			// A fresh server (or restored snapshot) restarted indexes.
			index = 0
		case last == 0 || last == index:
			// No index progress: avoid a hot loop against a server that
			// does not block.
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		default:
			index = last
		}
		c.reconcile(ctx, allocs, mods)
	}
}

// fetchChanged fetches the allocations that are new to this client or
// whose AllocModifyIndex moved since it last saw them.
func (c *Client) fetchChanged(ctx context.Context, mods map[string]uint64) ([]*structs.Allocation, error) {
	var ids []string
	c.mu.RLock()
	for id, mod := range mods {
		if v, ok := c.seen[id]; !ok || v.allocModify != mod {
			ids = append(ids, id)
		}
	}
	c.mu.RUnlock()
	if len(ids) == 0 {
		return nil, nil
	}
	var allocs []*structs.Allocation
	err := c.servers.do(ctx, func(ac *api.Client) error {
		allocs = nil
		return ac.Write(ctx, http.MethodPost, "/v1/internal/allocs/get", nil, &structs.AllocsGetRequest{AllocIDs: ids}, &allocs)
	})
	return allocs, err
}

// reconcile starts new allocations, updates changed ones and stops and
// removes those the servers forgot. present lists every allocation the
// servers hold for this node; allocs are the ones that changed.
func (c *Client) reconcile(ctx context.Context, allocs []*structs.Allocation, present map[string]uint64) {
	for _, a := range allocs {
		if a == nil || a.ID == "" {
			continue
		}
		c.mu.RLock()
		r, ok := c.runners[a.ID]
		prev := c.seen[a.ID]
		c.mu.RUnlock()
		if !ok {
			if a.TerminalStatus() || a.Job == nil {
				if a.Job == nil {
					c.logger.Warn("allocation without job", "alloc", a.ID)
				}
				// Remember it so it is not fetched again until it changes.
				c.mu.Lock()
				c.seen[a.ID] = versionOf(a)
				c.mu.Unlock()
				continue
			}
			c.startRunner(ctx, a, nil, nil)
			continue
		}
		if v := versionOf(a); v != prev {
			c.mu.Lock()
			c.seen[a.ID] = v
			c.mu.Unlock()
			// Only re-apply the assignment: a finished alloc already
			// released its ports and must not take new ones.
			if ports, ok := c.ports.Lookup(a.ID); ok {
				a = withPorts(a, ports)
			}
			r.Update(a)
		}
	}
	c.mu.Lock()
	var gone []*allocrunner.AllocRunner
	for id, r := range c.runners {
		if _, ok := present[id]; !ok {
			gone = append(gone, r)
		}
	}
	for id := range c.seen {
		if _, ok := present[id]; !ok {
			if _, running := c.runners[id]; !running {
				delete(c.seen, id)
			}
		}
	}
	c.mu.Unlock()
	for _, r := range gone {
		c.mu.Lock()
		delete(c.runners, r.ID())
		delete(c.seen, r.ID())
		c.mu.Unlock()
		r.Kill()
		go func() {
			<-r.Done()
			if ctx.Err() != nil {
				return
			}
			if err := r.Destroy(); err != nil {
				c.logger.Warn("removing allocation", "alloc", r.ID(), "error", err)
			}
		}()
	}
}

// orphanCleaner is implemented by drivers whose tasks outlive the agent in
// a form that can be listed (containers): after a crash, whatever belongs
// to no allocation this client knows of is removed.
type orphanCleaner interface {
	CleanupOrphans(ctx context.Context, live map[string]bool) error
}

func (c *Client) cleanupOrphans(ctx context.Context) {
	live := map[string]bool{}
	c.mu.RLock()
	for id := range c.runners {
		live[id] = true
	}
	c.mu.RUnlock()
	for name, d := range c.drivers {
		oc, ok := d.(orphanCleaner)
		if !ok {
			continue
		}
		if d.Fingerprint(ctx).Healthy {
			if err := oc.CleanupOrphans(ctx, live); err != nil {
				c.logger.Warn("cleaning up orphaned tasks", "driver", name, "error", err)
			}
		}
	}
}

// closeDrivers detaches drivers that hold resources (log streams, daemon
// connections) from their tasks, which keep running.
func (c *Client) closeDrivers() {
	for name, d := range c.drivers {
		if cl, ok := d.(interface{ Close() error }); ok {
			if err := cl.Close(); err != nil {
				c.logger.Warn("closing driver", "driver", name, "error", err)
			}
		}
	}
}

// StopAll kills every allocation this client runs and frees what they
// held, waiting at most timeout. An agent whose data dir is thrown away on
// exit calls it before stopping: nothing could ever re-attach to tasks it
// left running.
func (c *Client) StopAll(timeout time.Duration) {
	c.mu.RLock()
	rs := make([]*allocrunner.AllocRunner, 0, len(c.runners))
	for _, r := range c.runners {
		rs = append(rs, r)
	}
	c.mu.RUnlock()
	for _, r := range rs {
		// Nothing is left to drain to: the agent is going away.
		r.KillNoDelay()
	}
	deadline := time.After(timeout)
	for _, r := range rs {
		select {
		case <-r.Done():
			if err := r.Destroy(); err != nil {
				c.logger.Warn("removing allocation", "alloc", r.ID(), "error", err)
			}
		case <-deadline:
			c.logger.Warn("allocations still stopping at shutdown", "timeout", timeout)
			return
		}
	}
}
