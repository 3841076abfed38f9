package scheduler

import (
	"slices"

	"github.com/orch-project/orch/structs"
)

// Affinities and spreads are soft preferences, and a random sample of
// log2(n) candidates rarely contains the few nodes they prefer. Scoring
// every node per placement (what Nomad does for them) costs O(nodes) per
// allocation. Instead the candidates of a group with preferences are
// indexed by class once per eval — by affinity score, and by value for
// each spread — and every placement adds to its usual sample a few
// feasible nodes of the most preferred classes: the best affinity level
// and, per spread, the value with the highest boost (a heap). Nodes found
// infeasible in a class are dropped from it for the rest of the eval: once
// the plan's stops are in, a node only gets fuller, so it cannot fit the
// group again. A placement therefore costs O(sample + classes touched ·
// log values), amortized, whatever the cluster size.

// preferredPerClass is how many feasible nodes each preferred class
// contributes to a placement's candidates.
const preferredPerClass = 2

// bucket is one class's candidates (positions in evalCtx.nodes) in
// visiting order, with a rolling cursor.
type bucket struct {
	nodes  []int32
	cursor int
}

// affinityLevels index the candidates by affinity score, best first.
type affinityLevels struct {
	scores  []float64
	buckets []bucket
}

// prefs is a group's preference index; nil for groups without
// affinities or spreads.
type prefs struct {
	aff    *affinities
	spread *spreads
	levels *affinityLevels
}

func (c *evalCtx) buildAffinityLevels(a *affinities) *affinityLevels {
	byScore := map[float64]int{}
	l := &affinityLevels{}
	for _, pos := range c.perm {
		s := a.score(c.nodes[pos])
		i, ok := byScore[s]
		if !ok {
			i = len(l.scores)
			byScore[s] = i
			l.scores = append(l.scores, s)
			l.buckets = append(l.buckets, bucket{})
		}
		l.buckets[i].nodes = append(l.buckets[i].nodes, int32(pos))
	}
	order := make([]int, len(l.scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return compareFloat(l.scores[y], l.scores[x]) })
	sorted := &affinityLevels{scores: make([]float64, len(order)), buckets: make([]bucket, len(order))}
	for i, j := range order {
		sorted.scores[i], sorted.buckets[i] = l.scores[j], l.buckets[j]
	}
	return sorted
}

// preferred appends to cands up to preferredPerClass feasible nodes from
// each most preferred class, skipping nodes already in cands (marked with
// stamp).
func (c *evalCtx) preferred(g *groupCtx, m *structs.AllocMetric, stamp int, cands []*nodeInfo) ([]*nodeInfo, error) {
	p := g.prefs
	if p.levels != nil {
		for len(p.levels.buckets) > 0 {
			var err error
			found := 0
			if cands, found, err = c.walkBucket(g, &p.levels.buckets[0], m, stamp, cands); err != nil {
				return nil, err
			}
			if found > 0 || len(p.levels.buckets[0].nodes) > 0 {
				break
			}
			p.levels.scores, p.levels.buckets = p.levels.scores[1:], p.levels.buckets[1:]
		}
	}
	if p.spread != nil {
		for _, sp := range p.spread.specs {
			for {
				idx, ok := sp.best.top()
				if !ok {
					break
				}
				var (
					err   error
					found int
				)
				if cands, found, err = c.walkBucket(g, &sp.buckets[idx], m, stamp, cands); err != nil {
					return nil, err
				}
				if found > 0 || len(sp.buckets[idx].nodes) > 0 {
					break
				}
				sp.best.drop(idx)
			}
		}
	}
	return cands, nil
}

// walkBucket visits a class's candidates from its cursor until
// preferredPerClass feasible ones are found or each was visited once,
// dropping the infeasible ones from the class.
func (c *evalCtx) walkBucket(g *groupCtx, b *bucket, m *structs.AllocMetric, stamp int, cands []*nodeInfo) ([]*nodeInfo, int, error) {
	found := 0
	for steps := len(b.nodes); steps > 0 && found < preferredPerClass && len(b.nodes) > 0; steps-- {
		if b.cursor >= len(b.nodes) {
			b.cursor = 0
		}
		ni := c.nodes[b.nodes[b.cursor]]
		ok := ni.seen == stamp
		if !ok {
			var err error
			if ok, err = c.feasible(g, ni, m); err != nil {
				return nil, 0, err
			}
			if ok {
				ni.seen = stamp
				cands = append(cands, ni)
			}
		}
		if !ok {
			last := len(b.nodes) - 1
			b.nodes[b.cursor] = b.nodes[last]
			b.nodes = b.nodes[:last]
			continue
		}
		b.cursor++
		found++
	}
	return cands, found, nil
}

// prepare builds the index at the group's first placement, after the
// plan's stops.
func (p *prefs) prepare(c *evalCtx, g *groupCtx) {
	if p.spread != nil && !p.spread.built {
		p.spread.build(c, g)
	}
	if p.aff != nil && p.levels == nil {
		p.levels = c.buildAffinityLevels(p.aff)
	}
}
