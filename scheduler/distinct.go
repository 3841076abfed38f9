package scheduler

import (
	"strconv"
	"strings"

	"github.com/orch-project/orch/structs"
)

// distinctProperty is a distinct_property constraint: at most limit live
// allocations per value of a node property, counted over the job's
// allocations (job level) or the group's (group or task level). Nodes
// without the property are filtered. Counts start from the job's live
// allocations, drop with the plan's stops and grow with its placements,
// so the check costs a map lookup per candidate.
type distinctProperty struct {
	key    string // the ConstraintFiltered key
	attr   target
	limit  int
	group  string // "" at job level
	counts map[string]int
}

func newDistinctProperty(sc *structs.Constraint, group string) *distinctProperty {
	limit := 1
	if n, err := strconv.Atoi(strings.TrimSpace(sc.RTarget)); err == nil && n > 0 {
		limit = n
	}
	return &distinctProperty{
		key: strings.TrimSpace(constraintKey(sc)), attr: parseTarget(sc.LTarget), limit: limit,
		group: group, counts: map[string]int{},
	}
}

// distinctFor returns the eval's distinct_property for sc: job-level ones
// are shared by every group, so each counts the whole job.
func (c *evalCtx) distinctFor(sc *structs.Constraint, group string) *distinctProperty {
	key := strings.TrimSpace(constraintKey(sc))
	for _, dp := range c.distinct {
		if dp.group == group && dp.key == key {
			return dp
		}
	}
	dp := newDistinctProperty(sc, group)
	c.distinct = append(c.distinct, dp)
	return dp
}

// trackJobAlloc counts (d = 1) or uncounts (d = -1) a live allocation of
// the eval's job in group on ni: per node for distinct_hosts and
// anti-affinity, per property value for distinct_property.
func (c *evalCtx) trackJobAlloc(group string, ni *nodeInfo, d int) {
	ni.jobAllocs += d
	ni.addGroup(group, d)
	for _, dp := range c.distinct {
		if dp.group != "" && dp.group != group {
			continue
		}
		if v, ok := dp.attr.resolve(ni.node); ok {
			dp.counts[v] += d
		}
	}
}

// distinctReason reports why the group's distinct_hosts or
// distinct_property constraints rule the node out ("" when they do not).
func (g *groupCtx) distinctReason(ni *nodeInfo) string {
	if (g.distinctJob && ni.jobAllocs > 0) || (g.distinctGroup && ni.groupAllocs[g.tg.Name] > 0) {
		return reasonDistinctHosts
	}
	for _, dp := range g.distinct {
		v, ok := dp.attr.resolve(ni.node)
		if !ok || dp.counts[v] >= dp.limit {
			return dp.key
		}
	}
	return ""
}
