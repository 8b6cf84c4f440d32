"""The Python way of running a canopy-height model over a scene, as the baseline of
`cargo bench -p geodino-infer --bench scene`: GDAL windowed reads (as rasterio/torchgeo do),
timm's DINOv3 backbone (eva.py) + a CHMv2-style DPT head written here in PyTorch, cosine
blending of overlapping tiles into in-memory arrays (TerraTorch's tiled inference), and a
GDAL-written COG at the end. Same tiles, overlap, batch, weights and thread count as the Rust
side; timed inside Python, model construction excluded.

Run with .venv-bench/bin/python (scripts/setup --bench): PyTorch 2.13 + timm 1.0.20 + Debian's
GDAL bindings. Prints one JSON line: seconds, tiles, peak RSS, and the output path.
"""
import argparse
import json
import math
import resource
import sys
import time

import numpy as np
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from osgeo import gdal
from safetensors.torch import load_file
from timm.models.eva import checkpoint_filter_fn

gdal.UseExceptions()


class Conv(nn.Module):
    """A convolution stored under `.conv` (the reference DPT's ConvModule naming)."""

    def __init__(self, cin, cout, k, bias=True, stride=1, padding=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if padding is None else padding, bias=bias)

    def forward(self, x):
        return self.conv(x)


class RCU(nn.Module):
    """Pre-activation residual unit: x + conv2(relu(conv1(relu(x))))."""

    def __init__(self, c, bias):
        super().__init__()
        self.conv1 = Conv(c, c, 3, bias)
        self.conv2 = Conv(c, c, 3, bias)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Fusion(nn.Module):
    def __init__(self, c, bias, first):
        super().__init__()
        if not first:
            self.res_conv_unit1 = RCU(c, bias)
        self.res_conv_unit2 = RCU(c, bias)
        self.project = Conv(c, c, 1, True)

    def forward(self, x, skip=None):
        if skip is not None:
            if skip.shape != x.shape:
                skip = F.interpolate(skip, size=x.shape[2:], mode="bilinear", align_corners=False)
            x = x + self.res_conv_unit1(skip)
        x = self.res_conv_unit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.project(x)


class Reassemble(nn.Module):
    def __init__(self, d, neck):
        super().__init__()
        self.readout_projects = nn.ModuleList(nn.Sequential(nn.Linear(2 * d, d), nn.GELU()) for _ in range(4))
        self.projects = nn.ModuleList(Conv(d, c, 1, True) for c in neck)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(neck[0], neck[0], 4, stride=4),
            nn.ConvTranspose2d(neck[1], neck[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(neck[3], neck[3], 3, stride=2, padding=1),
        ])

    def forward(self, i, x, cls):
        b, d, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (b, h*w, d)
        t = self.readout_projects[i](torch.cat([t, cls[:, None, :].expand_as(t)], -1))
        x = t.transpose(1, 2).reshape(b, d, h, w)
        return self.resize_layers[i](self.projects[i](x))


class DepthHead(nn.Module):
    def __init__(self, c, hidden, bins):
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(c, c // 2, 3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(c // 2, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, bins, 1),
        )

    def forward(self, x):
        return self.head(x)


class Dpt(nn.Module):
    """The CHMv2 DPT decoder: project readout, neck [128, 256, 512, 1024], 256 fusion channels,
    RCU biases, no projection after fusion, hidden 128, 256 mixlog bins (0.001-96 m)."""

    def __init__(self, d, neck=(128, 256, 512, 1024), c=256, hidden=128, bins=256):
        super().__init__()
        self.reassemble_blocks = Reassemble(d, neck)
        self.convs = nn.ModuleList(Conv(n, c, 3, False) for n in neck)
        self.fusion_blocks = nn.ModuleList(Fusion(c, True, i == 0) for i in range(4))
        self.conv_depth = DepthHead(c, hidden, bins)
        n = bins
        lo, hi = 0.001, 96.0 / 8.0
        lin = torch.linspace(lo, hi, n)
        log = torch.exp(torch.linspace(math.log(lo), math.log(hi), n))
        t = torch.linspace(1.0, 0.0, n)
        self.register_buffer("bins", t * log + (1 - t) * lin, persistent=False)

    def forward(self, feats):
        levels = [self.convs[i](self.reassemble_blocks(i, p, c)) for i, (p, c) in enumerate(feats)]
        out = self.fusion_blocks[0](levels[3])
        for i in range(1, 4):
            out = self.fusion_blocks[i](out, levels[3 - i])
        logits = self.conv_depth(out).float()
        y = F.relu(logits)
        shift = torch.clamp(-y.amin(1, keepdim=True), 0, 1e-4) + 1e-8
        y = y + shift
        w = y / y.sum(1, keepdim=True).clamp_min(1e-12)
        return (w * self.bins.clamp_min(1e-12)[None, :, None, None]).sum(1, keepdim=True).clamp_min(1e-12) * 8.0


def cosine_profile(n, lead, trail):
    i = np.arange(n, dtype=np.float64)
    w = np.ones(n)
    if lead:
        m = i < lead
        w[m] *= np.sin(np.pi / 2 * (i[m] + 0.5) / lead) ** 2
    j = n - 1 - i
    if trail:
        m = j < trail
        w[m] *= np.sin(np.pi / 2 * (j[m] + 0.5) / trail) ** 2
    return w.astype(np.float32)


def starts(length, tile, overlap):
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = -(-(length - tile) // stride) + 1
    return [min(i * stride, length - tile) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--model", required=True, help="timm name, e.g. vit_small_patch16_dinov3")
    ap.add_argument("--backbone-weights", required=True, help="official-layout safetensors")
    ap.add_argument("--head-weights", required=True, help="DPT head safetensors (reference keys)")
    ap.add_argument("--layers", required=True)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=128)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    layers = [int(v) for v in a.layers.split(",")]

    bb = timm.create_model(a.model, pretrained=False, num_classes=0, dynamic_img_size=True)
    sd = checkpoint_filter_fn(load_file(a.backbone_weights), bb)
    missing, unexpected = bb.load_state_dict(sd, strict=False)
    missing = [k for k in missing if "rope" not in k]
    if missing or unexpected:
        raise SystemExit(f"backbone weights: missing {missing}, unexpected {unexpected}")
    bb.eval()
    head = Dpt(bb.embed_dim)
    head.load_state_dict(load_file(a.head_weights), strict=True)
    head.eval()
    mean = np.array([0.420, 0.411, 0.296], np.float32)[:, None, None]
    std = np.array([0.213, 0.156, 0.143], np.float32)[:, None, None]

    t0 = time.perf_counter()
    ds = gdal.Open(a.input)
    W, H = ds.RasterXSize, ds.RasterYSize
    nodata = [ds.GetRasterBand(b).GetNoDataValue() for b in (1, 2, 3)]
    T, O = a.tile, a.overlap
    rs, cs = starts(H, T, O), starts(W, T, O)
    prof = lambda ss, k: cosine_profile(T, ss[k - 1] + T - ss[k] if k else 0, ss[k] + T - ss[k + 1] if k + 1 < len(ss) else 0)
    acc = np.zeros((H, W), np.float32)
    wsum = np.zeros((H, W), np.float32)
    valid = np.ones((H, W), bool)
    tiles = [(r, c) for r in range(len(rs)) for c in range(len(cs))]
    with torch.inference_mode():
        for k in range(0, len(tiles), a.batch):
            batch = tiles[k:k + a.batch]
            xs = []
            for r, c in batch:
                y0, x0 = rs[r], cs[c]
                h, w = min(T, H - y0), min(T, W - x0)
                px = ds.ReadAsArray(x0, y0, w, h, band_list=[1, 2, 3]).astype(np.float32)
                bad = np.zeros((h, w), bool)
                for b in range(3):
                    if nodata[b] is not None:
                        bad |= px[b] == nodata[b]
                valid[y0:y0 + h, x0:x0 + w] &= ~bad
                x = (px / 255.0 - mean) / std
                x[:, bad] = 0.0
                tile = np.zeros((3, T, T), np.float32)
                tile[:, :h, :w] = x
                xs.append(tile)
            x = torch.from_numpy(np.stack(xs))
            if a.bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    feats = bb.forward_intermediates(x, indices=layers, norm=True, output_fmt="NCHW", intermediates_only=True, return_prefix_tokens=True)
                    hgt = head([(p, pre[:, 0]) for p, pre in feats])
            else:
                feats = bb.forward_intermediates(x, indices=layers, norm=True, output_fmt="NCHW", intermediates_only=True, return_prefix_tokens=True)
                hgt = head([(p, pre[:, 0]) for p, pre in feats])
            hgt = hgt.float().numpy()[:, 0]
            for j, (r, c) in enumerate(batch):
                y0, x0 = rs[r], cs[c]
                h, w = min(T, H - y0), min(T, W - x0)
                wt = np.outer(prof(rs, r), prof(cs, c))[:h, :w]
                acc[y0:y0 + h, x0:x0 + w] += wt * hgt[j, :h, :w]
                wsum[y0:y0 + h, x0:x0 + w] += wt
    out = np.where(valid, acc / wsum, np.nan).astype(np.float32)
    mem = gdal.GetDriverByName("MEM").Create("", W, H, 1, gdal.GDT_Float32)
    mem.SetGeoTransform(ds.GetGeoTransform())
    mem.SetProjection(ds.GetProjection())
    band = mem.GetRasterBand(1)
    band.SetNoDataValue(float("nan"))
    band.WriteArray(out)
    gdal.Translate(a.output, mem, format="COG", creationOptions=["COMPRESS=DEFLATE", "PREDICTOR=3", "BLOCKSIZE=512"])
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "seconds": seconds,
        "tiles": len(tiles),
        "pixels": W * H,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "output": a.output,
    }))


if __name__ == "__main__":
    sys.exit(main())
