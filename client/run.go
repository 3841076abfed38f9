package client

import (
	"context"
	"sync"
	"time"

	"github.com/orch-project/orch/client/allocrunner"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/control"
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
		c.leave()
		c.closeDrivers()
		if err := c.db.Close(); err != nil {
			c.logger.Warn("closing state file", "error", err)
		}
	}()
	wg.Add(2)
	go func() { defer wg.Done(); c.updater.run(ctx) }()
	go func() { defer wg.Done(); c.runNative(ctx) }()
	c.restore(ctx)
	c.cleanupOrphans(ctx)

	wg.Add(1)
	go func() { defer wg.Done(); c.disconnectLoop(ctx) }()
	if !c.registerUntilDone(ctx) {
		return nil
	}
	wg.Add(3)
	go func() { defer wg.Done(); c.registerLoop(ctx) }()
	go func() { defer wg.Done(); c.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); c.probeLoop(ctx) }()
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
	node.SecretID = ""
	sent := time.Now()
	var resp control.HeartbeatResponse
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := c.rpc.Call(ctx, control.MethodNodeRegister, &control.RegisterRequest{Node: node}, &resp); err != nil {
		return err
	}
	c.heartbeatOK(sent, &resp)
	return nil
}

// registerUntilDone retries registration until it succeeds; false when ctx
// ended first. A refusal (a name another node holds, a secret that does not
// match) is logged as an error and retried slowly: it needs an operator.
func (c *Client) registerUntilDone(ctx context.Context) bool {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		err := c.register(ctx)
		if err == nil {
			c.logger.Info("node registered", "node_id", c.nodeID, "server", c.rpc.Current())
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := b.next()
		if !control.Retryable(err) {
			d = 30 * time.Second
			c.logger.Error("servers refused to register this node", "node_id", c.nodeID, "retry_in", d, "error", err)
		} else {
			c.logger.Warn("node registration failed", "retry_in", d, "error", err)
		}
		select {
		case <-time.After(d):
		case <-c.localLeaderElected():
		case <-ctx.Done():
			return false
		}
	}
}

// localLeaderElected is closed when a server in this agent that does not
// lead yet becomes a ready leader (nil, never ready, otherwise): the moment
// a registration refused for want of a leader can succeed. In -dev the
// election ends ~100-200 ms into the client's backoff.
func (c *Client) localLeaderElected() <-chan struct{} {
	if c.cfg.LocalLeader == nil {
		return nil
	}
	if ready, changed := c.cfg.LocalLeader(); !ready {
		return changed
	}
	return nil
}

// registerLoop re-checks driver and device health periodically and
// re-registers when it changed (fingerprints only change there), or when
// asked to.
func (c *Client) registerLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.RegisterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			drv, dev := c.refreshDrivers(ctx), c.refreshDevices(ctx)
			if !drv && !dev {
				continue
			}
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

// watch follows the node's allocations with blocking queries on the
// control channel. Each call has a deadline past its wait, the connection
// is PINGed while it waits, and a server that stops hearing from the leader
// ends the watch with 503: the client then moves to a fresher server, so
// it is never left on a dead connection or a stale replica.
func (c *Client) watch(ctx context.Context) {
	// index and known are the last answer's newest AllocModifyIndex and
	// allocation count; seen is the furthest replica state it came from.
	var index, seen uint64
	known := 0
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	retry := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if control.IsCode(err, 404) || control.IsCode(err, 401) {
			// The servers lost the node (a rebuilt cluster): start over.
			index, seen, known = 0, 0, 0
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
		var resp control.WatchAllocsResponse
		wctx, cancel := context.WithTimeout(ctx, watchWait+15*time.Second)
		from, err := c.rpc.Call(wctx, control.MethodNodeWatchAllocs,
			&control.WatchAllocsRequest{MinIndex: index, Known: known, MaxWait: watchWait}, &resp)
		cancel()
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if resp.StateIndex < seen {
			// This replica is behind what the client has seen: it may not
			// hold allocations the client runs, so nothing is removed on
			// its word. Ask another server.
			c.rpc.Rotate(from)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		allocs, complete, err := c.fetchChanged(ctx, resp.Allocs)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		b.reset()
		if !complete {
			// The fetch, maybe from another replica, did not return every
			// changed allocation: watch again at once, without blocking.
			index, known = 0, 0
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		} else {
			if resp.Index == index && len(resp.Allocs) == known {
				// No progress: avoid a hot loop against a server that
				// does not block.
				select {
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
					return
				}
			}
			index, known = resp.Index, len(resp.Allocs)
		}
		seen = max(seen, resp.StateIndex)
		c.reconcile(ctx, allocs, resp.Allocs)
	}
}

// fetchChanged fetches the allocations that are new to this client or
// whose AllocModifyIndex moved since it last saw them; complete is false
// when the server left some out.
func (c *Client) fetchChanged(ctx context.Context, mods map[string]uint64) ([]*structs.Allocation, bool, error) {
	var ids []string
	c.mu.RLock()
	for id, mod := range mods {
		if v, ok := c.seen[id]; !ok || v.allocModify != mod {
			ids = append(ids, id)
		}
	}
	c.mu.RUnlock()
	if len(ids) == 0 {
		return nil, true, nil
	}
	var resp control.AllocsGetResponse
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.rpc.Call(ctx, control.MethodAllocsGet, &control.AllocsGetRequest{AllocIDs: ids}, &resp); err != nil {
		return nil, false, err
	}
	return resp.Allocs, len(resp.Allocs) == len(ids), nil
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
	c.network.Cleanup(ctx, live)
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
