//! Training-step throughput of geodino's pretraining engine against PyTorch, measured in one run.
//!
//! A ViT-S/16 student (`vits16`: 4 registers, LayerNorm eps 1e-5, qkv bias) with the full loss
//! stack (EMA teacher forward, DINO and iBOT heads, Sinkhorn-Knopp, DINO global + local, iBOT,
//! KoLeo, backward, per-module clipping, AdamW with layer-wise groups, EMA update) on one batch
//! of `B` images × (2 global + L local crops) with iBOT masks. The baseline is the same step in
//! PyTorch with timm's `vit_small_patch16_dinov3_qkvb` (`pretrain_step_torch.py`, run with
//! `.venv-bench/bin/python` from `scripts/setup --bench`) on the **same batch and masks**
//! (written to a temporary safetensors file), the same head sizes and the same thread count.
//! Data loading is excluded on both sides (geodino's prefetcher runs off the critical path).
//!
//! ```text
//! cargo bench -p geodino-train --bench pretrain_step -- [--batch 8] [--global 224] [--local 96]
//!     [--locals 8] [--prototypes 65536] [--steps 4] [--warmup 2] [--threads N]
//! ```
//!
//! Prints images/s of both and the ratio (geodino / PyTorch; ≥ 1 means geodino is faster).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use geodino_core::Window;
use geodino_data::masking::ibot_masks;
use geodino_data::multicrop::MultiCropBatch;
use geodino_ssl::StepWeights;
use geodino_train::PretrainConfig;
use geodino_train::batch::Batch;
use geodino_train::config::CropTriplet;
use geodino_train::model::{MODULES, Placement, SslModel};
use geodino_train::trainer::build_optimizer;
use geodino_weights::{StateDict, TensorData};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Opts {
    batch: usize,
    global: usize,
    local: usize,
    locals: usize,
    prototypes: i64,
    steps: usize,
    warmup: usize,
    threads: i32,
}

fn parse() -> Opts {
    let mut o = Opts {
        batch: 8,
        global: 224,
        local: 96,
        locals: 8,
        prototypes: 65_536,
        steps: 4,
        warmup: 2,
        threads: tch::get_num_threads(),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let v = || args.get(i + 1).and_then(|s| s.parse::<usize>().ok());
        match args[i].as_str() {
            "--batch" => o.batch = v().expect("--batch N"),
            "--global" => o.global = v().expect("--global PX"),
            "--local" => o.local = v().expect("--local PX"),
            "--locals" => o.locals = v().expect("--locals N"),
            "--prototypes" => o.prototypes = v().expect("--prototypes K") as i64,
            "--steps" => o.steps = v().expect("--steps N"),
            "--warmup" => o.warmup = v().expect("--warmup N"),
            "--threads" => o.threads = v().expect("--threads N") as i32,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn random_crops(rng: &mut ChaCha8Rng, n: usize, side: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 3, side, side), |_| rng.random::<f32>() * 4.0 - 2.0)
}

fn main() {
    let o = parse();
    tch::set_num_threads(o.threads);
    let sets: Vec<String> = vec![
        "student.arch=vit_small".into(),
        "student.patch_size=16".into(),
        "student.drop_path_rate=0.0".into(),
        "student.untie_global_and_local_cls_norm=false".into(),
        format!("dino.head_n_prototypes={}", o.prototypes),
        "dino.head_hidden_dim=2048".into(),
        "dino.head_bottleneck_dim=256".into(),
        format!("ibot.head_n_prototypes={}", o.prototypes),
        "ibot.head_hidden_dim=2048".into(),
        "ibot.head_bottleneck_dim=256".into(),
        format!("train.batch_size_per_gpu={}", o.batch),
        format!("crops.global_crops_size={}", o.global),
        format!("crops.local_crops_size={}", o.local),
        format!("crops.local_crops_number={}", o.locals),
        "train.device=cpu".into(),
    ];
    let cfg = PretrainConfig::load("vitl16_sat", &sets).expect("bench config");
    let vit = cfg.student.vit_config().unwrap();
    let b = o.batch;
    let grid = o.global / 16;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let global = random_crops(&mut rng, 2 * b, o.global);
    let local = random_crops(&mut rng, o.locals * b, o.local);
    let masks = ibot_masks(&mut rng, 2 * b, grid, grid, &cfg.ibot.mask_config()).unwrap();
    let batch = Batch {
        step: 0,
        triplet: CropTriplet { global: o.global, local: o.local, gram: None, ratio: 1.0 },
        crops: MultiCropBatch {
            global_crops: global.clone(),
            local_crops: local.clone(),
            gram_teacher_crops: None,
            batch_size: b,
        },
        masks: masks.clone(),
        grid,
        chips: vec![(0, Window::full(1, 1)); b],
        rejected: 0,
    };

    // The batch for the baseline.
    let dir = std::env::temp_dir().join(format!("geodino-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut sd = StateDict::new();
    let f32s = |a: &Array4<f32>| {
        TensorData::from_f32(a.shape().to_vec(), a.as_slice().expect("standard layout"))
    };
    sd.insert("global_crops", f32s(&global));
    sd.insert("local_crops", f32s(&local));
    let mbytes: Vec<u8> = masks.masks.iter().map(|&m| m as u8).collect();
    sd.insert(
        "masks",
        TensorData::new(geodino_weights::Dtype::U8, vec![2 * b, grid * grid], mbytes).unwrap(),
    );
    let idx: Vec<u8> = masks.mask_indices.iter().flat_map(|v| v.to_le_bytes()).collect();
    sd.insert(
        "mask_indices",
        TensorData::new(geodino_weights::Dtype::I64, vec![masks.mask_indices.len()], idx).unwrap(),
    );
    sd.insert(
        "masks_weight",
        TensorData::from_f32(vec![masks.masks_weight.len()], &masks.masks_weight),
    );
    let batch_path = dir.join("batch.safetensors");
    geodino_weights::write_safetensors(&batch_path, &sd).unwrap();
    let meta = serde_json::json!({
        "batch_size": b, "threads": o.threads, "steps": o.steps, "warmup": o.warmup,
        "hidden": 2048, "bottleneck": 256,
        "dino_prototypes": o.prototypes, "ibot_prototypes": o.prototypes,
        "drop_path_rate": 0.0,
    });
    let meta_path = dir.join("meta.json");
    std::fs::write(&meta_path, meta.to_string()).unwrap();

    println!(
        "pretraining step, ViT-S/16 ({:.1}M params) + DINO/iBOT heads {}x2048-2048-256, batch {b} \
         x (2 x {}px + {} x {}px), {} masked tokens, {} threads, {} warm-up + {} timed steps",
        vit.n_params() as f64 / 1e6,
        o.prototypes,
        o.global,
        o.locals,
        o.local,
        masks.n_masked_patches(),
        o.threads,
        o.warmup,
        o.steps
    );

    // geodino.
    let placement = Placement::from_config(&cfg).unwrap();
    tch::manual_seed(0);
    let model = SslModel::new(&cfg, placement).unwrap();
    let mut optim = build_optimizer(&cfg, &model);
    let mut losses = Vec::new();
    let mut step = |it: usize| {
        optim.zero_grad();
        tch::manual_seed(it as i64);
        let out = model.forward_backward(&batch, 0.04, StepWeights::default()).unwrap();
        for (m, _) in MODULES {
            optim.clip_grad_norm(m, 3.0).unwrap();
        }
        optim.step(1e-4, 1e-4, 0.04).unwrap();
        let vals = optim.values();
        model.update_ema(0.994, &|n| vals.get(n).map(tch::Tensor::shallow_clone)).unwrap();
        losses.push(out.losses.values().total);
    };
    for it in 0..o.warmup {
        step(it);
    }
    let t0 = Instant::now();
    for it in 0..o.steps {
        step(o.warmup + it);
    }
    let ours = (b * o.steps) as f64 / t0.elapsed().as_secs_f64();
    println!("geodino : {ours:8.2} images/s ({:.3} s/step)", b as f64 / ours);

    // PyTorch + timm.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-bench/bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/pretrain_step_torch.py");
    if !python.exists() {
        println!("PyTorch : SKIPPED ({} missing: run scripts/setup --bench)", python.display());
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let out = Command::new(&python)
        .arg(&script)
        .arg("--batch")
        .arg(&batch_path)
        .arg("--meta")
        .arg(&meta_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the PyTorch baseline");
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        println!("PyTorch : FAILED\n{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
    let theirs = v["images_per_second"].as_f64().unwrap();
    println!(
        "PyTorch : {theirs:8.2} images/s ({:.3} s/step; torch {}, timm {})",
        b as f64 / theirs,
        v["torch"].as_str().unwrap_or("?"),
        v["timm"].as_str().unwrap_or("?")
    );
    println!("ratio geodino / PyTorch: {:.2}x", ours / theirs);
    println!(
        "first losses: geodino {:.4}, PyTorch {:.4} (same batch, independent random initialisations)",
        losses[0],
        v["losses"][0].as_f64().unwrap_or(f64::NAN)
    );
}
