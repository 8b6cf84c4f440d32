//! `geodino train-head` end to end on a synthetic scene with a tiny random backbone: a run
//! SIGKILLed after its first checkpoint and resumed with `--resume` reproduces the losses of an
//! uninterrupted run bit for bit and writes an identical head file; the head file describes
//! itself; held-out evaluation reports the baseline; labels on another grid are refused with
//! both files named, or (feature `gdal`) warped onto the image's grid exactly as the `gdalwarp`
//! command line does; unknown configuration keys are refused.
#![cfg(feature = "torch")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geodino_dinov3::{Dinov3Backbone, ViTConfig};

fn geodino() -> Command {
    Command::new(env!("CARGO_BIN_EXE_geodino"))
}

fn synth(dir: &Path, name: &str, size: usize, seed: u64) -> PathBuf {
    let img = dir.join(format!("{name}.tif"));
    let o = geodino()
        .args(["synth-scene"])
        .arg(&img)
        .args(["--size", &size.to_string(), "--seed", &seed.to_string(), "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    img
}

fn tiny_backbone(path: &Path) {
    let cfg =
        ViTConfig { embed_dim: 24, depth: 2, num_heads: 2, patch_size: 8, ..ViTConfig::default() };
    tch::manual_seed(3);
    let bb = Dinov3Backbone::new(&cfg, tch::Device::Cpu).unwrap();
    let sd = geodino_dinov3::checkpoint::with_metadata(bb.state_dict().unwrap(), &cfg, None);
    geodino_weights::write_safetensors(path, &sd).unwrap();
}

const CONFIG: &str = r#"
[head]
layers = [0, 1, 0, 1]
channels = 16
post_process_channels = [8, 8, 16, 16]
n_hidden_channels = 8
bins = 16
[data]
chip_size = 32
chips = 12
[optim]
iterations = 12
batch_size = 4
warmup_iterations = 2
[train]
num_threads = 1
feature_batch = 4
[checkpoint]
period = 4
[eval]
tile = 64
plot_period = 4
"#;

/// `geodino train-head --task TASK --images IMAGES --labels LABELS --backbone DIR/bb.safetensors
/// --out OUT`, to which callers add options.
fn train_head(dir: &Path, task: &str, images: &Path, labels: &Path, out: &Path) -> Command {
    let mut c = geodino();
    c.args(["train-head", "--task", task, "--images"])
        .arg(images)
        .arg("--labels")
        .arg(labels)
        .arg("--backbone")
        .arg(dir.join("bb.safetensors"))
        .arg("--out")
        .arg(out);
    c
}

/// `train-head` on `scene`: `canopy-height` (DPT, tiny) or `landcover` (linear head).
/// `MKL_CBWR=COMPATIBLE` makes MKL's matrix products independent of the process (memory
/// alignment); without it, results of separate processes differ in the last bits.
fn train(
    dir: &Path,
    scene: &Path,
    out: &Path,
    resume: bool,
    eval: Option<&Path>,
    task: &str,
) -> Command {
    let ext = if task == "landcover" { "landcover.tif" } else { "chm.tif" };
    let label = scene.with_extension(ext);
    let mut c = train_head(dir, task, scene, &label, out);
    c.env("MKL_CBWR", "COMPATIBLE");
    c.arg("--config").arg(dir.join("head.toml"));
    if let Some(e) = eval {
        c.arg("--eval-images").arg(e).arg("--eval-labels").arg(e.with_extension(ext));
    }
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn losses(run: &Path) -> Vec<(u64, u64)> {
    support::losses(run, "loss")
}

/// Run `task` into `RUN-killed` next to `full` (an uninterrupted run of the same configuration),
/// SIGKILL it once its first checkpoint exists, resume it, and check that its 12 per-iteration
/// losses and its head file equal `full`'s bit for bit. Returns the killed run's folder.
fn kill_and_resume(d: &Path, scene: &Path, full: &Path, task: &str) -> PathBuf {
    let want = losses(full);
    assert_eq!(want.len(), 12);
    let killed = d.join(format!("killed-{task}"));
    let mut child = train(d, scene, &killed, false, None, task).spawn().unwrap();
    let first = killed.join("checkpoints/ckpt-0000004.safetensors");
    let t0 = Instant::now();
    while !first.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{task}: the run ended before its first checkpoint"
        );
        assert!(t0.elapsed() < Duration::from_secs(300), "{task}: no checkpoint after 5 minutes");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = losses(&killed).len();
    assert!(before < 12, "{task}: {before} iterations logged before the kill");

    let o = train(d, scene, &killed, true, None, task).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resumed from"), "{err}");
    assert_eq!(losses(&killed), want, "{task}: resumed losses differ from the uninterrupted run");
    let a = std::fs::read(full.join("head.safetensors")).unwrap();
    let b = std::fs::read(killed.join("head.safetensors")).unwrap();
    assert!(a == b, "{task}: the resumed run's head file differs from the uninterrupted run's");
    eprintln!(
        "{task}: killed after {before} logged iterations; 12 losses and the head file equal bit \
         for bit"
    );
    killed
}

#[test]
fn sigkilled_head_training_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_backbone(&d.join("bb.safetensors"));
    std::fs::write(d.join("head.toml"), CONFIG).unwrap();
    let scene = synth(d, "train", 192, 5);
    let held = synth(d, "held", 96, 6);

    let full = d.join("full");
    let o = train(d, &scene, &full, false, Some(&held), "canopy-height").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let want = losses(&full);
    assert_eq!(want.len(), 12);
    assert!(full.join("loss.png").is_file());
    assert!(err.contains("training-mean baseline"), "{err}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("eval.json")).unwrap()).unwrap();
    let mae = eval["scenes"][0]["canopy"]["mae"].as_f64().unwrap();
    let base = eval["scenes"][0]["canopy_baseline"]["mae"].as_f64().unwrap();
    assert!(mae.is_finite() && base.is_finite() && base > 0.0, "{eval}");

    // The head file describes itself: task, bins → metres, backbone layers, normalisation.
    let head = geodino_heads::DenseHead::from_file(
        &full.join("head.safetensors"),
        &geodino_heads::HeadOptions::default(),
    )
    .unwrap();
    assert_eq!(head.spec().task, geodino_heads::Task::CanopyHeight);
    assert_eq!(head.spec().backbone.layers, vec![0, 1, 0, 1]);
    assert_eq!(head.spec().backbone.patch_size, Some(8));
    assert_eq!(head.spec().decoder.n_output_channels(), 16);

    // Exact resume, for the DPT canopy head (the run above is the uninterrupted reference)
    // and for a linear land-cover head.
    kill_and_resume(d, &scene, &full, "canopy-height");
    std::fs::write(
        d.join("head.toml"),
        CONFIG.replace("[head]\n", "[head]\ndecoder = \"linear\"\n"),
    )
    .unwrap();
    let full = d.join("full-lc");
    let o = train(d, &scene, &full, false, Some(&held), "landcover").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("majority-class baseline"), "{err}");
    let killed = kill_and_resume(d, &scene, &full, "landcover");

    // Without --resume an existing run is refused.
    let o = train(d, &scene, &killed, false, None, "landcover").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--resume"), "{err}");
}

#[test]
fn labels_on_another_grid_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_backbone(&d.join("bb.safetensors"));
    std::fs::write(d.join("head.toml"), CONFIG).unwrap();
    let a = synth(d, "a", 96, 1);
    let b = synth(d, "b", 128, 2);
    let o = train_head(d, "landcover", &a, &b.with_extension("landcover.tif"), &d.join("r"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("a.tif") && err.contains("b.landcover.tif") && err.contains("same grid"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    std::fs::write(d.join("bad.toml"), "[optim]\nlrr = 1\n").unwrap();
    let o = geodino()
        .args(["train-head", "--images"])
        .arg(&a)
        .arg("--labels")
        .arg(a.with_extension("chm.tif"))
        .arg("--backbone")
        .arg(d.join("bb.safetensors"))
        .arg("--config")
        .arg(d.join("bad.toml"))
        .arg("--out")
        .arg(d.join("r2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("lrr") && err.contains("bad.toml"), "{err}");
}

/// Every pixel of band 1 as f32 (read by geodino's reader).
#[cfg(feature = "gdal")]
fn pixels(path: &Path) -> (geodino_core::RasterMeta, Vec<f32>) {
    let r = geodino_raster::open(path).unwrap();
    let m = r.meta().clone();
    let a = r.read_window(&[0], geodino_core::Window::full(m.width, m.height)).unwrap().to_f32();
    (m, a.iter().copied().collect())
}

/// Labels on a coarser grid in another CRS (EPSG:3035 at 1 m, the scene is UTM 32N at 0.6 m)
/// are warped onto the image's grid; GDAL is the oracle: the `gdalwarp` command line with the
/// same arguments writes the same pixels, bit for bit (NaN where both are NaN), and the warped
/// classes agree with the scene's own labels on most pixels (the round trip through the
/// coarser grid loses detail at class borders only). `train-head --resample-labels` then
/// trains on them; interpolating classes is refused.
#[cfg(feature = "gdal")]
#[test]
fn labels_on_another_grid_are_warped_like_gdalwarp() {
    use geodino_train::heads::warp::{gdalwarp, warp_args};
    if !geodino_testutil::oracle::gdal() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_backbone(&d.join("bb.safetensors"));
    let scene = synth(d, "s", 128, 11);
    let image = geodino_raster::open(&scene).unwrap().meta().clone();
    // (labels, how they get onto another grid, warp method); the last has no nodata value and
    // covers part of the image only: outside it the warped heights must be NaN, not 0.
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "landcover.tif",
            &["gdalwarp", "-t_srs", "EPSG:3035", "-tr", "1", "1", "-r", "near"],
            "near",
        ),
        (
            "chm.tif",
            &["gdalwarp", "-t_srs", "EPSG:3035", "-tr", "1", "1", "-r", "average"],
            "average",
        ),
        (
            "chm.tif",
            &["gdal_translate", "-a_nodata", "none", "-srcwin", "10", "20", "100", "90"],
            "bilinear",
        ),
    ];
    for (k, (ext, make, method)) in cases.into_iter().enumerate() {
        let orig = scene.with_extension(ext);
        let other = d.join(format!("other{k}.{ext}"));
        geodino_testutil::oracle::run(
            Command::new(make[0]).arg("-q").args(&make[1..]).arg(&orig).arg(&other),
        );
        let lm = geodino_raster::open(&other).unwrap().meta().clone();
        assert_ne!((lm.width, lm.height), (image.width, image.height));
        let args = warp_args(&scene, &image, &other, &lm, 1, method).unwrap();
        let ours = d.join(format!("ours{k}.{ext}"));
        gdalwarp(&other, &ours, &args).unwrap();
        let oracle = d.join(format!("oracle{k}.{ext}"));
        geodino_testutil::oracle::run(
            Command::new("gdalwarp").arg("-q").args(&args).arg(&other).arg(&oracle),
        );
        let (mo, a) = pixels(&ours);
        let (_, b) = pixels(&oracle);
        assert_eq!((mo.width, mo.height), (image.width, image.height));
        let (ga, gi) = (mo.geotransform.unwrap(), image.geotransform.unwrap());
        assert!(ga.approx_eq(&gi, 1e-6), "{ga:?} vs {gi:?}");
        assert_eq!(mo.crs.as_ref().and_then(|c| c.epsg), Some(32632));
        let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{ext}: the warped labels differ from gdalwarp's");
        let (_, o) = pixels(&orig);
        let nd = lm.nodata(0).map(|n| n.0 as f32);
        let valid: Vec<(f32, f32)> = a
            .iter()
            .zip(&o)
            .filter(|(w, _)| w.is_finite() && Some(**w) != nd)
            .map(|(w, o)| (*w, *o))
            .collect();
        if k == 2 {
            assert!(nd.is_none());
            let nan = a.iter().filter(|v| v.is_nan()).count();
            assert_eq!(nan, 128 * 128 - 100 * 90, "pixels outside the labels must be NaN");
        } else {
            assert!(valid.len() > a.len() * 9 / 10, "{ext}: {} valid of {}", valid.len(), a.len());
        }
        if ext == "landcover.tif" {
            let agree = valid.iter().filter(|(w, o)| w == o).count() as f64 / valid.len() as f64;
            eprintln!("{ext}: {agree:.3} of the warped classes equal the scene's");
            assert!(agree > 0.9, "{agree}");
        } else {
            let mae =
                valid.iter().map(|(w, o)| (w - o).abs() as f64).sum::<f64>() / valid.len() as f64;
            let mean = valid.iter().map(|(_, o)| *o as f64).sum::<f64>() / valid.len() as f64;
            eprintln!(
                "{ext} ({method}): warped heights differ from the scene's by {mae:.3} m \
                 (mean {mean:.2} m)"
            );
            assert!(mae < 0.3 * mean, "{mae} vs {mean}");
        }
    }

    std::fs::write(
        d.join("head.toml"),
        CONFIG.replace("[head]\n", "[head]\ndecoder = \"linear\"\n"),
    )
    .unwrap();
    let run = |method: &str, out: &str| {
        train_head(d, "landcover", &scene, &d.join("other0.landcover.tif"), &d.join(out))
            .arg("--config")
            .arg(d.join("head.toml"))
            .arg(format!("--resample-labels={method}"))
            .output()
            .unwrap()
    };
    let o = run("auto", "r");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resampled onto the grid") && err.contains("-r near"), "{err}");
    assert_eq!(losses(&d.join("r")).len(), 12);
    let o = run("bilinear", "r2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("cannot be interpolated"), "{err}");
}

/// Without the `gdal` feature, resampling labels is refused with the way to get it.
#[cfg(not(feature = "gdal"))]
#[test]
fn resampling_labels_without_gdal_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_backbone(&d.join("bb.safetensors"));
    let a = synth(d, "a", 96, 1);
    let b = synth(d, "b", 128, 2);
    let o = train_head(d, "landcover", &a, &b.with_extension("landcover.tif"), &d.join("r"))
        .arg("--resample-labels")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--features gdal"), "{err}");
    assert!(err.contains("b.landcover.tif") && !err.contains("panicked"), "{err}");
}
