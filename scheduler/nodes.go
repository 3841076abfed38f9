package scheduler

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/orch-project/orch/structs"
)

// buildNodes lists the cluster's nodes once per eval, keeps the ready ones
// in the job's datacenters and pool as candidates and shuffles their
// visiting order once. This is the only O(nodes) pass of a generic eval.
func (c *evalCtx) buildNodes() error {
	all, err := c.snap.NodesByIDPrefix(nil, "")
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	c.addNodes(all)
	c.shuffle()
	return nil
}

// addNodes classifies nodes into candidates and others.
func (c *evalCtx) addNodes(all []*structs.Node) {
	dc := newDatacenterCheck(c.job, c.dcMatch)
	pool := newNodePoolCheck(c.job)
	c.nodesAvailable = map[string]int{}
	if !slices.IsSortedFunc(all, func(a, b *structs.Node) int { return strings.Compare(a.ID, b.ID) }) {
		all = slices.Clone(all)
		slices.SortFunc(all, func(a, b *structs.Node) int { return strings.Compare(a.ID, b.ID) })
	}
	c.infos = make([]nodeInfo, len(all))
	c.nodes = make([]*nodeInfo, 0, len(all))
	for i, n := range all {
		ni := &c.infos[i]
		ni.node, ni.pos = n, -1
		if ok, _ := dc.Feasible(n); !ok {
			continue
		}
		if ok, _ := pool.Feasible(n); !ok {
			continue
		}
		c.nodesInPool++
		if ok, _ := (nodeReadyCheck{}).Feasible(n); !ok {
			continue
		}
		ni.pos = len(c.nodes)
		c.nodes = append(c.nodes, ni)
		c.nodesAvailable[n.Datacenter]++
	}
}

// inJobScope reports whether n is in the job's datacenters and node pool,
// whatever its readiness.
func (c *evalCtx) inJobScope(n *structs.Node) bool {
	if ok, _ := newDatacenterCheck(c.job, c.dcMatch).Feasible(n); !ok {
		return false
	}
	ok, _ := newNodePoolCheck(c.job).Feasible(n)
	return ok
}

// nodeByID returns the node's info, or nil when the node is unknown.
func (c *evalCtx) nodeByID(id string) *nodeInfo {
	i, ok := slices.BinarySearchFunc(c.infos, id, func(ni nodeInfo, id string) int { return strings.Compare(ni.node.ID, id) })
	if !ok {
		return nil
	}
	return &c.infos[i]
}

// shuffle draws the eval's node visiting order (Fisher-Yates).
func (c *evalCtx) shuffle() {
	c.perm = make([]int, len(c.nodes))
	for i := range c.perm {
		c.perm[i] = i
	}
	for i := len(c.perm) - 1; i > 0; i-- {
		j := c.rng.IntN(i + 1)
		c.perm[i], c.perm[j] = c.perm[j], c.perm[i]
	}
}

// candidateLimit is how many feasible nodes a placement scores: enough for
// good packing with high probability without scoring the whole cluster.
func (c *evalCtx) candidateLimit() int {
	if c.job != nil && c.job.Type == structs.JobTypeBatch {
		return 2
	}
	n := len(c.nodes)
	if n <= 2 {
		return 2
	}
	// ceil(log2(n))
	return bits.Len(uint(n - 1))
}
