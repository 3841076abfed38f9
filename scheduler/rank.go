package scheduler

import (
	"math"

	"github.com/orch-project/orch/structs"
)

// binPackMaxScore is the best raw BestFit v3 score: both dimensions full.
const binPackMaxScore = 18.0

// ln10 lets 10^x be computed as exp(x*ln10), cheaper than math.Pow.
var ln10 = math.Log(10)

// binPackScore is the BestFit v3 score of the node after adding ask,
// normalised to 0..1: fuller nodes score higher, so work packs tightly and
// whole nodes stay free for large asks.
func binPackScore(ni *nodeInfo, ask structs.ComparableResources) float64 {
	freeCPU := freeFraction(ni.used.CPU+ask.CPU, ni.capacity.CPU)
	freeMem := freeFraction(ni.used.MemoryMB+ask.MemoryMB, ni.capacity.MemoryMB)
	score := 20 - (math.Exp(freeCPU*ln10) + math.Exp(freeMem*ln10))
	switch {
	case score < 0:
		score = 0
	case score > binPackMaxScore:
		score = binPackMaxScore
	}
	return score / binPackMaxScore
}

func freeFraction(used, capacity int64) float64 {
	if capacity <= 0 {
		return 0
	}
	return 1 - float64(used)/float64(capacity)
}

// antiAffinityPenalty discourages stacking a group's allocations on one
// node: zero without collisions, otherwise -(collisions+1)/desired.
func antiAffinityPenalty(collisions, desired int) (float64, bool) {
	if collisions <= 0 {
		return 0, false
	}
	if desired < 1 {
		desired = 1
	}
	return -float64(collisions+1) / float64(desired), true
}
