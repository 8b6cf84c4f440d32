"""PyTorch baseline of `cargo bench -p geodino-train --bench pretrain_step`.

One DINOv3 training step of a ViT-S/16 student (timm's `vit_small_patch16_dinov3_qkvb`, the same
architecture as geodino's `vits16`) with the same loss stack as geodino's engine, on the batch the
Rust benchmark wrote (identical crops and iBOT masks):

* EMA teacher forward (no grad) on the global crops; DINO head on the class tokens, iBOT head on
  the patch tokens the student has masked; Sinkhorn-Knopp centering of both (3 iterations);
* student forward of the masked global crops and of the local crops; DINO head on all class
  tokens, iBOT head on the masked patch tokens;
* losses: DINO global (same-crop pairs skipped) and local, iBOT (per-image weights), KoLeo on the
  global class tokens, weighted as the reference's SSLMetaArch.compute_losses;
* backward, gradient clipping per sub-module, AdamW with the reference's layer-wise LR groups,
  teacher EMA.

Prints one JSON line: {"images_per_second": ..., "seconds_per_step": ..., "losses": [...]}.
The code is written for this benchmark from the published formulas (dinov3 paper and
docs/pretraining.md); nothing is copied from the reference implementation.
"""

import argparse
import copy
import json
import math
import time

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


class Head(nn.Module):
    def __init__(self, d, hidden, bottleneck, k):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, bottleneck),
        )
        self.last_layer = nn.Linear(bottleneck, k, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.normalize(self.mlp(x), dim=-1, p=2, eps=1e-12)
        return self.last_layer(x)


def features(model, x, masks=None, mask_token=None):
    x = model.patch_embed(x)  # (b, h, w, d) with dynamic_img_size
    if masks is not None:
        b, h, w, d = x.shape
        x = torch.where(masks.view(b, h, w, 1), mask_token.to(x.dtype).view(1, 1, 1, d), x)
    x, rope = model._pos_embed(x)
    x = model.norm_pre(x)
    for blk in model.blocks:
        x = blk(x, rope=rope)
    x = model.norm(x)
    n = model.num_prefix_tokens
    return x[:, 0], x[:, n:]


@torch.no_grad()
def sinkhorn(logits, temp, n_samples, iters=3):
    q = torch.exp((logits.float() - logits.float().max()) / temp).t()
    q /= q.sum()
    k = q.shape[0]
    for _ in range(iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= n_samples
    q *= n_samples
    return q.t()


def dino_loss(student, teacher, ignore_diagonal, tau=0.1):
    s, b, _ = student.shape
    t = teacher.shape[0]
    logp = F.log_softmax(student.float() / tau, dim=-1)
    pairs = torch.einsum("sbk,tbk->st", logp, teacher)
    if ignore_diagonal:
        pairs = pairs * (1 - torch.eye(s, t))
        count = b * s * t - b * min(s, t)
    else:
        count = b * s * t
    return -pairs.sum() / count


def koleo(x):
    x = F.normalize(x.float(), p=2, dim=-1, eps=1e-8)
    dots = x @ x.t()
    dots.fill_diagonal_(-1)
    idx = dots.argmax(dim=1)
    d = F.pairwise_distance(x, x[idx], p=2, eps=1e-8)
    return -torch.log(d + 1e-8).mean()


def param_groups(student, dino, ibot, mask_token, depth, decay=0.9, pe_mult=0.2):
    groups = {}

    def add(p, name, lr_mult):
        wd = 0.0 if (name.endswith("bias") or "norm" in name or "gamma" in name) else 1.0
        groups.setdefault((lr_mult, wd), []).append(p)

    for name, p in student.named_parameters():
        if name.startswith(("patch_embed", "cls_token", "reg_token")):
            lid = 0
        elif name.startswith("blocks."):
            lid = int(name.split(".")[1]) + 1
        else:
            lid = depth + 1
        m = decay ** (depth + 1 - lid) * (pe_mult if name.startswith("patch_embed") else 1.0)
        add(p, name, m)
    add(mask_token, "mask_token", decay ** (depth + 1))
    for h in (dino, ibot):
        for name, p in h.named_parameters():
            add(p, name, 1.0)
    return [{"params": ps, "lr_mult": k[0], "wd_mult": k[1]} for k, ps in groups.items()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", required=True, help="safetensors written by the Rust benchmark")
    ap.add_argument("--meta", required=True, help="JSON written by the Rust benchmark")
    args = ap.parse_args()
    meta = json.load(open(args.meta))
    torch.set_num_threads(meta["threads"])
    torch.manual_seed(0)
    data = load_file(args.batch)
    glob, loc = data["global_crops"], data["local_crops"]
    masks = data["masks"].bool()
    mask_idx, masks_weight = data["mask_indices"], data["masks_weight"]
    B = meta["batch_size"]
    n_local = loc.shape[0] // B

    student = timm.create_model("vit_small_patch16_dinov3_qkvb", pretrained=False, num_classes=0,
                                drop_path_rate=meta["drop_path_rate"])
    d = student.embed_dim
    mask_token = nn.Parameter(torch.zeros(1, d))
    dino = Head(d, meta["hidden"], meta["bottleneck"], meta["dino_prototypes"])
    ibot = Head(d, meta["hidden"], meta["bottleneck"], meta["ibot_prototypes"])
    teacher, t_dino, t_ibot = (copy.deepcopy(m) for m in (student, dino, ibot))
    for m in (teacher, t_dino, t_ibot):
        m.eval()
        m.requires_grad_(False)
    student.train()
    groups = param_groups(student, dino, ibot, mask_token, len(student.blocks))
    opt = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.999), foreach=True)
    s_params = list(student.parameters()) + list(dino.parameters()) + list(ibot.parameters())
    t_params = list(teacher.parameters()) + list(t_dino.parameters()) + list(t_ibot.parameters())

    def step(it):
        lr, wd, mom, temp = 1e-4, 0.04, 0.994, 0.04
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
            g["weight_decay"] = wd * g["wd_mult"]
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            t_cls, t_patch = features(teacher, glob)
            t_cls_logits = t_dino(t_cls)
            t_masked = t_ibot(t_patch.flatten(0, 1).index_select(0, mask_idx))
            t_cls_p = sinkhorn(t_cls_logits, temp, t_cls_logits.shape[0]).view(2, B, -1)
            t_masked_p = sinkhorn(t_masked, temp, t_masked.shape[0])
        g_cls, g_patch = features(student, glob, masks, mask_token)
        l_cls, _ = features(student, loc)
        logits = dino(torch.cat([g_cls, l_cls]))
        k = logits.shape[1]
        s_g = logits[: 2 * B].view(2, B, k)
        s_l = logits[2 * B:].view(n_local, B, k)
        s_masked = ibot(g_patch.flatten(0, 1).index_select(0, mask_idx))
        n_g, n_l = 2, n_local
        global_terms, local_terms = n_g * (n_g - 1), n_g * n_l
        loss = (local_terms / (global_terms + local_terms)) * dino_loss(s_l, t_cls_p, False)
        loss = loss + (global_terms / (global_terms + local_terms)) * dino_loss(s_g, t_cls_p, True)
        loss = loss + 0.1 * n_g * sum(koleo(c) for c in g_cls.view(2, B, -1)) / n_g
        ibot_l = torch.sum(t_masked_p * F.log_softmax(s_masked.float() / 0.1, dim=-1), dim=-1)
        loss = loss - (ibot_l * masks_weight).sum() / masks.shape[0]
        loss.backward()
        for ps in (list(student.parameters()) + [mask_token], list(dino.parameters()),
                   list(ibot.parameters())):
            torch.nn.utils.clip_grad_norm_(ps, 3.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(t_params, mom)
            torch._foreach_add_(t_params, s_params, alpha=1 - mom)
        return loss.item()

    losses = []
    for it in range(meta["warmup"]):
        losses.append(step(it))
    t0 = time.perf_counter()
    for it in range(meta["steps"]):
        losses.append(step(it))
    dt = time.perf_counter() - t0
    print(json.dumps({
        "images_per_second": B * meta["steps"] / dt,
        "seconds_per_step": dt / meta["steps"],
        "losses": losses,
        "torch": torch.__version__,
        "timm": timm.__version__,
    }))


if __name__ == "__main__":
    main()
