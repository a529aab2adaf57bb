package clip

// The method table: every method of the image encoder is one descriptor here, its graph
// functions in methods_blocks.go, its check in methods_oracle_test.go (the goldens for
// surgery). Adding a method is one entry, its block function and its oracle case; the method
// table test checks every entry and that the README's table agrees with it.

// The methods' canonical names, one per descriptor below.
const (
	MethodSurgery   Method = "surgery"
	MethodRaw       Method = "raw"
	MethodMaskCLIP  Method = "maskclip"
	MethodSCLIP     Method = "sclip"
	MethodClearCLIP Method = "clearclip"
	MethodNACLIP    Method = "naclip"
	MethodGEM       Method = "gem"
	MethodSCCLIP    Method = "scclip"
	MethodProxyCLIP Method = "proxyclip"
)

// methodTable lists the methods, the default first (MethodDefault in the graph functions and
// NewModel's Model.Method). It is never changed: Methods and LookupMethod hand out copies.
var methodTable = [...]methodDef{
	{
		spec: MethodSpec{
			Name:    MethodSurgery,
			Aliases: []string{"clip-surgery", "cs"},
			Title:   "CLIP Surgery",
			Changes: "the last 6 blocks (ImageOptions.Depth) get a second path of v-v self-attention without FFN, which gives the patch tokens; " +
				"the class token from the original path; positional embedding bilinear",
			Blocks: "The last Depth (ImageOptions.Depth, default 6) blocks get a second path: self-attention (v-v; " +
				"ImageOptions.Attention) through the block's out_proj, accumulated without FFN and without a LayerNorm of its own; " +
				"the original path runs on and gives the class token (ArchitectureSurgeryBlock, LastSurgeryBlock). " +
				"A ResNet's attention pool runs v-v attention on every token, the class token included. The reference; the goldens check it.",
			PositionalEmbedding: "bilinear, align_corners=False, to the grid size (ResizePositionalEmbedding)",
			FeatureSurgery:      true,
			Paper: `Li et al., "A closer look at the explainability of Contrastive Language-Image Pre-training", ` +
				`Pattern Recognition 2025, method section "architecture surgery"`,
			Code: "xmed-lab/CLIP_Surgery clip/clip_surgery_model.py",
		},
		posEmbed: ResizePositionalEmbedding,
		changed:  func(o ImageOptions) int { return o.Depth },
		tail:     surgeryTail,
		pool:     valueValuePool,
		settle:   settleSurgery,
	},
	{
		spec: MethodSpec{
			Name:    MethodRaw,
			Aliases: []string{"original", "vanilla"},
			Title:   "CLIP",
			Changes: "nothing: every block as trained; positional embedding bilinear (CLIP Surgery's comparison baseline)",
			Blocks:  "Every block unchanged (ResidualBlock); a ResNet's attention pool keeps its q-k attention.",
			PositionalEmbedding: "bilinear, align_corners=False, to the grid size (ResizePositionalEmbedding), as CLIP Surgery's code " +
				"resizes it, since this is its comparison baseline",
			Paper: `Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021, ` +
				`section 2.4 "Choosing and Scaling a Model"`,
			Code: "openai/CLIP clip/model.py (VisionTransformer, ModifiedResNet); the resize of xmed-lab/CLIP_Surgery clip/clip_surgery_model.py",
		},
		posEmbed: ResizePositionalEmbedding,
		tail:     rawLastBlock,
		pool:     queryKeyPool,
	},
	{
		spec: MethodSpec{
			Name:  MethodMaskCLIP,
			Title: "MaskCLIP",
			Changes: "last block: each patch token keeps its value embedding, x + out_proj(v), then the FFN; " +
				"the class token from the unchanged block; positional embedding bicubic",
			Blocks: "In the last block each patch token keeps only its value embedding: x + out_proj(v(ln_1 x)), then the block's FFN " +
				"with its residual, then ln_post and the projection (ValueEmbeddingBlock); the class token comes from the unchanged " +
				"block (MaskCLIP's x[:, 1:] = v[:, 1:]).",
			PositionalEmbedding: "bicubic, align_corners=False, to the grid size (resize_pos_embed, interpolate_mode='bicubic'; " +
				"ResizePositionalEmbeddingBicubic)",
			ViTOnly: true,
			Paper: `Zhou et al., "Extract Free Dense Labels from CLIP", ECCV 2022, method section ` +
				`(the value embedding of the last attention layer as dense features)`,
			Code: "chongzhou96/MaskCLIP mmseg/models/backbones/vit.py, TransformerEncoderLayer.forward with return_qkv on the last layer",
			Notes: "The release's ViT config uses GELU and LayerNorm eps 1e-6 (configs/_base_/models/maskclip_vit16.py); the " +
				"checkpoint's own activation and eps are used here (QuickGELU and 1e-5 for OpenAI's CLIP). MaskCLIP's ResNet " +
				"variant is not implemented: ResNets give ErrViTOnly.",
		},
		posEmbed: ResizePositionalEmbeddingBicubic,
		tail:     maskCLIPLastBlock,
	},
	{
		spec: MethodSpec{
			Name:  MethodSCLIP,
			Title: "SCLIP",
			Changes: "last block: correlative self-attention, softmax(q qᵀ/√d) + softmax(k kᵀ/√d), residual and FFN kept; " +
				"positional embedding bicubic with scale factor (g+0.1)/native",
			Blocks: "The last block's attention weights are softmax(q qᵀ/√d) + softmax(k kᵀ/√d) (CorrelativeSelfAttention); " +
				"the residual connection and the FFN are kept.",
			PositionalEmbedding: "bicubic, align_corners=False, with scale_factor = (g + 0.1)/native per axis " +
				"(interpolate_pos_encoding), so source coordinates are (d + 0.5)·native/(g + 0.1) − 0.5, not the size ratio; " +
				"not resized when the token count equals the native one (ResizePositionalEmbeddingScaled)",
			ViTOnly: true,
			Protocol: Protocol{ShortSide: 336, Window: 224, Stride: 112,
				From: "wangf3014/SCLIP configs/cfg_voc21.py (Resize scale=(2048, 336)), clip_segmentor.py (slide_crop=224, slide_stride=112)"},
			Paper: `Wang et al., "SCLIP: Rethinking Self-Attention for Dense Vision-Language Inference", 2023, ` +
				`method section "correlative self-attention"`,
			Code: "wangf3014/SCLIP clip/model.py, VisionTransformer.custom_attn with csa=True",
			Notes: "SCLIP's area threshold (area_thd 0.1 on VOC21) is part of its evaluation preset, not of the encoder: " +
				"surgery/evaluate (-protocol sclip; PostProcess).",
		},
		posEmbed: ResizePositionalEmbeddingScaled,
		tail:     sclipLastBlock,
	},
	{
		spec: MethodSpec{
			Name:    MethodClearCLIP,
			Title:   "ClearCLIP",
			Changes: "last block: out_proj(softmax(q qᵀ/√d) v) alone, no residual, no FFN; positional embedding as SCLIP's",
			Blocks: "The last block's output is out_proj(softmax(q qᵀ/√d) v) alone: no residual connection, no FFN " +
				"(ClearCLIPBlock).",
			PositionalEmbedding: "as SCLIP's (interpolate_pos_encoding, the same +0.1 scale factor; ResizePositionalEmbeddingScaled)",
			ViTOnly:             true,
			Protocol: Protocol{ShortSide: 448, Window: 448, Stride: 224,
				From: "mc-lan/ClearCLIP configs/cfg_voc21.py (Resize scale=(2048, 448)), clearclip_segmentor.py (slide_crop=448, slide_stride=224)"},
			Paper: `Lan et al., "ClearCLIP: Decomposing CLIP Representations for Dense Vision-Language Inference", ECCV 2024, ` +
				`method section (drop the residual connection and the FFN of the last block, q-q attention)`,
			Code: "mc-lan/ClearCLIP open_clip/transformer.py, VisionTransformer.forward with model_type='ClearCLIP', " +
				"ignore_residual=True, last_n_layers=1",
		},
		posEmbed: ResizePositionalEmbeddingScaled,
		tail:     clearCLIPLastBlock,
	},
	{
		spec: MethodSpec{
			Name:  MethodNACLIP,
			Title: "NACLIP",
			Changes: "last block: out_proj(softmax(k kᵀ/√d + Ω) v) alone with a Gaussian neighbourhood prior Ω (σ 5), no residual, no FFN; " +
				"positional embedding as SCLIP's",
			Blocks: "The last block's output is out_proj(softmax(k kᵀ/√d + Ω) v) alone (no residual, no FFN), where Ω is a Gaussian " +
				"over the patch grid, Ω[p, p'] = exp(−|p − p'|²/(2σ²)) with σ = ImageOptions.NeighbourhoodStd (default 5), and 0 in " +
				"the class token's row and column (gaussian_window, get_attention_addition; NeighbourhoodPrior, NeighbourhoodAttention).",
			PositionalEmbedding: "as SCLIP's (interpolate_pos_encoding with recompute_scale_factor=False: the same numbers; " +
				"ResizePositionalEmbeddingScaled)",
			ViTOnly: true,
			Protocol: Protocol{ShortSide: 336, Window: 224, Stride: 112,
				From: "sinahmr/NACLIP configs/cfg_context60.py (Resize scale=(2048, 336)), naclip.py (slide_crop=224, slide_stride=112); " +
					"cfg_voc21.py and cfg_voc20.py set slide_crop=0, the whole image"},
			Paper: `Hajimiri et al., "Pay Attention to Your Neighbours: Training-Free Open-Vocabulary Semantic Segmentation", ` +
				`WACV 2025, method section (neighbourhood attention, key-key similarity, reduced architecture)`,
			Code: "sinahmr/NACLIP clip/model.py, VisionTransformer with arch='reduced', attn_strategy='naclip', gaussian_std=5",
			Notes: "NACLIP's post-processing PAMR (naclip.py, pamr_steps=10, dilations 8 and 16) is part of its evaluation " +
				"preset, not of the encoder: surgery/evaluate (-protocol naclip; PAMR).",
		},
		posEmbed: ResizePositionalEmbeddingScaled,
		tail:     naclipLastBlock,
		settle:   settleNACLIP,
	},
	{
		spec: MethodSpec{
			Name:    MethodGEM,
			Aliases: []string{"grounding-everything"},
			Title:   "GEM",
			Changes: "the last 6 blocks (ImageOptions.Depth) get a second path of iterated self-self attention of q, k and v, ensembled, " +
				"without FFN, which gives every token; positional embedding bicubic antialiased",
			Blocks: "The last Depth (ImageOptions.Depth, default 6: gem_depth 7) blocks get a second path beside the original one, as CLIP " +
				"Surgery's: each adds out_proj of GEMAttention of the original path's ln_1 tokens, without FFN. GEMAttention: for each of " +
				"v, k and q, GEMOptions.Iterations (default 1) times x ← softmax(τ·x̂x̂ᵀ)x̂ (x̂ L2-normalized per head), then softmax(τ·x̂x̂ᵀ) " +
				"applied to v; the three averaged. τ is GEMOptions.Temperature or, by default, the block's mean ln_1 token norm / √d. " +
				"The output, class token included, is the GEM path's (gemTail).",
			PositionalEmbedding: "bicubic with antialias (a = −0.5), align_corners=False, to the grid size (resample_abs_pos_embed; " +
				"ResizePositionalEmbeddingAntialiased)",
			ViTOnly: true,
			Paper: `Bousselham et al., "Grounding Everything: Emerging Localization Properties in Vision-Language Transformers", ` +
				`CVPR 2024, section 3 (self-self attention, iteration, L2 normalization, adaptive temperature)`,
			Code: "WalBouss/GEM@5fa677ca1dcf10d39ceceadacf3e3cff414d7c27 gem/gem_utils.py (SelfSelfAttention, GEMResidualBlock, " +
				"modified_vit_forward), gem/gem_wrapper.py (GEMWrapper, depth=7, ss_attn_iter=1, ss_attn_temp=None)",
			Notes: "A method beside CLIP Surgery, not a modifier: it replaces the second path's attention wholesale. The authors run it " +
				"through open_clip on OpenAI and LAION weights at 448 px; the golden check runs their module on an open_clip-shaped ViT.",
		},
		posEmbed: ResizePositionalEmbeddingAntialiased,
		changed:  func(o ImageOptions) int { return o.Depth },
		tail:     gemTail,
		settle:   settleGEM,
	},
	{
		spec: MethodSpec{
			Name:  MethodSCCLIP,
			Title: "SC-CLIP",
			Changes: "anomaly tokens (LOF) resolved before the last block; its attention averages k-k with an intermediate-feature " +
				"similarity, no residual, no FFN, class token added ×0.3; outputs aggregated by similarity; the block run again on fused " +
				"intermediate features and added; positional embedding as SCLIP's",
			Blocks: "Anomaly resolution: the local outlier factor of the last block's input patches (30 neighbours, contamination 0.05; " +
				"AnomalyTokens) flags patches, each replaced by the mean of its unflagged 8 neighbours (ResolveAnomalies), there and in " +
				"the pre-adjust block's output. Self-adjusting: the cosine similarity of the (resolved) pre-adjust patches, dropped below " +
				"β 0.4, aggregates the last block's input (AggregateFeatures); the last block on the patches alone is out_proj of " +
				"(softmax(3·(mid − mean)) masked below 0 + softmax(kkᵀ/√d))/2 times v, no residual, no FFN, plus 0.3 × the class token " +
				"(SCCLIPBlock); its output is aggregated by the post-adjust similarity. Fusion: the same block on the sum of the fusion " +
				"blocks' outputs, aggregated likewise, is added. SCCLIPOptions switch each step off and move its blocks (SCCLIPLayers: " +
				"pre 9, post 4, fusion 4..10 of 12, by ScaleLayer elsewhere). Token 0 is the unchanged last block's class token (the " +
				"authors return patches only).",
			PositionalEmbedding: "as SCLIP's (interpolate_pos_encoding, scale factor (g + 0.1)/native; ResizePositionalEmbeddingScaled)",
			ViTOnly:             true,
			Protocol: Protocol{ShortSide: 336, Window: 224, Stride: 112,
				From: "SuleBai/SC-CLIP configs/cfg_voc21.py (Resize scale=(2048, 336)), scclip_segmentor.py (slide_crop=224, slide_stride=112)"},
			Paper: `Bai et al., "Self-Calibrated CLIP for Training-Free Open-Vocabulary Segmentation", 2024 (arXiv 2411.15869), ` +
				`method sections (resolving anomaly tokens, self-adjusting, multi-level feature fusion)`,
			Code: "SuleBai/SC-CLIP@0417ba92851e9dd7432d608f10a0804d01a23062 clip/model.py (VisionTransformer.forward, custom_attn, " +
				"adaptively_aggregate, mean_interpolation, lof_pytorch), scclip_segmentor.py",
			Notes: "A method, not a modifier: its last block replaces the base's attention, residual and class token. The authors locate " +
				"flagged patches as if the grid were square (index // rows); the row-major position is used here, the same on square " +
				"grids. The mid-similarity mean is per image (theirs is over the batch, which is 1). Token 0 (not in their output) is " +
				"the unchanged last block's class token.",
		},
		posEmbed: ResizePositionalEmbeddingScaled,
		changed:  func(o ImageOptions) int { return 1 << 20 }, // every block: the tail reads intermediate outputs
		tail:     scclipTail,
		settle:   settleSCCLIP,
	},
	{
		spec: MethodSpec{
			Name:  MethodProxyCLIP,
			Title: "ProxyCLIP",
			Changes: "last block: out_proj(softmax(S) v) alone with S a vision foundation model's patch affinity, normalised and masked " +
				"(β 1.2, γ 3), values resized to its grid; no residual, no FFN; tokens on the VFM's grid; positional embedding as SCLIP's",
			Blocks: "The last block's output is out_proj(A·v') alone (no residual, no FFN): v' are the patch tokens' values of " +
				"ln_1(x), resized bilinearly from CLIP's grid to the VFM's; A = softmax over keys of S = ((f fᵀ) − β·mean(f fᵀ))·γ " +
				"with entries below 0 masked, f the VFM's L2-normalised patch features (DINO, DINOv2: normed last-layer patch " +
				"tokens; SAM: the image encoder's neck output), β = ImageOptions.ProxyBeta (1.2), γ = ProxyGamma (3.0) " +
				"(ProxyAttention). The features are an input (ImageOptions.Proxy; surgery.Options.VFM runs the VFM). The class " +
				"token, which ProxyCLIP drops, is the unchanged block's.",
			PositionalEmbedding: "as SCLIP's (its open_clip interpolate_pos_encoding, the same +0.1 scale factor; " +
				"ResizePositionalEmbeddingScaled)",
			ViTOnly: true,
			VFM:     true,
			Protocol: Protocol{ShortSide: 336, Window: 336, Stride: 112,
				From: "mc-lan/ProxyCLIP configs/cfg_voc21.py (Resize scale=(2048, 336)), proxyclip_segmentor.py (slide_crop=336, " +
					"slide_stride=112); cfg_city_scapes.py: short side 448, windows 224; cfg_ade20k.py: short side 448"},
			Paper: `Lan et al., "ProxyCLIP: Proxy Attention Improves CLIP for Open-Vocabulary Segmentation", ECCV 2024, ` +
				`method section (proxy attention from VFM features; adaptive normalization and masking)`,
			Code: "mc-lan/ProxyCLIP open_clip/transformer.py, VisionTransformer.custom_attn; proxyclip_segmentor.py, forward_feature",
			Notes: "The release runs CLIP and the VFM in float16 on GPU (float32 here); its affinity mean spans the batch (per " +
				"image here: the same for its one window at a time); it reshapes values with the window's sides swapped, so only " +
				"its square windows are defined there; MAE as VFM is not implemented.",
		},
		posEmbed: ResizePositionalEmbeddingScaled,
		tail:     proxyCLIPLastBlock,
		settle:   settleProxyCLIP,
	},
}
