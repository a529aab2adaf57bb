// Package surgery implements the post-processing of CLIP Surgery (Li et al., "A closer look at the
// explainability of Contrastive Language-Image Pre-training", reference code xmed-lab/CLIP_Surgery):
// feature surgery, similarity maps, the points given to SAM, and demo.py's JET overlay.
//
// Every function follows the reference demo.py step for step, including its float32 rounding, so that
// results match the golden outputs of the Python code (similarities and maps to ~1e-6, points exactly,
// overlays to one level on a few boundary pixels). The high-level path is plain Go over float32
// slices: the shapes are small and fixed, and writing the loops ourselves keeps exact control of the
// order of float32 operations. FeatureSurgeryGraph and SimilarityGridGraph are GoMLX versions of the
// same formulas for research code that stays inside a graph.
//
// Token convention (as in the reference): a feature Matrix has N = 1 + grid*grid rows; row 0 is the
// class token, rows 1.. the image patches in row-major order.
package surgery
