"""Extra reference outputs of the official DINOv3 heads for geodino-heads' tests.

The shared goldens (tests/golden/dinov3) cover one DPT configuration (CHMv2: project readout,
no BatchNorm, RCU biases, no projection after fusion, even patch grid, mixlog bins). This script
runs the official decoders of facebookresearch/dinov3 at commit 6876159 (the shared goldens'
commit) in float32 on CPU, on random features (no backbone), for the configurations the shared
goldens leave out:

* dpt_bn: BatchNorm (random running statistics, eval mode), readout "ignore", projection after
  fusion, no RCU bias, an odd 3x5 patch grid (the output is one patch larger per axis than the
  input grid's 48x80: 64x96), widths 24 -> channels 16, neck [4, 8, 16, 32], hidden 8, 12 bins;
  heights with every bins/norm strategy of FeaturesToDepth (linear/log/mixlog bins, 0.5-40).
* dpt_add: readout "add", 4x6 grid, batch 2, channels 8, neck [4, 4, 8, 8], hidden 4, 1 output
  channel (plain regression: relu + min).
* linear: the segmentation LinearHead on two layers (grids 4x6 and 2x3, the second resized),
  CLS concatenated, BatchNorm (random statistics, eval mode), 5 classes; raw logits and
  predict(rescale_to=(64, 96)).

    git clone https://github.com/facebookresearch/dinov3 /tmp/dinov3 && git -C /tmp/dinov3 checkout 6876159
    PYTHONPATH=/tmp/dinov3 .venv-bench/bin/python crates/geodino-heads/tests/data/make_goldens.py

Writes `<case>.inputs.safetensors` (features `l<i>.patch` (b, D, h, w), `l<i>.cls` (b, D)),
`<case>.weights.safetensors` (the decoder's state dict, official keys) and
`<case>.expected.safetensors` beside this script; `__metadata__` of the weights holds the
constructor arguments as JSON under "config".
"""
import importlib.util
import json
import os

import torch
from safetensors.torch import save_file

from dinov3.eval.depth.models import FeaturesToDepth
from dinov3.eval.depth.models.dpt_head import DPTHead

here = os.path.dirname(os.path.abspath(__file__))
torch.set_grad_enabled(False)
torch.manual_seed(20260715)

# The segmentation package imports torchmetrics; load the linear head's file on its own.
_spec = importlib.util.spec_from_file_location(
    "linear_head",
    os.path.join(os.environ["PYTHONPATH"].split(":")[0], "dinov3/eval/segmentation/models/heads/linear_head.py"),
)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
SegLinearHead = _mod.LinearHead


def randomize(module):
    """Re-draw every parameter and buffer so each layer changes the result."""
    for name, t in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            t.fill_(7)
        elif name.endswith("running_var"):
            t.copy_(torch.rand_like(t) + 0.5)
        elif name.endswith("running_mean"):
            t.copy_(torch.randn_like(t) * 0.3)
        elif name.endswith("bias"):
            t.copy_(torch.randn_like(t) * 0.1)
        elif t.dim() == 1:  # norm weights
            t.copy_(1.0 + torch.randn_like(t) * 0.1)
        else:
            fan_in = t[0].numel()
            t.copy_(torch.randn_like(t) / fan_in**0.5)


def features(b, d, grids):
    out, feats = {}, []
    for i, (h, w) in enumerate(grids):
        p, c = torch.randn(b, d, h, w), torch.randn(b, d)
        out[f"l{i}.patch"], out[f"l{i}.cls"] = p, c
        feats.append((p, c))
    return out, feats


def save(case, inputs, module, config, expected):
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(here, f"{case}.inputs.safetensors"))
    sd = {k: v.contiguous() for k, v in module.state_dict().items()}
    save_file(sd, os.path.join(here, f"{case}.weights.safetensors"), metadata={"config": json.dumps(config)})
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(here, f"{case}.expected.safetensors"))


# --- dpt_bn ---------------------------------------------------------------------------------
cfg = dict(in_channels=[24] * 4, channels=16, post_process_channels=[4, 8, 16, 32], readout_type="ignore",
           n_output_channels=12, n_hidden_channels=8, use_batchnorm=True, use_bias=False,
           projection_after_fusion=True)
head = DPTHead(**cfg).eval()
randomize(head)
inputs, feats = features(1, 24, [(3, 5)] * 4)
logits = head(feats)
expected = {"logits": logits}
for bins in ("linear", "log", "chmv2_mixlog"):
    for norm in ("linear", "softmax", "sigmoid", "chmv2_mixlog"):
        f2d = FeaturesToDepth(min_depth=0.5, max_depth=40.0, bins_strategy=bins, norm_strategy=norm)
        expected[f"height.{bins}.{norm}"] = f2d(logits)
save("dpt_bn", inputs, head, cfg, expected)

# --- dpt_add --------------------------------------------------------------------------------
cfg = dict(in_channels=[16] * 4, channels=8, post_process_channels=[4, 4, 8, 8], readout_type="add",
           n_output_channels=1, n_hidden_channels=4, use_batchnorm=False, use_bias=True,
           projection_after_fusion=False)
head = DPTHead(**cfg).eval()
randomize(head)
inputs, feats = features(2, 16, [(4, 6)] * 4)
logits = head(feats)
f2d = FeaturesToDepth(min_depth=0.001, max_depth=80.0)
save("dpt_add", inputs, head, cfg, {"logits": logits, "height": f2d(logits)})

# --- linear ---------------------------------------------------------------------------------
cfg = dict(in_channels=[16, 16], n_output_channels=5, use_batchnorm=True, use_cls_token=True, dropout=0.1)
head = SegLinearHead(**cfg).eval()
randomize(head)
inputs, feats = features(2, 16, [(4, 6), (2, 3)])
save("linear", inputs, head, cfg, {"logits": head(feats), "predict": head.predict(feats, rescale_to=(64, 96))})
print("written to", here)
