package sam

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/attention"
)

// One global-attention block's attention at vit_b size (64×64 tokens, 12 heads of 64), random
// weights: encoderAttention (heads-major, in groups of heads) against the earlier version on
// GoMLX's attention core with an additive bias. Run with
// flock /tmp/cpu.lock go test -run XXX -bench GlobalAttention -benchtime 3x ./gomlx_sam
func BenchmarkGlobalAttentionGrouped(b *testing.B) { benchGlobalAttention(b, encoderAttention) }

func BenchmarkGlobalAttentionCore(b *testing.B) { benchGlobalAttention(b, coreAttention) }

// coreAttention is encoderAttention on attention.Core with the relative-position terms as one
// additive bias [B, heads, N, N].
func coreAttention(c Config, p Params, prefix string, x *Node) *Node {
	d := x.Shape().Dimensions
	bt, h, w, e := d[0], d[1], d[2], d[3]
	heads, n := c.EncoderHeads, h*w
	hd := e / heads
	qkv := Reshape(Linear(x, p, prefix+".qkv"), bt, n, 3, heads, hd)
	part := func(i int) *Node {
		return Reshape(Slice(qkv, AxisRange(), AxisRange(), AxisElem(i)), bt, n, heads, hd)
	}
	q, k, v := part(0), part(1), part(2)
	rq := Reshape(q, bt, h, w, heads, hd)
	relH := Einsum("byxnd,ykd->bnyxk", rq, RelPosTable(p.Get(prefix+".rel_pos_h"), h, h))
	relW := Einsum("byxnd,xkd->bnyxk", rq, RelPosTable(p.Get(prefix+".rel_pos_w"), w, w))
	bias := Reshape(Add(InsertAxes(relH, 5), InsertAxes(relW, 4)), bt, heads, n, n)
	opt := attention.CoreOptions{Scale: 1 / math.Sqrt(float64(hd)), AttentionBias: bias}
	out, _ := attention.Core(q, k, v, attention.LayoutBSHD, opt)
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
		randT(1/math.Sqrt(float64(e)), e, 3*e), randT(0.02, 3*e) /* Linear weights are stored [in, out] */, randT(1/math.Sqrt(float64(e)), e, e), randT(0.02, e),
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
