package client

import (
	"context"
	"reflect"
	"time"
)

// refreshDevices re-fingerprints the node's devices (each fingerprinter
// runs at its own period) and reports whether they changed.
func (c *Client) refreshDevices(ctx context.Context) bool {
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	devs := c.gpus.Devices(fctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if reflect.DeepEqual(devs, c.node.NodeResources.Devices) {
		return false
	}
	n := *c.node
	res := *c.node.NodeResources
	res.Devices = devs
	n.NodeResources = &res
	c.node = &n
	return true
}
