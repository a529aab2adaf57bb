// Package modelkit is the small kit both model packages (gomlx_clip and gomlx_sam) stand on:
// parameters by checkpoint name and their upload into exactly sized backend buffers (Weights),
// dense layers in one weight layout and LayerNorm, the shape check with its
// missing/unexpected/wrong-shape report, the executable cache keyed by graph and input shape
// (Programs), the backend choice (NewBackend, with the environment default read only by
// BackendFromEnv, at the edge) and attention in groups of heads (InHeadGroups).
//
// What is specific to the pure-Go backend (exact buffers, groups of heads run one after another)
// is chosen in one place, from the backend's capabilities: see SharedBuffers.
package modelkit
