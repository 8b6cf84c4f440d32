//! Whole-scene canopy-height throughput and memory, against the Python way of doing it.
//!
//! ```text
//! cargo bench -p geodino-infer --bench scene -- [--backbones vits16,vitl16|none] [--sub 1024]
//!     [--full 4000,16000] [--strip] [--precisions f32,bf16] [--threads 2] [--batch 2]
//!     [--repeat 1] [--python .venv-bench/bin/python] [--skip-python] [--skip-rss]
//! ```
//!
//! 1. **Scenes**: a 16 000² (and 4 000²) RGB synthetic aerial scene at 0.6 m
//!    (`geodino_data::synth`, the generator behind `geodino synth-scene`), written streaming as
//!    a tiled deflate GeoTIFF into `target/bench-data/` (kept between runs), and a centred
//!    `--sub`² crop of it: the representative sub-scene for throughput.
//! 2. **Models**: ViT-S/16 and ViT-L/16 with random weights + a CHMv2 DPT head (256 bins, layers
//!    [2, 5, 8, 11] / [5, 11, 17, 23]), saved as safetensors so both sides load the same weights.
//! 3. **Throughput**: `predict_scene` on the sub-scene (512 tiles, 128 overlap, cosine blend)
//!    in a fresh process per run, and `benches/scene_baseline.py` (GDAL windows + timm DINOv3 +
//!    a PyTorch DPT + numpy cosine blending + GDAL COG) on the same file with the same weights,
//!    tiles, batch and threads, in the same run; the ratio is Python time / geodino time. The two
//!    height rasters are compared pixel by pixel (an end-to-end cross-implementation check).
//! 4. **Memory**: peak RSS (`VmHWM`) of fresh processes running the smallest configuration that
//!    still exercises the whole pipeline (a per-pixel mean "model" inside the real engine: GeoTIFF
//!    reads, normalisation, cosine blending in the row band, float32 COG with overviews; 512
//!    tiles, overlap 128, batch 2) over
//!    the full 4 000² and 16 000² scenes (column strips of 2 048 pixels: the row band, the
//!    writer's open tiles and the carry between strips are set by the strip width, not the scene);
//!    with `--strip`, ViT-S on a full-width 16 000 × 512 row strip (the model at full size).
//!
//! Results go to stdout and `target/bench-data/scene-results.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use geodino_core::{RasterBuffer, RasterMeta, RasterWrite, Window};
use geodino_data::synth::{SceneGenerator, StreamOptions, SynthConfig};
use geodino_dinov3::{Dinov3Backbone, ViTConfig};
use geodino_heads::{DecoderConfig, DenseHead, DptConfig, HeadSpec};
use geodino_infer::memory::peak_rss_bytes;
use geodino_infer::output::{RasterSink, SinkOptions};
use geodino_infer::{
    EngineOptions, HeadModel, HeightDtype, ModelOptions, Product, SceneOptions, TileModel,
};
use geodino_nn::Precision;
use geodino_tiff::write::{GeoTiffWriter, TiffWriteOptions};
use serde_json::{Value, json};
use tch::Device;

#[derive(Debug, Clone)]
struct Args {
    backbones: Vec<String>,
    sub: usize,
    full: Vec<usize>,
    strip: bool,
    precisions: Vec<String>,
    threads: usize,
    batch: usize,
    repeat: usize,
    python: Option<PathBuf>,
    skip_python: bool,
    skip_rss: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        backbones: vec!["vits16".into(), "vitl16".into()],
        sub: 1024,
        full: vec![4000, 16000],
        strip: false,
        precisions: vec!["f32".into(), "bf16".into()],
        threads: 2,
        batch: 2,
        repeat: 1,
        python: None,
        skip_python: false,
        skip_rss: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backbones" => {
                a.backbones =
                    list(&v).into_iter().filter(|b| !b.is_empty() && b != "none").collect()
            }
            "--sub" => a.sub = v.parse().expect("--sub N"),
            "--full" => a.full = list(&v).iter().map(|s| s.parse().expect("--full N,M")).collect(),
            "--precisions" => a.precisions = list(&v),
            "--threads" => a.threads = v.parse().expect("--threads N"),
            "--batch" => a.batch = v.parse().expect("--batch N"),
            "--repeat" => a.repeat = v.parse().expect("--repeat N"),
            "--python" => a.python = Some(PathBuf::from(v)),
            "--strip" => {
                a.strip = true;
                i -= 1;
            }
            "--skip-python" => {
                a.skip_python = true;
                i -= 1;
            }
            "--skip-rss" => {
                a.skip_rss = true;
                i -= 1;
            }
            "--bench" => i -= 1, // passed by cargo bench
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> PathBuf {
    let d = root().join("target/bench-data");
    std::fs::create_dir_all(&d).expect("create target/bench-data");
    d
}

/// A writer that discards (the synthetic labels are not needed here).
struct Discard(RasterMeta);

impl RasterWrite for Discard {
    fn meta(&self) -> &RasterMeta {
        &self.0
    }
    fn write_window(&mut self, _: Window, _: &RasterBuffer) -> geodino_core::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> geodino_core::Result<()> {
        Ok(())
    }
}

/// The `n`² synthetic scene (RGB, 0.6 m, tiled deflate GeoTIFF), generated once.
fn scene(n: usize) -> PathBuf {
    let path = data_dir().join(format!("scene-{n}.tif"));
    if path.exists() {
        return path;
    }
    eprintln!("generating {}² synthetic scene -> {}", n, path.display());
    let t = Instant::now();
    let cfg = SynthConfig { width: n, height: n, gsd: 0.6, seed: 2024, ..SynthConfig::default() };
    let g = SceneGenerator::new(&cfg).expect("synthetic scene config");
    let opts = TiffWriteOptions::preset("tiled").expect("preset");
    let mut image = GeoTiffWriter::create(&path, &g.image_meta(), &opts).expect("create scene");
    let mut chm = Discard(g.chm_meta());
    let mut lc = Discard(g.landcover_meta());
    g.write(&mut image, &mut chm, &mut lc, &StreamOptions::default(), &mut |_| {})
        .expect("render scene");
    image.finish().expect("finish scene");
    eprintln!("  {:.0} s", t.elapsed().as_secs_f64());
    path
}

/// A `w` × `h` crop of `src` at `(x, y)`, written once.
fn crop(src: &Path, name: &str, win: Window) -> PathBuf {
    let path = data_dir().join(name);
    if path.exists() {
        return path;
    }
    let r = geodino_raster::open(src).expect("open scene");
    let m = r.meta();
    let mut meta = RasterMeta {
        width: win.width,
        height: win.height,
        geotransform: m.geotransform.map(|g| g.for_window(&win)),
        overviews: Vec::new(),
        ..m.clone()
    };
    meta.metadata.clear();
    let mut w = geodino_raster::create(
        &path,
        &meta,
        &geodino_raster::CreateOptions { block: Some(256), ..Default::default() },
    )
    .expect("create crop");
    geodino_raster::copy_into(r.as_ref(), &[0, 1, 2], win, w.as_mut(), 1024, &|_, _| {})
        .expect("copy crop");
    w.finish().expect("finish crop");
    path
}

/// Backbone and CHMv2-style head files for `name` (random weights, fixed seed).
fn model_files(name: &str) -> (PathBuf, PathBuf, Vec<i64>, &'static str) {
    let (cfg, layers, timm) = match name {
        "vits16" => {
            (ViTConfig::preset("vits16").unwrap(), vec![2, 5, 8, 11], "vit_small_patch16_dinov3")
        }
        "vitl16" => {
            (ViTConfig::preset("vitl16").unwrap(), vec![5, 11, 17, 23], "vit_large_patch16_dinov3")
        }
        "tiny" => (
            ViTConfig { embed_dim: 32, depth: 4, num_heads: 2, ..ViTConfig::default() },
            vec![0, 1, 2, 3],
            "",
        ),
        other => panic!("unknown backbone {other}: vits16, vitl16"),
    };
    let dir = data_dir().join("models").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let (bp, hp) = (dir.join("backbone.safetensors"), dir.join("head.safetensors"));
    if !(bp.exists() && hp.exists()) {
        tch::manual_seed(17);
        let bb = Dinov3Backbone::new(&cfg, Device::Cpu).unwrap();
        let sd = geodino_dinov3::checkpoint::with_metadata(bb.state_dict().unwrap(), &cfg, None);
        geodino_weights::write_safetensors(&bp, &sd).unwrap();
        let d = cfg.embed_dim as i64;
        let mut spec = HeadSpec::preset("chmv2").unwrap();
        let dpt = if name == "tiny" {
            DptConfig {
                in_channels: vec![d; 4],
                channels: 32,
                post_process_channels: vec![8, 16, 32, 32],
                n_hidden_channels: 16,
                n_output_channels: 32,
                ..DptConfig::chmv2()
            }
        } else {
            DptConfig { in_channels: vec![d; 4], ..DptConfig::chmv2() }
        };
        spec.decoder = DecoderConfig::Dpt(dpt);
        spec.backbone.layers = layers.clone();
        spec.backbone.weights = Some(format!("random {name}"));
        DenseHead::new(spec, Device::Cpu).unwrap().save(&hp).unwrap();
    }
    (bp, hp, layers, timm)
}

/// The cheapest model that still runs the whole pipeline: the per-pixel channel mean of the
/// normalised input as a "height" (`(b, 3, t, t) → (b, 1, t, t)`). What scales with the scene
/// (reading, preparing, blending, the row band, writing the COG and its overviews) is exercised
/// in full; what the network adds is per batch and does not grow with the scene.
struct MeanModel;

impl TileModel for MeanModel {
    fn in_channels(&self) -> usize {
        3
    }
    fn out_channels(&self) -> usize {
        1
    }
    fn stride(&self) -> usize {
        1
    }
    fn patch_size(&self) -> usize {
        16
    }
    fn forward(&self, x: &tch::Tensor) -> geodino_infer::Result<tch::Tensor> {
        Ok(x.mean_dim(1, true, tch::Kind::Float).abs().contiguous())
    }
}

/// The job's scene options: tiles of 512, overlap 128, the job's batch, overwriting.
fn scene_options(job: &Value) -> SceneOptions {
    SceneOptions {
        engine: EngineOptions {
            tile: 512,
            overlap: 128,
            batch: job["batch"].as_u64().unwrap() as usize,
            ..EngineOptions::default()
        },
        overwrite: true,
        ..SceneOptions::default()
    }
}

/// Child process for the memory runs with [`MeanModel`], printing a JSON line.
fn child_mean(job: &Value) {
    let p = |k: &str| PathBuf::from(job[k].as_str().unwrap());
    tch::set_num_threads(job["threads"].as_u64().unwrap() as i32);
    let opts = scene_options(job);
    let prepared = geodino_infer::scene::prepare_input(
        &p("input"),
        3,
        &[0.485, 0.456, 0.406],
        &[0.229, 0.224, 0.225],
        255.0,
        &opts,
    )
    .unwrap();
    let out = p("output");
    let grid = prepared.reader.meta().clone();
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    let so = SinkOptions { overwrite: true, preview_side: 0 };
    let mut sink = RasterSink::create(&out, product, &grid, 1, &so).unwrap();
    let r = geodino_infer::engine::run(
        prepared.reader.as_ref(),
        &prepared.spec,
        &MeanModel,
        &opts.engine,
        &mut sink,
        &|_| {},
    )
    .unwrap();
    sink.finish().unwrap();
    println!(
        "{}",
        json!({
            "seconds": r.wall_s, "forward_s": r.forward_s, "wait_input_s": r.wait_input_s,
            "tiles": r.tiles, "pixels": r.scene_pixels, "load_s": 0.0,
            "band_mb": r.band_bytes as f64 / 1048576.0,
            "strips": r.strips, "strip_columns": r.strip_columns,
            "carry_peak_mb": r.carry_peak_bytes as f64 / 1048576.0,
            "peak_rss_mb": peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0,
        })
    );
}

/// Child process: one `predict_scene`, printing a JSON line.
fn child(job: &Value) {
    if job["model"].as_str() == Some("mean") {
        return child_mean(job);
    }
    let p = |k: &str| PathBuf::from(job[k].as_str().unwrap());
    tch::set_num_threads(job["threads"].as_u64().unwrap() as i32);
    let prec = job["precision"].as_str().unwrap();
    let precision: Precision = prec.trim_end_matches("-nchw").parse().unwrap();
    let t = Instant::now();
    let mut model = HeadModel::load(
        &p("backbone"),
        &p("head"),
        &ModelOptions { device: Device::Cpu, precision },
    )
    .unwrap();
    if prec.ends_with("-nchw") {
        // A/B: the head in PyTorch's default layout instead of the engine's choice.
        model.set_channels_last(false);
    }
    let load_s = t.elapsed().as_secs_f64();
    let opts = scene_options(job);
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    let r =
        geodino_infer::predict_scene(&p("input"), &p("output"), &model, product, &opts, &|_| {})
            .unwrap();
    println!(
        "{}",
        json!({
            "seconds": r.run.wall_s, "forward_s": r.run.forward_s, "wait_input_s": r.run.wait_input_s,
            "tiles": r.run.tiles, "pixels": r.run.scene_pixels, "load_s": load_s,
            "band_mb": r.run.band_bytes as f64 / 1048576.0,
            "strips": r.run.strips, "strip_columns": r.run.strip_columns,
            "carry_peak_mb": r.run.carry_peak_bytes as f64 / 1048576.0,
            "peak_rss_mb": peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0,
        })
    );
}

fn spawn_child(job: Value) -> Value {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).arg("--child").arg(job.to_string()).output().expect("run child");
    if !out.status.success() {
        panic!("child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(s.lines().last().unwrap_or("")).expect("child JSON")
}

fn run_python(py: &Path, job: &Value) -> Option<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scene_baseline.py");
    let mut c = Command::new(py);
    c.env("PYTHONDONTWRITEBYTECODE", "1").arg(script);
    for k in ["input", "output", "model", "backbone-weights", "head-weights", "layers"] {
        c.arg(format!("--{k}")).arg(job[k].as_str().unwrap());
    }
    c.arg("--threads").arg(job["threads"].to_string()).arg("--batch").arg(job["batch"].to_string());
    if job["bf16"].as_bool() == Some(true) {
        c.arg("--bf16");
    }
    let out = c.output().ok()?;
    if !out.status.success() {
        eprintln!("python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last()?).ok()
}

/// Max and mean absolute difference of two height rasters over pixels valid in both.
fn compare(a: &Path, b: &Path) -> (f64, f64) {
    let x = geodino_raster::open(a).unwrap().read_all().unwrap().to_f32();
    let y = geodino_raster::open(b).unwrap().read_all().unwrap().to_f32();
    let (mut mx, mut s, mut n) = (0.0f64, 0.0, 0u64);
    for (p, q) in x.iter().zip(y.iter()) {
        if p.is_finite() && q.is_finite() {
            let d = (p - q).abs() as f64;
            mx = mx.max(d);
            s += d;
            n += 1;
        }
    }
    (mx, s / n.max(1) as f64)
}

fn best(runs: Vec<Value>) -> Value {
    runs.into_iter()
        .min_by(|a, b| a["seconds"].as_f64().partial_cmp(&b["seconds"].as_f64()).unwrap())
        .unwrap()
}

/// km² per hour at 0.6 m for a throughput in megapixels per second.
fn km2_per_hour(mpix_s: f64) -> f64 {
    mpix_s * 3600.0 * 0.36
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child") {
        child(&serde_json::from_str(&argv[2]).expect("job JSON"));
        return;
    }
    let a = parse_args();
    let py = a.python.clone().unwrap_or_else(|| root().join(".venv-bench/bin/python"));
    let have_py = !a.skip_python && py.exists();
    if !a.skip_python && !have_py {
        eprintln!("no {} (scripts/setup --bench): Python baseline skipped", py.display());
    }
    let big = *a.full.iter().max().unwrap_or(&16000);
    let full = scene(big);
    let off = (big - a.sub) / 2;
    let sub = crop(
        &full,
        &format!("sub-{}.tif", a.sub),
        Window::new(off as i64, off as i64, a.sub, a.sub),
    );
    let mut results = json!({"machine": {"threads": a.threads, "batch": a.batch}, "throughput": [], "defaults": [], "rss": []});
    println!(
        "throughput on a {}² sub-scene of the {}² scene (0.6 m): 512 tiles, 128 overlap, cosine, batch {}, {} threads",
        a.sub, big, a.batch, a.threads
    );
    println!(
        "| backbone | precision | geodino s | MPix/s | km²/h | Python s | ratio | max / mean |Δ| vs Python f32 (m) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in &a.backbones {
        let (bp, hp, layers, timm) = model_files(name);
        let layers_s = layers.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",");
        let mut py_f32_out: Option<PathBuf> = None;
        let mut py_f32_s: Option<f64> = None;
        let mut ours_s = Vec::new();
        for prec in &a.precisions {
            let out = data_dir().join(format!("out-{name}-{prec}.tif"));
            let job = json!({
                "backbone": bp, "head": hp, "input": sub, "output": out, "precision": prec,
                "threads": a.threads, "batch": a.batch,
            });
            let pyjob = json!({
                "input": sub, "output": data_dir().join(format!("py-{name}-{prec}.tif")),
                "model": timm, "backbone-weights": bp, "head-weights": hp, "layers": layers_s,
                "threads": a.threads, "batch": a.batch, "bf16": prec == "bf16",
            });
            // `f32-nchw` is an A/B run of geodino alone (head in the default layout); its ratio
            // is taken against the Python f32 run.
            let run_py = have_py && !prec.ends_with("-nchw");
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..a.repeat.max(1) {
                ours.push(spawn_child(job.clone()));
                if run_py && let Some(r) = run_python(&py, &pyjob) {
                    theirs.push(r);
                }
            }
            let o = best(ours);
            let secs = o["seconds"].as_f64().unwrap();
            let mpix = a.sub as f64 * a.sub as f64 / 1e6 / secs;
            let p = (!theirs.is_empty()).then(|| best(theirs));
            let py_s = match prec.as_str() {
                "f32-nchw" => py_f32_s,
                _ => p.as_ref().map(|p| p["seconds"].as_f64().unwrap()),
            };
            if prec == "f32" && p.is_some() {
                py_f32_out = Some(PathBuf::from(pyjob["output"].as_str().unwrap()));
                py_f32_s = py_s;
            }
            ours_s.push((prec.clone(), secs));
            let diff = py_f32_out.as_ref().map(|f| compare(&out, f));
            println!(
                "| {name} | {prec} | {secs:.1} | {mpix:.3} | {:.1} | {} | {} | {} |",
                km2_per_hour(mpix),
                py_s.map(|s| format!("{s:.1}")).unwrap_or("-".into()),
                py_s.map(|s| format!("{:.2}x", s / secs)).unwrap_or("-".into()),
                diff.map(|(m, e)| format!("{m:.4} / {e:.5}")).unwrap_or("-".into()),
            );
            results["throughput"].as_array_mut().unwrap().push(json!({
                "backbone": name, "precision": prec, "geodino": o, "python": p,
                "mpix_per_s": mpix, "km2_per_hour": km2_per_hour(mpix),
                "ratio": py_s.map(|s| s / secs), "diff_vs_python_f32": diff,
            }));
        }
        // Each tool as it runs out of the box: geodino picks bf16 on a CPU with AVX-512 BF16
        // (`--precision auto`, the CLI default), the Python tools run f32 (no CPU autocast).
        let bf16 = ours_s.iter().find(|(p, _)| p == "bf16").map(|&(_, s)| s);
        if let (Some(g), Some(py)) = (bf16, py_f32_s) {
            println!(
                "| {name} | defaults: geodino bf16 vs Python f32 | {g:.1} | | | {py:.1} | {:.2}x | |",
                py / g
            );
            results["defaults"].as_array_mut().unwrap().push(json!({
                "backbone": name, "geodino_bf16_s": g, "python_f32_s": py, "ratio": py / g,
            }));
        }
    }
    if !a.skip_rss {
        println!(
            "\npeak RSS, fresh process per run (per-pixel mean model, 512 tiles, overlap 128, batch {}, COG output):",
            a.batch
        );
        println!(
            "| scene | tiles | strips × columns | seconds | band MiB | carry per strip edge MiB (scratch file) | peak RSS MiB |"
        );
        println!("|---|---|---|---|---|---|---|");
        for &n in &a.full {
            let input = scene(n);
            let out = data_dir().join(format!("rss-{n}.tif"));
            let r = spawn_child(json!({
                "model": "mean", "input": input, "output": out,
                "threads": a.threads, "batch": a.batch,
            }));
            println!(
                "| {n}² | {} | {} × {} | {:.0} | {:.1} | {:.1} | {:.0} |",
                r["tiles"],
                r["strips"],
                r["strip_columns"],
                r["seconds"].as_f64().unwrap(),
                r["band_mb"].as_f64().unwrap(),
                r["carry_peak_mb"].as_f64().unwrap(),
                r["peak_rss_mb"].as_f64().unwrap()
            );
            results["rss"]
                .as_array_mut()
                .unwrap()
                .push(json!({"scene": n, "model": "mean", "run": r}));
        }
        if a.strip {
            let strip = crop(
                &full,
                &format!("strip-{big}.tif"),
                Window::new(0, (big / 2) as i64, big, 512),
            );
            let (bp, hp, _, _) = model_files("vits16");
            for prec in &a.precisions {
                let r = spawn_child(json!({
                    "backbone": bp, "head": hp, "input": strip, "output": data_dir().join("rss-strip.tif"),
                    "precision": prec, "threads": a.threads, "batch": a.batch,
                }));
                println!(
                    "| {big} x 512 rows, ViT-S {prec} | {} | {} × {} | {:.0} | {:.1} | {:.1} | {:.0} |",
                    r["tiles"],
                    r["strips"],
                    r["strip_columns"],
                    r["seconds"].as_f64().unwrap(),
                    r["band_mb"].as_f64().unwrap(),
                    r["carry_peak_mb"].as_f64().unwrap(),
                    r["peak_rss_mb"].as_f64().unwrap()
                );
                results["rss"].as_array_mut().unwrap().push(json!({"scene": format!("{big}x512"), "model": format!("vits16 {prec}"), "run": r}));
            }
        }
    }
    let path = data_dir().join("scene-results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("\nresults: {}", path.display());
}
