#!/usr/bin/python3
"""Golden data for the DINO / DINOv2 package (gomlx_dino) and ProxyCLIP (gomlx_clip, surgery).

Every number here comes from the authors' own model code, imported from the checkouts named on the
command line (this file contains none of it):

  --dino       facebookresearch/dino   (vision_transformer.py)
  --dinov2     facebookresearch/dinov2 (dinov2/models/vision_transformer.py, dinov2/layers)
  --proxyclip  mc-lan/ProxyCLIP        (proxyclip_segmentor.py, open_clip/transformer.py, segment_anything)
  --golden     the shared golden folder (models/vit16.openai.safetensors: the tiny CLIP;
               sam/sam_tiny.pth: the tiny SAM)

The commits used are in README.md. Run with Debian's PyTorch (python3-torch 1.13, CPU, float32):

  XFORMERS_DISABLED=1 /usr/bin/python3 gen_goldens.py --dino D --dinov2 D2 --proxyclip P --golden G --out .

What is stubbed, and why (never their files):
  - xformers: absent; dinov2 falls back to its own attention and SwiGLU (XFORMERS_DISABLED=1).
  - mmseg, mmengine, einops, openpyxl, mae, open_clip's package __init__ (create_model, tokenizer): not installed
    or not needed; ProxyCLIPSegmentation is built with __new__ and given its modules, so only its
    forward_feature runs, unchanged.
  - Tensor.half: a no-op while ProxyCLIP runs, so that its float16 GPU path runs in float32 on CPU.
"""

import argparse
import hashlib
import importlib
import json
import os
import struct
import sys
import types
from functools import partial

os.environ.setdefault("XFORMERS_DISABLED", "1")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------------
# small file writers (npy, safetensors)


def save_npy(path, a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, a)
    return a.shape


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy(), dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", (name, spec["dtype"])
        lo, hi = spec["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[lo:hi], dtype=np.float32).reshape(spec["shape"]).copy())
    return out


# ---------------------------------------------------------------------------------------------
# deterministic inputs the Go tests rebuild exactly


def pattern_images(batch, h, w):
    """Normalised-looking pixels [B, 3, H, W]: ((31y + 17x + 7c + 13b) mod 97)/48 − 1, exact in float32."""
    b, c, y, x = np.meshgrid(np.arange(batch), np.arange(3), np.arange(h), np.arange(w), indexing="ij")
    v = ((31 * y + 17 * x + 7 * c + 13 * b) % 97).astype(np.float32) / np.float32(48) - np.float32(1)
    return torch.from_numpy(v.astype(np.float32))


def pattern_rgb(h, w):
    """uint8 RGB image [H, W, 3]: (31y + 17x + 7c) mod 256 — also rebuilt by the Go tests."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((31 * y + 17 * x + 7 * c) % 256).astype(np.uint8)


def normalise(rgb, mean, std):
    """ToTensor + Normalize in float32: [1, 3, H, W]."""
    t = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1) / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return ((t - m) / s).unsqueeze(0)


# ---------------------------------------------------------------------------------------------
# random weights: every tensor random, so that LayerNorm affine, biases, LayerScale, registers and
# the position table all matter (the authors' init leaves many at 0 or 1)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.state_dict().items()):
            if name.endswith("ls1.gamma") or name.endswith("ls2.gamma"):
                p.copy_(0.3 + 1.2 * torch.rand(p.shape, generator=g))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2 and name.endswith("weight"):
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))
            else:  # cls_token, pos_embed, register_tokens, mask_token
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Hugging Face layouts of the same weights (transformers' convert_dino_to_pytorch.py and
# convert_dinov2_to_hf.py name them so; written here from the state dict, q/k/v split)


def hf_names_v1(sd, depth, width):
    out = {
        "embeddings.cls_token": sd["cls_token"],
        "embeddings.position_embeddings": sd["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "layernorm.weight": sd["norm.weight"],
        "layernorm.bias": sd["norm.bias"],
    }
    for i in range(depth):
        b, e = f"blocks.{i}.", f"encoder.layer.{i}."
        for src, dst in [("norm1", "layernorm_before"), ("norm2", "layernorm_after"), ("attn.proj", "attention.output.dense"),
                         ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense")]:
            for p in ("weight", "bias"):
                out[f"{e}{dst}.{p}"] = sd[f"{b}{src}.{p}"]
        for j, part in enumerate(("query", "key", "value")):
            out[f"{e}attention.attention.{part}.weight"] = sd[f"{b}attn.qkv.weight"][j * width:(j + 1) * width]
            out[f"{e}attention.attention.{part}.bias"] = sd[f"{b}attn.qkv.bias"][j * width:(j + 1) * width]
    return out


def hf_names_v2(sd, depth, width, swiglu):
    out = {
        "embeddings.cls_token": sd["cls_token"],
        "embeddings.mask_token": sd["mask_token"].reshape(1, -1),
        "embeddings.position_embeddings": sd["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "layernorm.weight": sd["norm.weight"],
        "layernorm.bias": sd["norm.bias"],
    }
    if "register_tokens" in sd:
        out["embeddings.register_tokens"] = sd["register_tokens"]
    mlp = [("mlp.w12", "mlp.weights_in"), ("mlp.w3", "mlp.weights_out")] if swiglu else [("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")]
    for i in range(depth):
        b, e = f"blocks.{i}.", f"encoder.layer.{i}."
        for src, dst in [("norm1", "norm1"), ("norm2", "norm2"), ("attn.proj", "attention.output.dense")] + mlp:
            for p in ("weight", "bias"):
                out[f"{e}{dst}.{p}"] = sd[f"{b}{src}.{p}"]
        out[f"{e}layer_scale1.lambda1"] = sd[f"{b}ls1.gamma"]
        out[f"{e}layer_scale2.lambda1"] = sd[f"{b}ls2.gamma"]
        for j, part in enumerate(("query", "key", "value")):
            out[f"{e}attention.attention.{part}.weight"] = sd[f"{b}attn.qkv.weight"][j * width:(j + 1) * width]
            out[f"{e}attention.attention.{part}.bias"] = sd[f"{b}attn.qkv.bias"][j * width:(j + 1) * width]
    return out


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dino", required=True)
    ap.add_argument("--dinov2", required=True)
    ap.add_argument("--proxyclip", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    manifest = {"torch": torch.__version__, "models": {}, "cases": {}, "resize": {}, "proxyclip": {}}

    # --- DINO v1 (facebookresearch/dino vision_transformer.py) ---------------------------------
    sys.path.insert(0, os.path.abspath(args.dino))
    dino_vits = importlib.import_module("vision_transformer")
    sys.path.pop(0)
    sys.modules.pop("utils", None)  # the dino repo's utils.py, not to be confused later
    v1 = dino_vits.VisionTransformer(img_size=[32], patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_ratio=4,
                                     qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
    randomise(v1, 1)

    # --- DINOv2 (facebookresearch/dinov2) ----------------------------------------------------------
    sys.path.insert(0, os.path.abspath(args.dinov2))
    v2vit = importlib.import_module("dinov2.models.vision_transformer")
    v2layers = importlib.import_module("dinov2.layers")
    sys.path.pop(0)

    def dinov2(**kw):  # as hub/backbones.py _make_dinov2_model builds them, at tiny sizes
        base = dict(img_size=56, patch_size=14, embed_dim=16, depth=2, num_heads=2, mlp_ratio=4, init_values=1.0,
                    block_chunks=0, block_fn=partial(v2layers.NestedTensorBlock, attn_class=v2layers.MemEffAttention))
        base.update(kw)
        m = v2vit.DinoVisionTransformer(**base).eval()
        return m

    # the _reg hub models: 4 registers, antialiased resize to the grid size (offset 0); SwiGLU as vitg14
    v2reg = dinov2(ffn_layer="swiglufused", num_register_tokens=4, interpolate_antialias=True, interpolate_offset=0.0)
    randomise(v2reg, 2)
    # the plain hub models: MLP, no registers, scale factor with offset 0.1
    v2 = dinov2(ffn_layer="mlp", num_register_tokens=0, interpolate_antialias=False, interpolate_offset=0.1)
    randomise(v2, 3)

    models = {
        "dino_v1": dict(model=v1, family="dino", patch=8, heads=2, registers=0),
        "dinov2_reg": dict(model=v2reg, family="dinov2", patch=14, heads=2, registers=4),
        "dinov2": dict(model=v2, family="dinov2", patch=14, heads=2, registers=0),
    }

    # checkpoints: the authors' .pth (torch.save of the state dict) and Hugging Face copies
    ck = os.path.join(out, "models")
    os.makedirs(ck, exist_ok=True)
    torch.save(v1.state_dict(), os.path.join(ck, "dino_v1_tiny.pth"))
    torch.save(v2reg.state_dict(), os.path.join(ck, "dinov2_reg_tiny.pth"))
    save_safetensors(os.path.join(ck, "dino_v1_tiny_hf", "model.safetensors"), hf_names_v1(v1.state_dict(), 2, 16))
    with open(os.path.join(ck, "dino_v1_tiny_hf", "config.json"), "w") as f:
        json.dump({"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 16, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
                   "image_size": 32, "patch_size": 8, "num_channels": 3, "qkv_bias": True}, f, indent=1)
    save_safetensors(os.path.join(ck, "dinov2_tiny_hf", "model.safetensors"), hf_names_v2(v2.state_dict(), 2, 16, False))
    with open(os.path.join(ck, "dinov2_tiny_hf", "config.json"), "w") as f:
        json.dump({"architectures": ["Dinov2Model"], "model_type": "dinov2", "hidden_size": 16, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "mlp_ratio": 4, "hidden_act": "gelu", "layer_norm_eps": 1e-6,
                   "image_size": 56, "patch_size": 14, "num_channels": 3, "qkv_bias": True, "layerscale_value": 1.0,
                   "use_swiglu_ffn": False}, f, indent=1)
    files = {"dino_v1": ["dino_v1_tiny.pth", "dino_v1_tiny_hf"], "dinov2_reg": ["dinov2_reg_tiny.pth"],
             "dinov2": ["dinov2_tiny_hf"]}
    for name, info in models.items():
        m = info["model"]
        manifest["models"][name] = {"family": info["family"], "patch": info["patch"], "heads": info["heads"],
                                    "registers": info["registers"], "width": 16, "depth": 2,
                                    "native": int(round((m.pos_embed.shape[1] - 1) ** 0.5)), "files": files[name]}

    # features: all tokens after the final norm, as forward_features / get_intermediate_layers give them
    sizes = {
        "dino_v1": [(1, 32, 32), (1, 224, 224), (2, 48, 80)],
        "dinov2_reg": [(1, 56, 56), (1, 224, 224), (2, 70, 126)],
        "dinov2": [(1, 56, 56), (1, 224, 224), (2, 70, 126)],
    }
    with torch.no_grad():
        for name, info in models.items():
            m = info["model"]
            for (b, h, w) in sizes[name]:
                x = pattern_images(b, h, w)
                if info["family"] == "dino":
                    toks = m.get_intermediate_layers(x, n=1)[0]
                else:
                    toks = m.norm(m.forward_features(x)["x_prenorm"])
                    ff = m.forward_features(x)
                    assert torch.equal(ff["x_norm_patchtokens"], toks[:, 1 + info["registers"]:])
                case = f"{name}/tokens_{b}x{h}x{w}.npy"
                manifest["cases"][case] = {"model": name, "batch": b, "h": h, "w": w,
                                           "shape": list(save_npy(os.path.join(out, case), toks.numpy()))}

    # the two resizes of a position table, as torch computes them (rows: output, columns: input)
    def resize_matrix(n_in, **kw):
        eye = torch.eye(n_in, dtype=torch.float32).reshape(1, n_in, n_in, 1)
        y = F.interpolate(eye, mode="bicubic", align_corners=False, **kw)
        return y[0, :, :, 0].T.numpy()

    for n_in, n_out in [(4, 16), (4, 5), (37, 16), (37, 9), (16, 6), (5, 4), (4, 37)]:
        key = f"resize/aa_{n_in}_{n_out}.npy"
        save_npy(os.path.join(out, key), resize_matrix(n_in, size=(n_out, 1), antialias=True))
        manifest["resize"][key] = {"in": n_in, "out": n_out, "antialias": True, "scale_factor": None}
        key = f"resize/offset_{n_in}_{n_out}.npy"
        sf = (n_out + 0.1) / n_in
        save_npy(os.path.join(out, key), resize_matrix(n_in, scale_factor=(sf, 1.0)))
        manifest["resize"][key] = {"in": n_in, "out": n_out, "antialias": False, "scale_factor": sf}

    # --- ProxyCLIP ---------------------------------------------------------------------------------
    proxyclip_goldens(args, out, manifest, models)

    for dirpath, _, names in os.walk(out):
        for n in names:
            if n.endswith((".npy", ".pth", ".safetensors", ".json")) and n != "manifest.json":
                p = os.path.join(dirpath, n)
                manifest.setdefault("sha256", {})[os.path.relpath(p, out)] = sha256(p)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def proxyclip_goldens(args, out, manifest, models):
    root = os.path.abspath(args.proxyclip)

    class _Registry:
        def register_module(self, *a, **k):
            return lambda cls: cls

    stub("mmseg")
    stub("mmseg.models")
    stub("mmseg.models.segmentors", BaseSegmentor=nn.Module)
    stub("mmseg.models.data_preprocessor", SegDataPreProcessor=object)
    stub("mmseg.registry", MODELS=_Registry())
    stub("mmengine")
    stub("mmengine.structures", PixelData=dict)
    stub("einops", rearrange=None)
    stub("openpyxl")  # myutils.py writes result spreadsheets with it; UnNormalize needs nothing
    stub("mae", models_vit=None)
    stub("mae.pos_embed", interpolate_pos_embed=None)
    oc = stub("open_clip", create_model=None, tokenizer=None)
    oc.__path__ = [os.path.join(root, "open_clip")]  # submodules load from their files; __init__ does not run
    sys.path.insert(0, root)
    seg = importlib.import_module("proxyclip_segmentor")
    transformer = importlib.import_module("open_clip.transformer")
    sam_modeling = importlib.import_module("segment_anything.modeling")
    myutils = importlib.import_module("myutils")
    sys.path.pop(0)

    # the tiny CLIP of the shared goldens (vit16: width 128, 8 layers, 2 heads, patch 16, 224), as
    # ProxyCLIP builds OpenAI's models in open_clip (QuickGELU, LayerNorm eps 1e-5)
    sd = read_safetensors(os.path.join(args.golden, "models", "vit16.openai.safetensors"))
    visual = transformer.VisionTransformer(image_size=224, patch_size=16, width=128, layers=8, heads=2, mlp_ratio=4.0,
                                           output_dim=64, act_layer=transformer.QuickGELU, norm_layer=transformer.LayerNorm)
    visual.load_state_dict({k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}, strict=True)
    visual.eval()

    recorded = {}

    class TinyCLIP(nn.Module):  # the one call ProxyCLIP makes of its CLIP: encode_image → visual(...)
        def __init__(self):
            super().__init__()
            self.visual = visual

        def encode_image(self, image, external_feats, beta, gamma):
            f = self.visual(image, external_feats, beta, gamma)
            recorded["features"], recorded["vfm"] = f.clone(), external_feats.clone()
            return f

    g = torch.Generator().manual_seed(7)
    text = F.normalize(torch.randn(3, 64, generator=g), dim=-1)
    save_npy(os.path.join(out, "proxyclip", "text.npy"), text.numpy())

    clip_mean, clip_std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    # the tiny SAM's image encoder, built as build_sam._build_sam builds it (only the encoder is used;
    # the tiny checkpoint's decoder is smaller than _build_sam's)
    sam_tiny = nn.Module()
    sam_tiny.image_encoder = sam_modeling.ImageEncoderViT(
        depth=4, embed_dim=64, img_size=1024, mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=2,
        patch_size=16, qkv_bias=True, use_rel_pos=True, global_attn_indexes=[1, 3], window_size=14, out_chans=256)
    sam_sd = torch.load(os.path.join(args.golden, "sam", "sam_tiny.pth"), map_location="cpu")
    sam_tiny.image_encoder.load_state_dict({k[len("image_encoder."):]: v for k, v in sam_sd.items()
                                            if k.startswith("image_encoder.")}, strict=True)
    sam_tiny.eval()
    vfms = {"dino_v1": ("dino", models["dino_v1"]["model"]), "dinov2_reg": ("dinov2", models["dinov2_reg"]["model"]),
            "sam_tiny": ("sam", sam_tiny)}
    side = 112
    rgb = pattern_rgb(side, side)
    img = normalise(rgb, clip_mean, clip_std)
    half = torch.Tensor.half
    torch.Tensor.half = lambda self: self  # float32 on CPU (see the module doc)
    try:
        for name, (kind, vfm) in vfms.items():
            s = seg.ProxyCLIPSegmentation.__new__(seg.ProxyCLIPSegmentation)
            nn.Module.__init__(s)
            s.clip, s.vfm, s.vfm_model = TinyCLIP(), vfm, kind
            s.beta, s.gamma = 1.2, 3.0  # the segmentor's defaults
            s.unnorm = myutils.UnNormalize(clip_mean, clip_std)
            s.norm = seg.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
            s.query_features = text
            with torch.no_grad():
                logits = s.forward_feature(img)  # [1, K, side, side], bilinear from the VFM grid
            feats = recorded["features"][0]  # [H·W, 64] before the L2 norm
            assert torch.isfinite(logits).all() and torch.isfinite(feats).all(), name
            grid = int(round(feats.shape[0] ** 0.5))
            grid_logits = F.normalize(feats, dim=-1) @ text.T
            base = f"proxyclip/{name}"
            entry = {"vfm": kind, "side": side, "grid": grid, "beta": 1.2, "gamma": 3.0}
            entry["grid_logits"] = list(save_npy(os.path.join(out, base + "_grid_logits.npy"), grid_logits.numpy()))
            entry["logits_every4"] = list(save_npy(os.path.join(out, base + "_logits_every4.npy"), logits[0, :, ::4, ::4].numpy()))
            if grid <= 8:
                entry["features"] = list(save_npy(os.path.join(out, base + "_features.npy"), feats.numpy()))
            if kind != "sam":  # the VFM's patch features as CLIP got them, channels last [H, W, C]
                vfm_feats = recorded["vfm"][0].permute(1, 2, 0).numpy()
                entry["vfm_features"] = list(save_npy(os.path.join(out, base + "_vfm_features.npy"), vfm_feats))
            manifest["proxyclip"][name] = entry
    finally:
        torch.Tensor.half = half


if __name__ == "__main__":
    main()
