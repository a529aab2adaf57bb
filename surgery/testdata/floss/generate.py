#!/usr/bin/env python3
"""FLOSS's expert selection by its authors' own code, on fixed synthetic logits.

    python3 generate.py FLOSS_CHECKOUT OUT_DIR

FLOSS_CHECKOUT is a checkout of yasserben/FLOSS (commit ccf1d49dba37d0e35316dc50be57d133745a168a
was used for the files here). From it this script imports, unchanged:
  - mmseg/evaluation/metrics/entropy_metric.py: EntropyMetric.process (per template, the entropy of
    the pixels assigned to each class) and compute_metrics (mean entropy per template and class,
    templates ranked), which writes rankings/naclip/template_rankings_naclip_<dataset>.json;
  - mmseg/models/segmentors/naclip/naclip.py: NACLIP._load_template_rankings (templates whose class
    got pixels, lowest entropy first, top_n), which reads that file.
It holds none of their code. The frameworks those files import (mmengine, mmseg's registry, the
IoU metric, NACLIP's CLIP model) are replaced by inert stand-ins: the selection does not use them.
What NACLIP.predict does before the metric in mode "compute_metric" — softmax(logit_scale · logits)
over the query names, each class the best of its names — is done here with torch, as its one-line
definition says.

Needs numpy and torch (Debian: python3-numpy, python3-torch). Writes to OUT_DIR:
  logits_<i>.f32.npy   per image, the logits [templates, names, H, W] (seeded, fixed)
  golden.json          the inputs (names, classes, logit scale, top_n) and the authors' outputs:
                       the rankings file and the selected template ids per class
"""
import importlib.util
import json
import os
import sys
import tempfile
import types

import numpy as np
import torch

COMMIT = "ccf1d49dba37d0e35316dc50be57d133745a168a"
LOGIT_SCALE = 100  # naclip.py, NACLIP(logit_scale=100)
TOP_N = 4  # naclip.py, NACLIP(top_n=4)
DATASET = "golden"
# Query names and the class of each (NACLIP's get_cls_idx): "person" and "man" name one class.
NAMES = ["person", "man", "sky", "grass", "tree", "road"]
NAME_CLASS = [0, 0, 1, 2, 3, 4]
CLASSES = ["person", "sky", "grass", "tree", "road"]
TEMPLATES = 10
SIZES = [(13, 17), (9, 24)]  # image H, W
ROAD_BIAS = -0.045


def stub(name, **attrs):
    mod = sys.modules.get(name) or types.ModuleType(name)
    mod.__path__ = []  # a package, so that submodules and relative imports resolve
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


class Registry:
    def register_module(self, *a, **k):
        return lambda cls: cls


class BaseMetric:
    def __init__(self, collect_device="cpu", prefix=None):
        self.dataset_meta = None


class Logger:
    @staticmethod
    def get_current_instance():
        return None


class IoUMetric:  # the per-template IoU the metric also records; not part of the selection
    @staticmethod
    def intersect_and_union(pred, label, num_classes, ignore_index):
        z = torch.zeros(num_classes, dtype=torch.float64)
        return z, z, z, z


def install_stubs():
    stub("mmengine")
    stub("mmengine.dist", is_main_process=lambda: True)
    stub("mmengine.evaluator", BaseMetric=BaseMetric)
    stub("mmengine.logging", MMLogger=Logger, print_log=lambda msg, logger=None: print(msg, file=sys.stderr))
    stub("mmengine.utils", mkdir_or_exist=lambda d: os.makedirs(d, exist_ok=True))
    stub("mmengine.structures", PixelData=object)
    stub("mmseg")
    stub("mmseg.registry", METRICS=Registry(), MODELS=Registry())
    stub("mmseg.models")
    stub("mmseg.models.utils", resize=None)
    stub("mmseg.models.data_preprocessor", SegDataPreProcessor=object)
    stub("mmseg.models.segmentors", BaseSegmentor=object)
    stub("mmseg.models.segmentors.naclip")
    stub("mmseg.models.segmentors.naclip.clip", load=None, tokenize=None)
    stub("mmseg.models.segmentors.naclip.model")
    stub("mmseg.models.segmentors.naclip.pamr", PAMR=None)
    stub("mmseg.models.segmentors.naclip.prompts")
    stub("mmseg.models.segmentors.naclip.prompts.imagenet_template", openai_imagenet_template=None)
    stub("mmseg.evaluation")
    stub("mmseg.evaluation.metrics")
    stub("mmseg.evaluation.metrics.iou_metric", IoUMetric=IoUMetric)


def load(repo, rel, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(repo, rel))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class Sample:
    def __init__(self, h, w):
        self.metainfo = {"ori_shape": (h, w)}
        self.gt_sem_seg = types.SimpleNamespace(data=torch.zeros(1, h, w, dtype=torch.int64))


def main(repo, out):
    install_stubs()
    em = load(repo, "mmseg/evaluation/metrics/entropy_metric.py", "mmseg.evaluation.metrics.entropy_metric")
    nc = load(repo, "mmseg/models/segmentors/naclip/naclip.py", "mmseg.models.segmentors.naclip.naclip")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(21)
    metric = em.EntropyMetric(num_classes=len(CLASSES), num_templates=TEMPLATES, model_name="naclip",
                              dataset_name=DATASET, id_start=0, id_end=TEMPLATES - 1)
    metric.dataset_meta = {"classes": CLASSES}
    onehot = torch.nn.functional.one_hot(torch.tensor(NAME_CLASS)).T.float()  # [classes, names]
    for i, (h, w) in enumerate(SIZES):
        # cosine-like logits: a per-template and per-name offset, so that templates differ by class;
        # "road" rarely wins, so that some templates give it no pixel (ranked first by the metric
        # with entropy 0, then dropped by the selection)
        base = 0.2 + 0.02 * rng.standard_normal((1, len(NAMES), h, w)) + ROAD_BIAS * (np.arange(len(NAMES)) == 5).reshape(1, -1, 1, 1)
        shift = 0.01 * rng.standard_normal((TEMPLATES, len(NAMES), 1, 1))
        logits = (base + shift + 0.005 * rng.standard_normal((TEMPLATES, len(NAMES), h, w))).astype(np.float32)
        np.save(os.path.join(out, f"logits_{i}.f32.npy"), logits)
        q = torch.softmax(torch.from_numpy(logits) * LOGIT_SCALE, dim=1)  # [T, names, H, W]
        probs = (q.unsqueeze(1) * onehot.view(1, len(CLASSES), len(NAMES), 1, 1)).max(2)[0]  # [T, classes, H, W]
        metric.process({"data_samples": [Sample(h, w)]}, list(probs))
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            metric.compute_metrics([])
            with open(f"rankings/naclip/template_rankings_naclip_{DATASET}.json") as f:
                rankings = json.load(f)
            selected = nc.NACLIP._load_template_rankings(types.SimpleNamespace(dataset=DATASET), top_n=TOP_N, dataset=DATASET)
        finally:
            os.chdir(cwd)
    golden = {
        "floss_commit": COMMIT,
        "names": NAMES, "name_class": NAME_CLASS, "classes": CLASSES, "templates": TEMPLATES,
        "logit_scale": LOGIT_SCALE, "top_n": TOP_N, "images": len(SIZES),
        "rankings": rankings, "selected": selected,
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
