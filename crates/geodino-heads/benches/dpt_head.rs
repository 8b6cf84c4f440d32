//! Benchmark: the CHMv2 DPT head (ViT-L widths, 256 bins, random weights) on the features of a
//! square tile, geodino (libtorch through tch) against the official PyTorch `DPTHead` +
//! `FeaturesToDepth` run on the same weights and features in the same run, with the same
//! thread count. Prints milliseconds per forward, the ratio, and the largest output
//! difference (the two must agree to float32 accuracy).
//!
//! ```text
//! DINOV3_REPO=/path/to/dinov3 cargo bench -p geodino-heads --bench dpt_head -- \
//!     [--size 512] [--batch 1] [--iters 5] [--threads 2] [--python .venv-bench/bin/python]
//! ```
//!
//! Without `DINOV3_REPO` (a checkout of facebookresearch/dinov3) or a Python with torch, only
//! geodino is timed and the baseline is reported as missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use geodino_heads::{DenseHead, Geometry, HeadSpec, OutputSize, PatchAdaptation};
use geodino_nn::LayerFeatures;
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor};

struct Opts {
    size: i64,
    batch: i64,
    iters: usize,
    threads: i32,
    python: PathBuf,
}

fn parse() -> Opts {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut o = Opts {
        size: 512,
        batch: 1,
        iters: 5,
        threads: 2,
        python: root.join(".venv-bench/bin/python"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--size" => o.size = v.parse().expect("--size N"),
            "--batch" => o.batch = v.parse().expect("--batch N"),
            "--iters" => o.iters = v.parse().expect("--iters N"),
            "--threads" => o.threads = v.parse().expect("--threads N"),
            "--python" => o.python = PathBuf::from(v),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn max_diff(a: &Tensor, b: &StateDict, name: &str) -> f64 {
    let r = geodino_nn::to_tensor(b.get(name).expect("reference output")).unwrap();
    (a - r).abs().max().double_value(&[])
}

fn main() -> anyhow::Result<()> {
    let o = parse();
    tch::set_num_threads(o.threads);
    tch::manual_seed(0);
    let spec = HeadSpec::preset("chmv2")?;
    let head = DenseHead::new(spec, Device::Cpu)?;
    let (b, d, g) = (o.batch, 1024i64, o.size / 16);
    let feats: Vec<LayerFeatures> = (0..4)
        .map(|_| LayerFeatures {
            patch: Tensor::randn([b, d, g, g], (Kind::Float, Device::Cpu)),
            cls: Tensor::randn([b, d], (Kind::Float, Device::Cpu)),
            registers: Tensor::zeros([b, 0, d], (Kind::Float, Device::Cpu)),
        })
        .collect();
    let geom = Geometry::new(o.size, o.size, 16, PatchAdaptation::CenterPadding);
    let run = || {
        tch::no_grad(|| {
            let raw = head.forward_t(&feats, false).unwrap();
            head.outputs(&raw, &geom, OutputSize::Padded)
        })
    };
    eprintln!(
        "DPT head (CHMv2, ViT-L widths) on {b}×{0}×{0} px, {1} threads, {2} timed runs",
        o.size, o.threads, o.iters
    );
    let _ = run();
    let mut ours = Vec::new();
    let mut out = run();
    for _ in 0..o.iters {
        let t = Instant::now();
        out = run();
        ours.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1e3
    };
    let ours_ms = median(&mut ours);
    println!("geodino  {ours_ms:9.1} ms / forward (median)");

    let repo = std::env::var_os("DINOV3_REPO");
    if repo.is_none() || !o.python.exists() {
        println!(
            "baseline missing: set DINOV3_REPO and provide --python with torch (scripts/setup --bench)"
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut w = geodino_nn::state_dict_of(head.var_store())?;
    w.metadata.clear();
    geodino_weights::write_safetensors(&dir.path().join("weights.safetensors"), &w)?;
    let mut f = StateDict::new();
    for (i, l) in feats.iter().enumerate() {
        f.insert(format!("l{i}.patch"), geodino_nn::from_tensor(&l.patch)?);
        f.insert(format!("l{i}.cls"), geodino_nn::from_tensor(&l.cls)?);
    }
    geodino_weights::write_safetensors(&dir.path().join("features.safetensors"), &f)?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/dpt_head_reference.py");
    let res = Command::new(&o.python)
        .arg(&script)
        .arg(dir.path())
        .arg(o.iters.to_string())
        .arg(o.threads.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()?;
    if !res.status.success() {
        anyhow::bail!("baseline failed: {}", String::from_utf8_lossy(&res.stderr));
    }
    let line = String::from_utf8_lossy(&res.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))?;
    let mut theirs: Vec<f64> =
        v["times"].as_array().into_iter().flatten().filter_map(|t| t.as_f64()).collect();
    let theirs_ms = median(&mut theirs);
    let reference = geodino_weights::read_safetensors(&dir.path().join("reference.safetensors"))?;
    let dl = max_diff(&out.logits, &reference, "logits");
    let dh = max_diff(out.height.as_ref().expect("canopy head"), &reference, "height");
    println!("pytorch  {theirs_ms:9.1} ms / forward (median, torch {})", v["torch"]);
    println!("ratio    {:9.2} (geodino / pytorch; < 1 is faster)", ours_ms / theirs_ms);
    println!("max |Δ|  logits {dl:.2e}, heights {dh:.2e} m");
    Ok(())
}
