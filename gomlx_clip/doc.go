// Package clip is CLIP (Radford et al. 2021) in GoMLX, as the CLIP Surgery reference code
// (xmed-lab/CLIP_Surgery) runs it: the same numbers for the same weights.
//
// The image encoder runs one of several training-free methods (Method: CLIP Surgery, the
// original CLIP, MaskCLIP, SCLIP, ClearCLIP, NACLIP), each one descriptor of the method table
// (methods_table.go; Methods, LookupMethod) with what it changes and where that definition comes
// from.
//
// It has two levels:
//
//   - graph functions over *graph.Node (EncodeImageGraph, EncodeTextGraph, ResidualBlock,
//     ArchitectureSurgeryBlock, ...) for research: build your own graph around them;
//   - Model, which holds the weights, compiles executables per input shape (cached) and offers
//     EncodeImage / EncodeText / EncodeTextWithPromptEnsemble on Go values.
//
// The configuration is never guessed from a name: it is inferred from the tensor shapes, as the
// reference's build_model does, and completed by the config file beside the weights when there is
// one — open_clip_config.json (open_clip's hub layout) or a Hugging Face CLIPModel's config.json —
// for what shapes cannot show (activation, LayerNorm eps, heads, pooling, tokenizer conventions,
// preprocessing), each stated size checked against the shapes (openclip_config.go, hf_config.go,
// configfile.go; LoadFile also takes a hub folder, load_folder.go). Checkpoints in OpenAI naming
// and in Hugging Face CLIPModel naming are both accepted (see weightmap.go, the only place that
// knows about names and layouts; on the backend, model.go keeps the dense weights transposed, see
// IsDenseWeight).
package clip
