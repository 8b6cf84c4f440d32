"""The PyTorch side of `cargo bench -p geodino-dinov3 --bench backbone`: timm's DINOv3 (eva.py),
an implementation independent of both dinov3 and geodino, driven over stdin/stdout so that the
Rust benchmark can interleave its own timings with these in one run.

Protocol: one JSON object per line in, one per line out.
  {"cmd": "load", "model": timm name, "weights": official-layout safetensors, "threads": n,
   "kwargs": optional constructor overrides, e.g. {"depth": 2}}
      -> {"ok": true, "params": n}   (weights converted by timm's own checkpoint_filter_fn)
  {"cmd": "time", "input": safetensors with "x", "iters": n, "bf16": bool}
      -> {"ok": true, "seconds": [per-iteration wall seconds]}
  {"cmd": "features", "input": ..., "output": path, "bf16": bool}
      -> writes "tokens" = forward_features(x) (all tokens, final norm) as f32 safetensors
  {"cmd": "rss", "model": ..., "weights": ..., "size": s, "threads": n}
      -> {"ok": true, "peak_rss_mb": process peak, "forward_peak_rss_mb": peak from just before the
          forward (VmHWM reset through /proc/self/clear_refs)} after one forward at s x s
          (run in a fresh process)
Runs under torch.inference_mode() (the fastest PyTorch inference setting); bf16 uses
torch.autocast("cpu", dtype=torch.bfloat16), the reference's own bf16 path.
"""
import gc
import json
import resource
import sys
import time

import timm
import torch
from safetensors.torch import load_file, save_file
from timm.models.eva import checkpoint_filter_fn

model = None


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load(name, weights, threads, kwargs=None):
    global model
    torch.set_num_threads(threads)
    m = timm.create_model(
        name, pretrained=False, num_classes=0, global_pool="token", dynamic_img_size=True, **(kwargs or {})
    )
    sd = checkpoint_filter_fn(load_file(weights), m)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    # timm recomputes the RoPE tables itself; everything else must be loaded.
    missing = [k for k in missing if "rope" not in k]
    if missing or unexpected:
        raise RuntimeError(f"timm load: missing {missing}, unexpected {unexpected}")
    model = m.eval()
    return sum(p.numel() for p in m.parameters())


def forward(x, bf16):
    with torch.inference_mode():
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model.forward_features(x)
        return model.forward_features(x)


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            cmd = req["cmd"]
            if cmd == "load":
                out = {"params": load(req["model"], req["weights"], req["threads"], req.get("kwargs"))}
            elif cmd == "time":
                x = load_file(req["input"])["x"]
                secs = []
                for _ in range(req["iters"]):
                    t = time.perf_counter()
                    forward(x, req.get("bf16", False))
                    secs.append(time.perf_counter() - t)
                out = {"seconds": secs}
            elif cmd == "features":
                x = load_file(req["input"])["x"]
                save_file({"tokens": forward(x, req.get("bf16", False)).float().contiguous()}, req["output"])
                out = {}
            elif cmd == "rss":
                load(req["model"], req["weights"], req["threads"], req.get("kwargs"))
                gc.collect()
                x = torch.randn(1, 3, req["size"], req["size"])
                # Reset the high-water mark so the second figure covers the forward only
                # (loading a state dict holds two copies of the weights for a moment).
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                forward(x, req.get("bf16", False))
                out = {
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "forward_peak_rss_mb": vm_hwm_mb(),
                }
            else:
                raise ValueError(f"unknown command {cmd}")
            out["ok"] = True
        except Exception as e:  # report, keep serving
            out = {"ok": False, "error": repr(e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
