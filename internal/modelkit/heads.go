package modelkit

import (
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// DefaultScoreBudget is the largest attention score matrix, in bytes, that InHeadGroups builds
// at once on a backend that runs groups one after another (SharedBuffers). Why: the go backend
// keeps each freed buffer in a pool for its size class, so every score matrix alive at one time
// stays allocated; at 512 px ViT-B/16's twelve heads of scores take 48 MiB, and SAM's global
// blocks far more. Smaller groups save more memory but cost time on few cores (measurements in
// docs/BENCHMARKS.md).
const DefaultScoreBudget = 24 << 20

// NoScoreBudget attends all heads at once.
const NoScoreBudget = math.MaxInt

// ScoreBudgetFor is the score budget a model on backend uses unless told otherwise:
// DefaultScoreBudget where groups of heads run one after another (SharedBuffers), else
// NoScoreBudget, since elsewhere groups are exact but save nothing.
func ScoreBudgetFor(backend compute.Backend) int {
	if SharedBuffers(backend) {
		return DefaultScoreBudget
	}
	return NoScoreBudget
}

// InHeadGroups runs attend for each of the equal groups of heads [h0, h1) that HeadsPerGroup
// gives and concatenates its results, each [B, h1-h0, ...], along the heads axis (1). A budget of
// 0 means ScoreBudgetFor the backend of graph g. The groups are built in order, so the
// creation-order schedule (DefaultGoConfig) runs one after another. Each head's result is the
// same whatever the grouping.
func InHeadGroups(g *Graph, heads, perHead, budget int, attend func(h0, h1 int) *Node) *Node {
	if budget == 0 {
		budget = ScoreBudgetFor(g.Backend())
	}
	perGroup := HeadsPerGroup(heads, perHead, budget)
	groups := make([]*Node, 0, heads/perGroup)
	for h0 := 0; h0 < heads; h0 += perGroup {
		groups = append(groups, attend(h0, h0+perGroup))
	}
	if len(groups) == 1 {
		return groups[0]
	}
	return Concatenate(groups, 1)
}

// HeadsPerGroup is the largest divisor of heads whose scores (perHead bytes each) fit in budget
// bytes, at least 1: equal groups keep the work balanced across cores. A budget of 0 means
// DefaultScoreBudget.
func HeadsPerGroup(heads, perHead, budget int) int {
	if budget == 0 {
		budget = DefaultScoreBudget
	}
	for g := heads; g > 1; g-- {
		if heads%g == 0 && g*perHead <= budget {
			return g
		}
	}
	return 1
}
