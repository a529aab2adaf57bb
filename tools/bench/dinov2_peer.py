#!/usr/bin/python3
"""Speed peer for the DINOv2 encoder (gomlx_dino): the authors' own model code, timed on this CPU.

The model is built by the checkout named with --dinov2 (facebookresearch/dinov2 at 85a2460, the
commit testdata/dino was made with; this file contains none of its code) exactly as its hub
function dinov2_vitb14 builds it, and run through forward_features (every token after the final
LayerNorm: what gomlx_dino's EncodeImage returns). Weights are random (the authors' init);
speed does not depend on their values.

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE XFORMERS_DISABLED=1 /usr/bin/python3 \
      tools/bench/dinov2_peer.py --dinov2 /tmp/dinov2src --sizes 224,448 --threads 2 --reps 5

Prints one JSON line per size: median and every repetition's seconds after one warm-up.
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("XFORMERS_DISABLED", "1")

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dinov2", required=True, help="checkout of facebookresearch/dinov2")
    ap.add_argument("--arch", default="vit_base", help="vit_small, vit_base, vit_large, vit_giant2")
    ap.add_argument("--sizes", default="224,448")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.dinov2)
    from dinov2.hub.backbones import _make_dinov2_model

    torch.manual_seed(0)
    model = _make_dinov2_model(arch_name=args.arch, pretrained=False).eval()
    for side in [int(s) for s in args.sizes.split(",")]:
        x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(side))
        times = []
        with torch.inference_mode():
            model.forward_features(x)  # warm-up
            for _ in range(args.reps):
                t0 = time.perf_counter()
                out = model.forward_features(x)
                times.append(time.perf_counter() - t0)
        tokens = 1 + out["x_norm_patchtokens"].shape[1]
        print(json.dumps({"peer": "dinov2-authors", "arch": args.arch, "side": side, "tokens": tokens,
                          "threads": args.threads, "median_s": statistics.median(times),
                          "times_s": times, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
