// Package sam is Segment Anything (Kirillov et al., 2023; facebookresearch/segment-anything) in
// GoMLX: the image encoder (ViT with windowed and global attention and decomposed relative
// positions), the prompt encoder, the mask decoder with its two-way transformer, and
// SamPredictor's set_image / predict with the same preprocessing and postprocessing, giving the
// reference's numbers for the same weights (see the parity tests against ../shared/golden/sam).
//
// Load (released name or path) or LoadFile (path) reads a checkpoint (the released
// sam_vit_{b,l,h}.pth or safetensors with the same names) and infers its configuration from the
// tensor shapes. The package stands on internal/modelkit alone: it imports neither gomlx_clip
// nor surgery (CLIP Surgery points → SAM mask is surgery/textmask). A Model holds only weights and
// compiled executables and is safe for concurrent use; a Predictor holds the current image's
// embedding.
//
// Layouts follow upstream where it is visible: image embeddings are NCHW [1, 256, 64, 64];
// inside the encoder tokens are channels-last [B, H, W, C], as in upstream's ImageEncoderViT.
// Convolutions whose stride equals their kernel are reshapes plus einsums (exact, and much faster
// than a convolution on the pure-Go backend); Linear weights are stored [in, out]
// (modelkit.Dense).
package sam
