// Package dino is DINO (Caron et al., "Emerging Properties in Self-Supervised Vision
// Transformers", ICCV 2021; facebookresearch/dino) and DINOv2 (Oquab et al., "DINOv2: Learning
// Robust Visual Features without Supervision", TMLR 2024, and Darcet et al., "Vision Transformers
// Need Registers", ICLR 2024; facebookresearch/dinov2) in GoMLX: the backbones' tokens after the
// final LayerNorm — class token, register tokens, patch tokens — at any input size that is a
// multiple of the patch, with the authors' numbers for the same weights (the parity tests against
// testdata/dino, made by the authors' code).
//
// Covered: DINO v1 ViT-S and ViT-B with patch 8 or 16; DINOv2 ViT-S/B/L/g with patch 14, with and
// without registers, LayerScale, the MLP FFN and ViT-g's SwiGLU FFN. Each release resizes its
// position table in its own way to grids other than the native one (Config.Interpolation:
// DINO v1 and DINOv2 bicubic with scale factor (g+0.1)/M; DINOv2's register models bicubic
// antialiased to the grid size), see PositionalEmbedding.
//
// Load (registry name, e.g. "dinov2-b14", or path) and LoadFile (a .pth / .safetensors / .bin file,
// or a Hugging Face folder with config.json) read a checkpoint — the authors' state dict or a
// Hugging Face copy (ViTModel for DINO, Dinov2Model / Dinov2WithRegistersModel for DINOv2) — and
// build the configuration from the tensor shapes, completed by the config.json of a Hugging Face
// copy; weightmap.go is the one place that knows the names. Every tensor is checked: missing,
// unexpected and wrongly shaped ones fail loudly.
//
// Two levels, as in gomlx_clip and gomlx_sam (siblings: this package imports neither): the graph
// functions (EncodeGraph, Block, PositionalEmbedding, ...) for research code, and Model, which
// holds the weights, compiles one executable per input shape (cached) and offers EncodeImage /
// PatchFeatures on Go values. A Model is safe for concurrent use. Preprocessing is ImageNet's
// mean and std (ImageNetMean, ImageNetStd; Config.DenseTransform).
package dino
