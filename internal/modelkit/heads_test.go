package modelkit

import "testing"

func TestHeadsPerGroup(t *testing.T) {
	for _, c := range []struct{ heads, perHead, budget, want int }{
		{12, 4 * 1025 * 1025, DefaultScoreBudget, 4}, // ViT-B/16 at 512 px
		{12, 4 * 197 * 197, DefaultScoreBudget, 12},  // at 224 px: one group
		{12, 4 * 4097 * 4097, DefaultScoreBudget, 1}, // 1024 px: one head over the budget still runs
		{16, 4 * 1025 * 1025, DefaultScoreBudget, 4}, // ViT-L: 6 heads would fit but do not divide 16
		{7, 4 * 1025 * 1025, DefaultScoreBudget, 1},
		{12, 4 * 1025 * 1025, 0, 4}, // 0: the default
		{12, 4 * 4097 * 4097, NoScoreBudget, 12},
	} {
		if got := HeadsPerGroup(c.heads, c.perHead, c.budget); got != c.want {
			t.Errorf("HeadsPerGroup(%d, %d, %d) = %d, want %d", c.heads, c.perHead, c.budget, got, c.want)
		}
	}
}
