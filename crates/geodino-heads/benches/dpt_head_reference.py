"""PyTorch baseline of benches/dpt_head.rs: the official DPTHead + FeaturesToDepth (CHMv2
settings) of facebookresearch/dinov3 (DINOV3_REPO) on the weights and features the Rust bench
wrote, timed the same way (warm-up, then `iters` timed forwards under no_grad).

    python dpt_head_reference.py WORK_DIR ITERS THREADS
reads WORK_DIR/weights.safetensors, WORK_DIR/features.safetensors, writes
WORK_DIR/reference.safetensors (logits, height) and prints one JSON line with the timings.
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.environ["DINOV3_REPO"])
from dinov3.eval.depth.models import FeaturesToDepth  # noqa: E402
from dinov3.eval.depth.models.dpt_head import DPTHead  # noqa: E402

work, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.set_grad_enabled(False)
sd = load_file(os.path.join(work, "weights.safetensors"))
d = sd["reassemble_blocks.projects.0.conv.weight"].shape[1]
head = DPTHead(in_channels=[d] * 4, n_output_channels=256, readout_type="project", use_batchnorm=False,
               n_hidden_channels=128, use_bias=True, projection_after_fusion=False).eval()
head.load_state_dict(sd, strict=True)
f2d = FeaturesToDepth(min_depth=0.001, max_depth=96.0, bins_strategy="chmv2_mixlog", norm_strategy="chmv2_mixlog")
f = load_file(os.path.join(work, "features.safetensors"))
feats = [(f[f"l{i}.patch"], f[f"l{i}.cls"]) for i in range(4)]


def run():
    logits = head(feats)
    return logits, f2d(logits)


run()
times = []
for _ in range(iters):
    t0 = time.perf_counter()
    logits, height = run()
    times.append(time.perf_counter() - t0)
save_file({"logits": logits.contiguous(), "height": height.contiguous()}, os.path.join(work, "reference.safetensors"))
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "times": times}))
