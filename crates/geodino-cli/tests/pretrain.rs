//! `geodino pretrain` end to end: a run SIGKILLed mid-way and resumed with `--resume` reproduces
//! the per-iteration losses of an uninterrupted run bit for bit; bad configurations fail with a
//! message naming the key; `export-backbone` writes both formats.
#![cfg(feature = "torch")]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use geodino_core::{DataType, RasterBuffer, RasterMeta, Window};

fn write_scene(path: &Path, w: usize, h: usize) {
    let mut meta = RasterMeta::new(w, h, 3, DataType::Uint8);
    meta.set_nodata(Some(0.0));
    let mut data = ndarray::Array3::<u8>::zeros((3, h, w));
    for y in 0..h {
        for x in 16..w {
            let f = (x as f64 / 13.0).sin() * (y as f64 / 9.0).cos();
            data[[0, y, x]] = (128.0 + 100.0 * f) as u8;
            data[[1, y, x]] = (40 + (x * 3 + y) % 200) as u8;
            data[[2, y, x]] = if (x / 20 + y / 20) % 2 == 0 { 60 } else { 200 };
        }
    }
    let mut wr = geodino_raster::create(path, &meta, &Default::default()).unwrap();
    wr.write_window(Window::full(w, h), &RasterBuffer::Uint8(data)).unwrap();
    wr.finish().unwrap();
}

const TINY: &[&str] = &[
    "student.embed_dim=24",
    "student.depth=2",
    "student.num_heads=2",
    "dino.head_n_prototypes=64",
    "dino.head_hidden_dim=32",
    "dino.head_bottleneck_dim=16",
    "ibot.head_n_prototypes=64",
    "ibot.head_hidden_dim=32",
    "ibot.head_bottleneck_dim=16",
    "train.batch_size_per_gpu=4",
    "train.num_threads=1",
    "train.OFFICIAL_EPOCH_LENGTH=4",
    "optim.epochs=5",
    "crops.global_crops_size=32",
    "crops.local_crops_size=16",
    "crops.local_crops_number=2",
    "data.chip_size=64",
    "checkpoint.period=4",
    "checkpoint.max_to_keep=2",
    "eval.eval_period_iterations=0",
    "eval.plot_period=5",
];

fn pretrain(scene: &Path, out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_geodino"));
    c.arg("pretrain").args(["--config", "smoke", "--data"]).arg(scene).arg("--out").arg(out);
    if resume {
        c.arg("--resume");
    }
    for s in TINY {
        c.args(["--set", s]);
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn losses(run: &Path) -> Vec<(u64, u64)> {
    support::losses(run, "total_loss")
}

#[test]
fn sigkilled_run_resumes_with_identical_losses() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    write_scene(&scene, 200, 160);

    let full = dir.path().join("full");
    let out = pretrain(&scene, &full, false).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = losses(&full);
    assert_eq!(want.len(), 20);
    assert!(full.join("loss.png").is_file());

    // Kill -9 after the first checkpoint, while the run is still going.
    let killed = dir.path().join("killed");
    let mut child = pretrain(&scene, &killed, false).spawn().unwrap();
    let first = killed.join("checkpoints/ckpt-0000004.safetensors");
    let t0 = Instant::now();
    while !first.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(t0.elapsed() < Duration::from_secs(300), "no checkpoint after 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run finished before it could be killed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = losses(&killed).len();
    assert!(before < 20, "{before} iterations logged before the kill");

    let out = pretrain(&scene, &killed, true).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resumed from"), "{err}");
    let got = losses(&killed);
    assert_eq!(got, want, "resumed losses differ from the uninterrupted run");
    eprintln!("killed after {before} logged iterations; 20 resumed losses equal bit for bit");

    // Export the result backbone in both formats.
    for name in ["bb.safetensors", "bb.pth"] {
        let o = Command::new(env!("CARGO_BIN_EXE_geodino"))
            .arg("export-backbone")
            .arg(&killed)
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(dir.path().join(name).metadata().unwrap().len() > 10_000);
    }
}

#[test]
fn bad_configurations_fail_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_geodino"))
        .args(["pretrain", "--config", "smoke", "--out"])
        .arg(dir.path().join("r"))
        .args(["--set", "optim.lrr=3"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("optim.lrr") && !err.contains("panicked"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_geodino"))
        .args(["pretrain", "--config", "smoke", "--data", "/nonexistent/*.tif", "--out"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("/nonexistent/*.tif"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_geodino"))
        .args(["pretrain", "--list-presets", "--out", "x"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("vitl16_sat") && text.contains("smoke"), "{text}");
}
