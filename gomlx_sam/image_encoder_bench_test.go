package sam

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// One global-attention block's attention at vit_b size (64×64 tokens, 12 heads of 64), random
// weights: the fused attention core against the written-out logits/softmax version. Measured on
// the 2-core development machine: 1.74 s vs 1.63 s per call, i.e. no speed difference worth the
// name; encoderAttention keeps the fused core because it does not materialise the [12, 4096,
// 4096] logits and softmax. Run with
// flock /tmp/cpu.lock go test -run XXX -bench GlobalAttention -benchtime 3x ./gomlx_sam
func BenchmarkGlobalAttentionFused(b *testing.B) { benchGlobalAttention(b, encoderAttention) }

func BenchmarkGlobalAttentionDecomposed(b *testing.B) {
	benchGlobalAttention(b, decomposedAttention)
}

// decomposedAttention is encoderAttention with explicit logits, bias addition and softmax.
func decomposedAttention(c Config, p Params, prefix string, x *Node) *Node {
	d := x.Shape().Dimensions
	bt, h, w, e := d[0], d[1], d[2], d[3]
	heads, n := c.EncoderHeads, h*w
	hd := e / heads
	qkv := Reshape(Linear(x, p, prefix+".qkv"), bt, n, 3, heads, hd)
	part := func(i int) *Node {
		return Reshape(Slice(qkv, AxisRange(), AxisRange(), AxisElem(i)), bt, n, heads, hd)
	}
	q, k, v := part(0), part(1), part(2)
	logits := Einsum("bqnd,bknd->bnqk", MulScalar(q, 1/math.Sqrt(float64(hd))), k)
	logits = Add(logits, decomposedRelPosBias(q, p.Get(prefix+".rel_pos_h"), p.Get(prefix+".rel_pos_w"), h, w))
	out := Einsum("bnqk,bknd->bqnd", Softmax(logits, -1), v)
	return Linear(Reshape(out, bt, h, w, e), p, prefix+".proj")
}

func benchGlobalAttention(b *testing.B, attn func(Config, Params, string, *Node) *Node) {
	cfg, _ := ReleasedConfig("vit_b")
	g, e := cfg.GridSize(), cfg.EncoderDim
	rng := rand.New(rand.NewPCG(1, 2))
	randT := func(scale float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	names := []string{"a.qkv.weight", "a.qkv.bias", "a.proj.weight", "a.proj.bias", "a.rel_pos_h", "a.rel_pos_w"}
	args := []any{
		randT(1/math.Sqrt(float64(e)), 3*e, e), randT(0.02, 3*e), randT(1/math.Sqrt(float64(e)), e, e), randT(0.02, e),
		randT(0.02, 2*g-1, cfg.HeadDim()), randT(0.02, 2*g-1, cfg.HeadDim()), randT(1, 1, g, g, e),
	}
	backend := loadTiny(b).Backend()
	exec := MustNewExec(backend, func(in []*Node) *Node {
		p := Params{}
		for i, n := range names {
			p[n] = in[i]
		}
		return attn(cfg, p, "a", in[len(names)])
	})
	run := func() {
		out, err := exec.Exec(args...)
		if err != nil {
			b.Fatal(err)
		}
		out[0].FinalizeAll()
	}
	run() // compile
	b.ResetTimer()
	for range b.N {
		run()
	}
}
