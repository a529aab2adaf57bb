#!/usr/bin/python3
"""Reference outputs of the authors' own code of ResCLIP, SC-CLIP and GEM on the tiny golden ViT.

Usage (Debian's python3 with python3-torch; nothing else):

    gen_modifiers.py GOLDEN_DIR RESCLIP_DIR SCCLIP_DIR GEM_DIR OUT_DIR

GOLDEN_DIR is the golden folder (models/vit16.openai.safetensors, preprocess/demo_224.f32.npy,
text/text_features_all59.f32.npy); the three DIRs are checkouts of the authors' repositories
(see README.md beside this file for the commits). Their files are imported as they are, never
changed: what they need and this machine has not (CUDA, OpenCV, einops, open_clip, mmseg) is
stubbed below, and only where their code is not reached by the runs made here, except:

  * CUDA: their code moves tensors to 'cuda' (ResCLIP's semantic feedback); .cuda() and
    .to('cuda') are made no-ops, so everything runs on the CPU in float32.
  * open_clip: GEM wraps an open_clip VisionTransformer; OpenClipViT below is the same module
    tree (conv1, class_embedding, ln_pre, resblocks with attn/ln_1/ln_2/mlp/ls_1/ls_2, ln_post,
    proj) with OpenAI CLIP's arithmetic, which is what open_clip builds for OpenAI weights.
  * ResCLIP averages the attention of blocks range(5, 9), which exist only in models of 10 or
    more blocks; for the 8-block golden model the range their module looks up is pointed at
    the blocks the project's depth rule gives (clip.ResCLIPLayers). Nothing else is changed.

Outputs are float32 .npy files of all tokens [1, N, E] after ln_post and the projection, as the
authors' encoders return them with return_all=True (SC-CLIP returns no class token: [1, HW, E]).
"""
import builtins
import importlib.util
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn as nn

torch.set_grad_enabled(False)
torch.set_num_threads(1)


# ---------------------------------------------------------------- stubs
def stub_module(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def unreachable(*args, **kwargs):
    raise RuntimeError("stubbed function reached")


stub_module("cv2", cvtColor=unreachable, threshold=unreachable)  # ResCLIP: calculate_distance_prior only
stub_module("einops", rearrange=unreachable)  # GEM: GEMWrapper.forward only (not called)

torch.Tensor.cuda = lambda self, *a, **k: self
_module_to = nn.Module.to


def _to_cpu(self, *args, **kwargs):
    args = tuple(a for a in args if not (isinstance(a, torch.device) and a.type == "cuda") and a != "cuda")
    return _module_to(self, *args, **kwargs)


nn.Module.to = _to_cpu


def expand_token(token, batch_size):
    return token.view(1, 1, -1).expand(batch_size, -1, -1)


def to_2tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class OpenClipBlock(nn.Module):
    """open_clip's ResidualAttentionBlock for OpenAI weights (QuickGELU, no LayerScale)."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))
        self.ls_1, self.ls_2 = nn.Identity(), nn.Identity()

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):
        h = self.ln_1(q_x)
        x = q_x + self.ls_1(self.attn(h, h, h, need_weights=False)[0])
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class OpenClipTransformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([OpenClipBlock(width, heads) for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for r in self.resblocks:
            x = r(x, attn_mask=attn_mask)
        return x


class OpenClipViT(nn.Module):
    def __init__(self, width, layers, heads, patch, grid, embed):
        super().__init__()
        self.patch_size = (patch, patch)
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.patch_dropout = nn.Identity()
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.transformer = OpenClipTransformer(width, layers, heads)
        self.proj = nn.Parameter(torch.zeros(width, embed))


stub_module("open_clip")
stub_module("open_clip.transformer", _expand_token=expand_token, to_2tuple=to_2tuple, VisionTransformer=OpenClipViT)


# ---------------------------------------------------------------- inputs
def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy())
    return out


def oracle_pixels(h, w):
    """The Go tests' oraclePixels(h, w): a smooth image plus LCG noise, float32 [3, h, w]."""
    pix = np.empty(3 * h * w, dtype=np.float32)
    seed = 12345
    for i in range(pix.size):
        seed = (seed * 1664525 + 1013904223) & 0xFFFFFFFF
        ch, y, x = i // (h * w), (i // w) % h, i % w
        a = np.float32(np.sin(x / 17 + ch) + np.cos(y / 23))
        pix[i] = (a + np.float32(seed >> 8) / np.float32(1 << 24)) - np.float32(0.5)
    return pix.reshape(3, h, w)


def load_module(name, path, package_dir=None):
    if package_dir is not None:
        pkg = name.rsplit(".", 1)[0]
        if pkg not in sys.modules:
            p = types.ModuleType(pkg)
            p.__path__ = [package_dir]
            sys.modules[pkg] = p
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def visual_state(ck):
    return {k[len("visual."):]: v for k, v in ck.items() if k.startswith("visual.")}


def dims(ck):
    width = ck["visual.conv1.weight"].shape[0]
    patch = ck["visual.conv1.weight"].shape[-1]
    layers = len([k for k in ck if k.startswith("visual.") and k.endswith(".attn.in_proj_weight")])
    grid = round((ck["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    return width, patch, layers, grid, ck["visual.proj"].shape[1]


def depth_rule(layers, index, of=12):
    """The project's rule for a layer index the authors give for a 12-block ViT-B: scaled to the
    model's depth, rounded half up (clip.ScaleLayer)."""
    return (index * layers + of // 2) // of


def save(out_dir, name, t):
    a = t.detach().numpy().astype("<f4")
    np.save(os.path.join(out_dir, name), a)
    print(f"{name}: {list(a.shape)}")


# ---------------------------------------------------------------- ResCLIP
RESCLIP_DEMO = dict(temp_thd=0.10, attn_rcs_weights=[2.0, 0.6], attn_sfr_weights=[2.1, 0.6])  # demo.py


def resclip_runs(src, ck, text, images, out_dir):
    sys.path.insert(0, src)  # their model.py imports their pamr.py
    mod = load_module("resclip_model", os.path.join(src, "clip", "model.py"))
    width, patch, layers, grid, embed = dims(ck)
    first, last = depth_rule(layers, 5), depth_rule(layers, 8)
    mod.range = lambda *a: builtins.range(first, last + 1) if a == (5, 9) else builtins.range(*a)
    mod.logging = types.SimpleNamespace(warning=unreachable)  # their PAMR failure path must not be taken silently
    vit = mod.VisionTransformer(patch * grid, patch, width, layers, width // 64, embed)
    vit.load_state_dict(visual_state(ck))
    vit.eval()
    base = {"naclip": ("wo_resi", "naclip"), "sclip": ("w_resi", "sclip"), "clearclip": ("wo_resi", "clearclip"),
            "raw": ("w_resi", "vanilla")}
    runs = [("naclip", "224", True, True), ("naclip", "160x288", True, True), ("sclip", "224", True, True),
            ("clearclip", "160x288", True, True), ("raw", "224", True, True), ("naclip", "224", True, False),
            ("naclip", "160x288", False, True)]
    patch_classes = []
    make_patch_matrix = vit.create_patch_matrix
    vit.create_patch_matrix = lambda *a, **k: patch_classes.append(make_patch_matrix(*a, **k)) or patch_classes[-1]
    for method, size, rcs, sfr in runs:
        arch, strategy = base[method]
        vit.set_params(arch, strategy, 5.0)
        img = images[size]
        out = vit(img, return_all=True, use_rcs=rcs, use_sfr=sfr, query_features=text, img=img, patch_size=patch,
                  logit_scale=40, dtype=torch.float32, align_corners=False, delete_same_entity=True,
                  use_custom_attn=True, **RESCLIP_DEMO)
        tag = "" if rcs and sfr else ("_rcs" if rcs else "_sfr")
        save(out_dir, f"resclip{tag}_{method}_{size}.f32.npy", out)
        if sfr:  # the patch classes the semantic feedback was built from (for a failing test to point at)
            c = patch_classes[-1].to(torch.int32).numpy()
            np.save(os.path.join(out_dir, f"resclip{tag}_{method}_{size}_classes.i32.npy"), c.astype("<i4"))
            print("  patch classes", np.unique(c).size, "distinct; class 0 on", int((c == 0).sum()), "of", c.size)
    sys.path.remove(src)


# ---------------------------------------------------------------- SC-CLIP
def scclip_runs(src, ck, images, out_dir):
    mod = load_module("scclip_model", os.path.join(src, "clip", "model.py"))
    width, patch, layers, grid, embed = dims(ck)
    vit = mod.VisionTransformer(patch * grid, patch, width, layers, width // 64, embed)
    vit.load_state_dict(visual_state(ck))
    vit.eval()
    # scclip_segmentor.py's defaults for ViT-B (12 blocks), by the depth rule for this model.
    vit.pre_adjust_idx = depth_rule(layers, 8)
    vit.post_adjust_idx = depth_rule(layers, 3)
    vit.multi_start_idx = depth_rule(layers, 3)
    vit.multi_end_idx = depth_rule(layers, 10)
    vit.res_cls = 0.3
    print("scclip indices", vit.pre_adjust_idx, vit.post_adjust_idx, vit.multi_start_idx, vit.multi_end_idx)
    for size in ("224", "288"):  # their anomaly positions assume a square grid
        save(out_dir, f"scclip_{size}.f32.npy", vit(images[size], return_all=True))


# ---------------------------------------------------------------- GEM
def gem_runs(src, ck, images, out_dir):
    load_module("gem.gem_utils", os.path.join(src, "gem", "gem_utils.py"), os.path.join(src, "gem"))
    wrapper = load_module("gem.gem_wrapper", os.path.join(src, "gem", "gem_wrapper.py"), os.path.join(src, "gem"))
    width, patch, layers, grid, embed = dims(ck)
    for size, it, temp in (("224", 1, None), ("160x288", 1, None), ("224", 3, 0.5)):
        visual = OpenClipViT(width, layers, width // 64, patch, grid, embed)
        visual.load_state_dict(visual_state(ck))
        wrapper.GEMWrapper(types.SimpleNamespace(visual=visual), tokenizer=None, depth=7, ss_attn_iter=it,
                           ss_attn_temp=temp)  # swaps the last depth-1 blocks of visual in place
        visual.eval()
        feat_gem, _ = visual(images[size])
        tag = "" if it == 1 and temp is None else f"_iter{it}_temp{temp}"
        save(out_dir, f"gem{tag}_{size}.f32.npy", feat_gem)


def main():
    golden, resclip_src, scclip_src, gem_src, out_dir = sys.argv[1:6]
    ck = read_safetensors(os.path.join(golden, "models", "vit16.openai.safetensors"))
    demo = torch.from_numpy(np.load(os.path.join(golden, "preprocess", "demo_224.f32.npy"))).reshape(1, 3, 224, 224)
    images = {"224": demo, "160x288": torch.from_numpy(oracle_pixels(160, 288)).unsqueeze(0),
              "288": torch.from_numpy(oracle_pixels(288, 288)).unsqueeze(0)}
    text = torch.from_numpy(np.load(os.path.join(golden, "text", "text_features_all59.f32.npy")))
    os.makedirs(out_dir, exist_ok=True)
    resclip_runs(resclip_src, ck, text, images, out_dir)
    scclip_runs(scclip_src, ck, images, out_dir)
    gem_runs(gem_src, ck, images, out_dir)


if __name__ == "__main__":
    main()
