package scheduler

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// Score names reported in AllocMetric.ScoreMetaData.
const (
	scoreBinPack        = "binpack"
	scoreJobAntiAff     = "job-anti-affinity"
	scoreReschedPenalty = "node-reschedule-penalty"
)

// selectNode picks a node for one placement of g. It walks the shuffled
// candidates from the rolling cursor, stopping once limit feasible nodes
// have been scored (or every candidate was visited), adds the feasible
// nodes of the group's most preferred classes when it has affinities or
// spreads (prefer.go), and returns the best. avoid is a node to penalise
// (the one a failed allocation ran on). m receives the placement's
// metrics. A nil node means nothing fits.
func (c *evalCtx) selectNode(g *groupCtx, avoid string, limit int, m *structs.AllocMetric) (*nodeInfo, *structs.NodeScoreMeta, error) {
	c.placements++
	stamp := c.placements
	if g.prefs != nil {
		g.prefs.prepare(c, g)
	}
	n := len(c.perm)
	var (
		best      *nodeInfo
		bestScore nodeScore
		found     int
	)
	consider := func(ni *nodeInfo) {
		if s := c.score(g, ni, avoid); best == nil || s.norm > bestScore.norm {
			best, bestScore = ni, s
		}
	}
	for visited := 0; visited < n && found < limit; visited++ {
		ni := c.nodes[c.perm[c.cursor]]
		c.cursor++
		if c.cursor == n {
			c.cursor = 0
		}
		ok, err := c.feasible(g, ni, m)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		found++
		ni.seen = stamp
		consider(ni)
	}
	if g.prefs != nil {
		extra, err := c.preferred(g, m, stamp, c.scratch[:0])
		if err != nil {
			return nil, nil, err
		}
		for _, ni := range extra {
			consider(ni)
		}
		c.scratch = extra[:0]
	}
	if best == nil {
		return nil, nil, nil
	}
	return best, bestScore.meta(best.node.ID), nil
}

// feasible runs every check of g on a node, recording a rejection in m.
func (c *evalCtx) feasible(g *groupCtx, ni *nodeInfo, m *structs.AllocMetric) (bool, error) {
	m.NodesEvaluated++
	if ok, reason := g.staticFeasible(ni); !ok {
		filtered(m, reason)
		return false, nil
	}
	if reason := g.distinctReason(ni); reason != "" {
		filtered(m, reason)
		return false, nil
	}
	if err := c.loadNode(ni); err != nil {
		return false, fmt.Errorf("load node %s: %w", ni.node.ID, err)
	}
	if dim := g.fits(ni); dim != "" {
		exhausted(m, dim)
		return false, nil
	}
	return true, nil
}

// nodeScore is a candidate's scores; norm is the mean of those that apply,
// the value ranked on. As in Nomad, affinity, anti-affinity, reschedule
// and device scores count only when non-zero; the spread score counts
// whenever the group has spreads, so a value at its target does not
// outrank one below it on bin-packing alone.
type nodeScore struct {
	binPack, antiAff, resched, affinity, spread, devices float64
	hasAntiAff, hasResched, hasSpread                    bool
	norm                                                 float64
}

// score rates a feasible node for one placement of g.
func (c *evalCtx) score(g *groupCtx, ni *nodeInfo, avoid string) nodeScore {
	ask := g.ask
	ask.CPU += g.coresMHz(ni)
	s := nodeScore{binPack: binPackScore(ni, ask)}
	sum, cnt := s.binPack, 1.0
	if p, ok := antiAffinityPenalty(ni.groupAllocs[g.tg.Name], g.tg.Count); ok {
		s.antiAff, s.hasAntiAff = p, true
		sum += p
		cnt++
	}
	if avoid != "" && ni.node.ID == avoid {
		s.resched, s.hasResched = -1, true
		sum += s.resched
		cnt++
	}
	if p := g.prefs; p != nil {
		if p.aff != nil {
			if s.affinity = p.aff.score(ni); s.affinity != 0 {
				sum += s.affinity
				cnt++
			}
		}
		if p.spread != nil {
			s.spread, s.hasSpread = p.spread.score(ni), true
			sum += s.spread
			cnt++
		}
	}
	if d, ok := g.deviceScore(ni); ok && d != 0 {
		s.devices = d
		sum += d
		cnt++
	}
	s.norm = sum / cnt
	return s
}

// meta renders the scores for AllocMetric.ScoreMetaData.
func (s nodeScore) meta(nodeID string) *structs.NodeScoreMeta {
	m := &structs.NodeScoreMeta{NodeID: nodeID, NormScore: s.norm, Scores: map[string]float64{scoreBinPack: s.binPack}}
	if s.hasAntiAff {
		m.Scores[scoreJobAntiAff] = s.antiAff
	}
	if s.hasResched {
		m.Scores[scoreReschedPenalty] = s.resched
	}
	if s.affinity != 0 {
		m.Scores[scoreNodeAffinity] = s.affinity
	}
	if s.hasSpread {
		m.Scores[scoreSpread] = s.spread
	}
	if s.devices != 0 {
		m.Scores[scoreDevices] = s.devices
	}
	return m
}

func filtered(m *structs.AllocMetric, reason string) {
	m.NodesFiltered++
	if reason == "" {
		return
	}
	if m.ConstraintFiltered == nil {
		m.ConstraintFiltered = map[string]int{}
	}
	m.ConstraintFiltered[reason]++
}

func exhausted(m *structs.AllocMetric, dim string) {
	m.NodesExhausted++
	if m.DimensionExhausted == nil {
		m.DimensionExhausted = map[string]int{}
	}
	m.DimensionExhausted[dim]++
}
