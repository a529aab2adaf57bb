package imageprep

// Unit is torchvision's ToTensor on an RGB image: CHW float32, float32(u8) / 255 — the first
// step of NormalizeWith, with its bits. ProxyCLIP's VFMs take a window in this form
// (surgery.VFM), whether it comes from 8-bit pixels or from un-normalising CLIP's input.
func Unit(img *RGB) []float32 {
	n := img.W * img.H
	out := make([]float32, 3*n)
	for c := range 3 {
		for i := range n {
			out[c*n+i] = float32(img.Pix[3*i+c]) / float32(255)
		}
	}
	return out
}

// NormalizeUnit is Normalize's second step on CHW values x: (x − mean[c]) / std[c], each a
// separately rounded float32 operation; NormalizeUnit(Unit(img), m, s) equals NormalizeWith(img,
// m, s) bit for bit.
func NormalizeUnit(x []float32, mean, std [3]float32) []float32 {
	return perChannel(x, func(v float32, c int) float32 { return float32(float32(v-mean[c]) / std[c]) })
}

// UnNormalize undoes a normalisation of CHW values x as ProxyCLIP's myutils.UnNormalize does
// (t.mul_(std).add_(mean), each a float32 operation): x·std[c] + mean[c].
func UnNormalize(x []float32, mean, std [3]float32) []float32 {
	return perChannel(x, func(v float32, c int) float32 { return float32(float32(v*std[c]) + mean[c]) })
}

// perChannel maps every value of the 3 CHW planes of x through f with its channel.
func perChannel(x []float32, f func(v float32, c int) float32) []float32 {
	n := len(x) / 3
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = f(v, i/n)
	}
	return out
}
