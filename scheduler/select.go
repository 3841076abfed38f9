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
// have been scored (or every candidate was visited), and returns the best.
// avoid is a node to penalise (the one a failed allocation ran on). m
// receives the placement's metrics. A nil node means nothing fits.
func (c *evalCtx) selectNode(g *groupCtx, avoid string, limit int, m *structs.AllocMetric) (*nodeInfo, *structs.NodeScoreMeta, error) {
	n := len(c.perm)
	var (
		best      *nodeInfo
		bestScore nodeScore
		found     int
	)
	for visited := 0; visited < n && found < limit; visited++ {
		ni := c.nodes[c.perm[c.cursor]]
		c.cursor++
		if c.cursor == n {
			c.cursor = 0
		}
		m.NodesEvaluated++
		if ok, reason := g.staticFeasible(ni); !ok {
			filtered(m, reason)
			continue
		}
		if (g.distinctJob && ni.jobAllocs > 0) || (g.distinctGroup && ni.groupAllocs[g.tg.Name] > 0) {
			filtered(m, reasonDistinctHosts)
			continue
		}
		if err := c.loadNode(ni); err != nil {
			return nil, nil, fmt.Errorf("load node %s: %w", ni.node.ID, err)
		}
		if dim := g.fits(ni); dim != "" {
			exhausted(m, dim)
			continue
		}
		found++
		if s := c.score(g, ni, avoid); best == nil || s.norm > bestScore.norm {
			best, bestScore = ni, s
		}
	}
	if best == nil {
		return nil, nil, nil
	}
	return best, bestScore.meta(best.node.ID), nil
}

// nodeScore is a candidate's scores; norm is their mean, the value ranked on.
type nodeScore struct {
	binPack, antiAff, resched float64
	hasAntiAff, hasResched    bool
	norm                      float64
}

// score rates a feasible node for one placement of g.
func (c *evalCtx) score(g *groupCtx, ni *nodeInfo, avoid string) nodeScore {
	s := nodeScore{binPack: binPackScore(ni, g.ask)}
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
