package scheduler

import (
	"math"

	"github.com/orch-project/orch/structs"
)

// scoreNodeAffinity is the ScoreMetaData name of the affinity score.
const scoreNodeAffinity = "node-affinity"

// affinities are the job's, the group's and its tasks' affinity blocks
// compiled for one group: a node's score is the sum of the weights of the
// affinities it matches over the sum of their absolute weights (-1..1).
// It depends on the node alone, so it is computed once per node and
// group and cached by candidate position.
type affinities struct {
	checks  []*constraintCheck
	weights []float64
	sum     float64
	cache   []float64 // by candidate position; NaN until computed
}

func (c *evalCtx) compileAffinities(tg *structs.TaskGroup) *affinities {
	a := &affinities{}
	add := func(as []*structs.Affinity) {
		for _, af := range as {
			if af == nil || af.Weight == 0 {
				continue
			}
			a.checks = append(a.checks, c.compileConstraint(&structs.Constraint{
				LTarget: af.LTarget, RTarget: af.RTarget, Operand: af.Operand,
			}))
			a.weights = append(a.weights, float64(af.Weight))
			a.sum += math.Abs(float64(af.Weight))
		}
	}
	add(c.job.Affinities)
	add(tg.Affinities)
	for _, t := range tg.Tasks {
		add(t.Affinities)
	}
	if len(a.checks) == 0 {
		return nil
	}
	a.cache = make([]float64, len(c.nodes))
	for i := range a.cache {
		a.cache[i] = math.NaN()
	}
	return a
}

// score is the node's affinity score.
func (a *affinities) score(ni *nodeInfo) float64 {
	if ni.pos >= 0 && ni.pos < len(a.cache) {
		if v := a.cache[ni.pos]; !math.IsNaN(v) {
			return v
		}
	}
	var s float64
	for i, cc := range a.checks {
		if ok, _ := cc.Feasible(ni.node); ok {
			s += a.weights[i]
		}
	}
	s /= a.sum
	if ni.pos >= 0 && ni.pos < len(a.cache) {
		a.cache[ni.pos] = s
	}
	return s
}
