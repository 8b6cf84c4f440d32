"""Extra reference outputs of the official DINOv3 code for geodino-dinov3's tests.

The shared goldens (tests/golden/dinov3) hold no backbone outputs for the chmv2_dpt case, no
non-multiple-of-16 input for the SwiGLU case and no training-mode forward; this script produces
them with facebookresearch/dinov3 at commit 6876159 (the commit the shared goldens were made
with), on the shared goldens' weights, in float32 on CPU.

    git clone https://github.com/facebookresearch/dinov3 /tmp/dinov3 && git -C /tmp/dinov3 checkout 6876159
    DINOV3_REPO=/tmp/dinov3 .venv-bench/bin/python crates/geodino-dinov3/tests/data/make_goldens.py

Writes beside this script:
* chmv2_backbone.{inputs,expected}.safetensors: the chmv2_dpt backbone (width 64, depth 4,
  2 heads) on the case's 60x90 input as given (`x_odd`, floored to a 3x5 grid) and centre-padded
  to 64x96 (`x`, batch 2: the input and its horizontal flip), with a masked forward, all four
  intermediate layers and the RoPE tables; keys as in tests/golden/dinov3/README.md.
* swiglu_odd.{inputs,expected}.safetensors: the vit_swiglu_sat model on a batch-2 50x70 input
  (`x_odd`, floored to a 3x4 grid, the shared goldens have no such input for the SwiGLU case)
  with a masked forward, both intermediate layers and the RoPE tables.
* train_list.{inputs,expected}.safetensors: `forward_features_list` in **training mode** on the
  vit_swiglu_sat weights with drop_path_rate 0.25 and RoPE rescale 2, on a list
  [global (4,3,64,64) with an iBOT mask, local (4,3,32,32)], after `torch.manual_seed(1234)`.
  libtorch's CPU generator is PyTorch's, so a port that draws the same random numbers in the
  same order (per block: one rescale factor per crop, then the attention subsets, then the FFN
  subsets) reproduces it; the second element's CLS/registers go through `local_cls_norm`.
* bf16_autocast.expected.safetensors: vit_mlp and vit_swiglu_sat on their shared golden inputs
  under `torch.autocast("cpu", dtype=torch.bfloat16)` (the reference's bf16 inference), keys
  `<case>.<input>.<output>` as the shared goldens.
"""
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.environ["DINOV3_REPO"])
from dinov3.models.vision_transformer import DinoVisionTransformer  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
golden = os.path.join(here, "..", "..", "..", "..", "tests", "golden", "dinov3")
torch.set_grad_enabled(False)

HUB = dict(
    patch_size=16, pos_embed_rope_base=100.0, pos_embed_rope_normalize_coords="separate",
    pos_embed_rope_rescale_coords=2, pos_embed_rope_dtype="fp32", qkv_bias=True,
    layerscale_init=1e-5, norm_layer="layernormbf16", ffn_bias=True, proj_bias=True,
    n_storage_tokens=4, mask_k_bias=True,
)


def model(weights, **kw):
    m = DinoVisionTransformer(**HUB, **kw)
    sd = torch.load(os.path.join(golden, weights), weights_only=True)
    m.load_state_dict(sd, strict=True)
    return m


def outputs(m, x, prefix, layers, out, mask=None):
    f = m.forward_features(x)
    for k in ("x_norm_clstoken", "x_storage_tokens", "x_norm_patchtokens", "x_prenorm"):
        out[f"{prefix}.{k}"] = f[k].contiguous()
    h, w = x.shape[2] // 16, x.shape[3] // 16
    sin, cos = m.rope_embed(H=h, W=w)
    out[f"{prefix}.rope.sin"], out[f"{prefix}.rope.cos"] = sin.contiguous(), cos.contiguous()
    inter = m.get_intermediate_layers(x, n=layers, reshape=True, return_class_token=True, norm=True)
    for l, (p, c) in zip(layers, inter):
        out[f"{prefix}.intermediate.{l}.patch"] = p.contiguous()
        out[f"{prefix}.intermediate.{l}.cls"] = c.contiguous()
    if mask is not None:
        f = m.forward_features(x, masks=mask.bool())
        out[f"{prefix}.masked.x_norm_clstoken"] = f["x_norm_clstoken"].contiguous()
        out[f"{prefix}.masked.x_norm_patchtokens"] = f["x_norm_patchtokens"].contiguous()


# --- chmv2_dpt backbone ------------------------------------------------------------------------
m = model("chmv2_dpt.backbone.pth", embed_dim=64, depth=4, num_heads=2, ffn_ratio=4.0,
          ffn_layer="mlp", untie_global_and_local_cls_norm=True).eval()
raw = load_file(os.path.join(golden, "chmv2_dpt.inputs.safetensors"))["input"]  # (1, 3, 60, 90)
padded = F.pad(raw, (3, 3, 2, 2))  # centre padding to (64, 96)
x = torch.cat([padded, padded.flip(-1)])
g = torch.Generator().manual_seed(7)
mask = (torch.rand(2, 4 * 6, generator=g) < 0.4).to(torch.uint8)
inputs = {"x": x.contiguous(), "x.mask": mask, "x_odd": raw.contiguous()}
out = {}
outputs(m, x, "x", [0, 1, 2, 3], out, mask)
outputs(m, raw, "x_odd", [0, 1, 2, 3], out)
save_file(inputs, os.path.join(here, "chmv2_backbone.inputs.safetensors"))
save_file(out, os.path.join(here, "chmv2_backbone.expected.safetensors"))

# --- vit_swiglu_sat on inputs that are not multiples of 16 ------------------------------------
# (the shared goldens have none for the SwiGLU case): batch 2, 50x70 (floored to 3x4), masked.
m = model("vit_swiglu_sat.pth", embed_dim=96, depth=2, num_heads=3, ffn_ratio=6.0,
          ffn_layer="swiglu", untie_global_and_local_cls_norm=True).eval()
g = torch.Generator().manual_seed(13)
x = torch.randn(2, 3, 50, 70, generator=g)
mask = (torch.rand(2, 3 * 4, generator=g) < 0.4).to(torch.uint8)
inputs = {"x_odd": x, "x_odd.mask": mask}
out = {}
outputs(m, x, "x_odd", [0, 1], out, mask)
save_file(inputs, os.path.join(here, "swiglu_odd.inputs.safetensors"))
save_file(out, os.path.join(here, "swiglu_odd.expected.safetensors"))

# --- training-mode list forward ------------------------------------------------------------------
m = model("vit_swiglu_sat.pth", embed_dim=96, depth=2, num_heads=3, ffn_ratio=6.0,
          ffn_layer="swiglu", untie_global_and_local_cls_norm=True, drop_path_rate=0.25).train()
g = torch.Generator().manual_seed(11)
glob = torch.randn(4, 3, 64, 64, generator=g)
loc = torch.randn(4, 3, 32, 32, generator=g)
gmask = torch.rand(4, 16, generator=g) < 0.3
torch.manual_seed(1234)
res = m.forward_features([glob, loc], [gmask, None])
inputs = {"global": glob, "local": loc, "global.mask": gmask.to(torch.uint8)}
out = {}
for name, f in zip(("global", "local"), res):
    for k in ("x_norm_clstoken", "x_storage_tokens", "x_norm_patchtokens", "x_prenorm"):
        out[f"{name}.{k}"] = f[k].contiguous()
save_file(inputs, os.path.join(here, "train_list.inputs.safetensors"))
save_file(out, os.path.join(here, "train_list.expected.safetensors"))
# --- bf16 under autocast ---------------------------------------------------------------------------
out = {}
for case, kw, layers in [
    ("vit_mlp", dict(embed_dim=64, depth=3, num_heads=2, ffn_ratio=4.0, ffn_layer="mlp"), [0, 1, 2]),
    ("vit_swiglu_sat", dict(embed_dim=96, depth=2, num_heads=3, ffn_ratio=6.0, ffn_layer="swiglu",
                            untie_global_and_local_cls_norm=True), [0, 1]),
]:
    m = model(f"{case}.pth", **kw).eval()
    inputs = load_file(os.path.join(golden, f"{case}.inputs.safetensors"))
    for k, x in inputs.items():
        if k.endswith(".mask"):
            continue
        with torch.autocast("cpu", dtype=torch.bfloat16):
            res = {}
            outputs(m, x, f"{case}.{k}", layers, res, inputs.get(f"{k}.mask"))
        out.update({n: v.float() for n, v in res.items()})
save_file(out, os.path.join(here, "bf16_autocast.expected.safetensors"))
print("written to", here)
