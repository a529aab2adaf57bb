package imageprep

// mmsegMean and mmsegStd are the peers' data pre-processor (mmseg's SegDataPreProcessor as SCLIP,
// NACLIP and ClearCLIP configure it: mean=[122.771, 116.746, 104.094], std=[68.501, 66.632,
// 70.323] on the 0..255 scale, after the BGR→RGB flip). torch stores the Python floats as a
// float32 tensor, so the constants are rounded from float64 at run time (f32).
func mmsegMean() [3]float32 { return [3]float32{f32(122.771), f32(116.746), f32(104.094)} }
func mmsegStd() [3]float32  { return [3]float32{f32(68.501), f32(66.632), f32(70.323)} }

// NormalizeMMSeg is that pre-processor on an RGB image: CHW float32 with, per value,
// (float32(u8) − mean[c]) / std[c], each a separately rounded float32 operation as torch
// computes it. It differs from Normalize (CLIP's x/255 first) by a rounding in the last bits.
func NormalizeMMSeg(img *RGB) []float32 {
	n := img.W * img.H
	out := make([]float32, 3*n)
	mean, std := mmsegMean(), mmsegStd()
	for c := range 3 {
		var lut [256]float32 // 256 possible inputs per channel
		for v := range lut {
			lut[v] = float32(float32(float32(v)-mean[c]) / std[c])
		}
		plane := out[c*n : (c+1)*n]
		for i := range plane {
			plane[i] = lut[img.Pix[3*i+c]]
		}
	}
	return out
}
