// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package activations

// Patch (clipsurgery, see patches/README.md): compute.ActivationQuickGelu, x·sigmoid(1.702·x),
// for FusedDense's epilogue (a CLIP MLP's c_fc), instead of three ops and passes after it.

import (
	"math"

	"github.com/gomlx/compute"
)

// QuickGeluScale is the 1.702 of QuickGELU.
const QuickGeluScale = 1.702

func init() {
	Register[float32]("nosimd:quickgelu", compute.ActivationQuickGelu, QuickGeluNoSIMD, PriorityNoSIMD)
}

// QuickGeluNoSIMD applies x·sigmoid(1.702·x) in place.
func QuickGeluNoSIMD(data []float32) {
	for i, x := range data {
		data[i] = x / (1 + float32(math.Exp(-QuickGeluScale*float64(x))))
	}
}
