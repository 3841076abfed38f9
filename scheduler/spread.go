package scheduler

import (
	"container/heap"

	"github.com/orch-project/orch/structs"
)

// scoreSpread is the ScoreMetaData name of the spread score.
const scoreSpread = "allocation-spread"

// spreads are the job's and the group's spread blocks compiled for one
// group. Each spread wants the group's Count allocations shared among the
// values of a node property: by its targets' percentages, the percentage
// left over shared evenly by the values without a target (none left:
// those values are not wanted), or evenly among all values when it has no
// targets. A node's boost for one spread is how far its value is below
// its desired count, (desired - used) / desired, in -1..1 (-1 for a node
// without the property or a value not wanted); the spread score is the
// weighted mean of the boosts.
type spreads struct {
	specs []*spreadSpec
	wsum  float64
	built bool
}

type spreadSpec struct {
	attr   target
	weight float64
	pct    map[string]float64
	rest   float64

	// Built at the group's first placement (build): the values seen on
	// candidate nodes, each node's value by candidate position (-1: the
	// node lacks the property), the group's live allocations and desired
	// count per value, and per value the candidates in visiting order.
	index   map[string]int32
	nodeVal []int32
	used    []int
	desired []float64
	buckets []bucket
	// best orders the values whose bucket still has candidates by boost.
	best valueHeap
}

func (c *evalCtx) compileSpreads(tg *structs.TaskGroup) *spreads {
	s := &spreads{}
	add := func(ss []*structs.Spread) {
		for _, sp := range ss {
			if sp == nil || sp.Attribute == "" {
				continue
			}
			spec := &spreadSpec{attr: parseTarget(sp.Attribute), weight: float64(sp.Weight), rest: 100}
			for _, t := range sp.SpreadTarget {
				if t == nil {
					continue
				}
				if spec.pct == nil {
					spec.pct = map[string]float64{}
				}
				spec.pct[t.Value] = float64(t.Percent)
				spec.rest -= float64(t.Percent)
			}
			s.specs = append(s.specs, spec)
			s.wsum += spec.weight
		}
	}
	add(c.job.Spreads)
	add(tg.Spreads)
	if len(s.specs) == 0 {
		return nil
	}
	return s
}

// build indexes the candidates by value and counts the group's live
// allocations per value: one pass over the nodes per group and eval. It
// runs at the group's first placement, after the plan's stops.
func (s *spreads) build(c *evalCtx, g *groupCtx) {
	s.built = true
	for _, sp := range s.specs {
		sp.index = map[string]int32{}
		sp.nodeVal = make([]int32, len(c.nodes))
		for _, pos := range c.perm {
			v, ok := sp.attr.resolve(c.nodes[pos].node)
			if !ok {
				sp.nodeVal[pos] = -1
				continue
			}
			idx, seen := sp.index[v]
			if !seen {
				idx = int32(len(sp.buckets))
				sp.index[v] = idx
				sp.buckets = append(sp.buckets, bucket{})
			}
			sp.nodeVal[pos] = idx
			sp.buckets[idx].nodes = append(sp.buckets[idx].nodes, int32(pos))
		}
		sp.used = make([]int, len(sp.buckets))
		for i := range c.infos {
			ni := &c.infos[i]
			if n := ni.groupAllocs[g.tg.Name]; n > 0 {
				if idx, ok := sp.valueOf(ni); ok {
					sp.used[idx] += n
				}
			}
		}
		sp.setDesired(c, float64(g.tg.Count))
		sp.best = valueHeap{spec: sp}
		for idx := range sp.buckets {
			sp.best.push(int32(idx))
		}
		heap.Init(&sp.best)
	}
}

func (sp *spreadSpec) setDesired(c *evalCtx, total float64) {
	sp.desired = make([]float64, len(sp.buckets))
	values := make([]string, len(sp.buckets))
	for v, idx := range sp.index {
		values[idx] = v
	}
	if sp.pct == nil {
		for i := range sp.desired {
			sp.desired[i] = total / float64(len(sp.desired))
		}
		return
	}
	untargeted := 0
	for _, v := range values {
		if _, ok := sp.pct[v]; !ok {
			untargeted++
		}
	}
	for i, v := range values {
		if p, ok := sp.pct[v]; ok {
			sp.desired[i] = p / 100 * total
		} else if sp.rest > 0 {
			sp.desired[i] = sp.rest / 100 * total / float64(untargeted)
		}
	}
}

// valueOf is the node's value index; false when the node lacks the
// property or its value is on no candidate.
func (sp *spreadSpec) valueOf(ni *nodeInfo) (int32, bool) {
	if ni.pos >= 0 && ni.pos < len(sp.nodeVal) {
		idx := sp.nodeVal[ni.pos]
		return idx, idx >= 0
	}
	v, ok := sp.attr.resolve(ni.node)
	if !ok {
		return -1, false
	}
	idx, ok := sp.index[v]
	return idx, ok
}

// boost is how much the spread wants one more allocation with the value.
func (sp *spreadSpec) boost(idx int32) float64 {
	d := sp.desired[idx]
	if d <= 0 {
		return -1
	}
	return min(max((d-float64(sp.used[idx]))/d, -1), 1)
}

// score is the node's spread score.
func (s *spreads) score(ni *nodeInfo) float64 {
	var sum float64
	for _, sp := range s.specs {
		b := -1.0
		if idx, ok := sp.valueOf(ni); ok {
			b = sp.boost(idx)
		}
		if s.wsum > 0 {
			sum += b * sp.weight / s.wsum
		} else {
			sum += b / float64(len(s.specs))
		}
	}
	return sum
}

// placed counts a placement on the node.
func (s *spreads) placed(ni *nodeInfo) {
	for _, sp := range s.specs {
		if idx, ok := sp.valueOf(ni); ok {
			sp.used[idx]++
			sp.best.fix(idx)
		}
	}
}

// valueHeap is a max-heap of value indexes by boost, so a placement finds
// the most wanted value in O(log values) instead of scanning them.
type valueHeap struct {
	spec *spreadSpec
	vals []int32
	at   []int // heap position by value index; -1 when not in the heap
}

func (h *valueHeap) push(idx int32) {
	for len(h.at) <= int(idx) {
		h.at = append(h.at, -1)
	}
	h.at[idx] = len(h.vals)
	h.vals = append(h.vals, idx)
}

func (h *valueHeap) fix(idx int32) {
	if int(idx) < len(h.at) && h.at[idx] >= 0 {
		heap.Fix(h, h.at[idx])
	}
}

// drop removes a value whose bucket has no candidates left.
func (h *valueHeap) drop(idx int32) {
	if int(idx) < len(h.at) && h.at[idx] >= 0 {
		heap.Remove(h, h.at[idx])
	}
}

func (h *valueHeap) top() (int32, bool) {
	if len(h.vals) == 0 {
		return -1, false
	}
	return h.vals[0], true
}

func (h *valueHeap) Len() int { return len(h.vals) }

func (h *valueHeap) Less(i, j int) bool {
	bi, bj := h.spec.boost(h.vals[i]), h.spec.boost(h.vals[j])
	if bi != bj {
		return bi > bj
	}
	return h.vals[i] < h.vals[j]
}

func (h *valueHeap) Swap(i, j int) {
	h.vals[i], h.vals[j] = h.vals[j], h.vals[i]
	h.at[h.vals[i]], h.at[h.vals[j]] = i, j
}

func (h *valueHeap) Push(x any) {
	idx := x.(int32)
	h.at[idx] = len(h.vals)
	h.vals = append(h.vals, idx)
}

func (h *valueHeap) Pop() any {
	n := len(h.vals) - 1
	idx := h.vals[n]
	h.vals = h.vals[:n]
	h.at[idx] = -1
	return idx
}
