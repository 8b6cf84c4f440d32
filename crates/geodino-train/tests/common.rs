//! Shared helpers of the engine tests: a small synthetic raster and a tiny configuration.
#![allow(dead_code)]

use std::path::Path;

use geodino_core::{DataType, RasterBuffer, RasterMeta, Window};
use geodino_train::PretrainConfig;
use ndarray::Array3;

/// A `w × h` 3-band u8 Zarr scene with smooth structure (so that crops differ) and a nodata
/// (0) strip of `nodata_cols` columns on the left.
pub fn write_scene(path: &Path, w: usize, h: usize, nodata_cols: usize) {
    let mut meta = RasterMeta::new(w, h, 3, DataType::Uint8);
    meta.set_nodata(Some(0.0));
    let mut data = Array3::<u8>::zeros((3, h, w));
    for y in 0..h {
        for x in nodata_cols..w {
            let fx = x as f64 / 17.0;
            let fy = y as f64 / 11.0;
            let v = [
                128.0 + 90.0 * (fx.sin() * fy.cos()),
                128.0 + 80.0 * ((fx * 0.7 + fy * 0.3).sin()),
                128.0 + 70.0 * (((x / 24 + y / 24) % 2) as f64 * 2.0 - 1.0),
            ];
            for b in 0..3 {
                data[[b, y, x]] = v[b].clamp(1.0, 255.0) as u8;
            }
        }
    }
    let mut wr = geodino_raster::create(path, &meta, &Default::default()).unwrap();
    wr.write_window(Window::full(w, h), &RasterBuffer::Uint8(data)).unwrap();
    wr.finish().unwrap();
}

/// The smoke preset shrunk to run a step in well under a second on one thread.
pub fn tiny_config(data: &Path, extra: &[&str]) -> PretrainConfig {
    let mut sets: Vec<String> = vec![
        format!("data.paths=[{:?}]", data.to_string_lossy()),
        "data.chip_size=64".into(),
        "student.embed_dim=24".into(),
        "student.depth=2".into(),
        "student.num_heads=2".into(),
        "dino.head_n_prototypes=64".into(),
        "dino.head_hidden_dim=32".into(),
        "dino.head_bottleneck_dim=16".into(),
        "ibot.head_n_prototypes=48".into(),
        "ibot.head_hidden_dim=32".into(),
        "ibot.head_bottleneck_dim=16".into(),
        "train.batch_size_per_gpu=4".into(),
        "train.num_threads=1".into(),
        "train.num_workers=2".into(),
        "train.OFFICIAL_EPOCH_LENGTH=3".into(),
        "optim.epochs=2".into(),
        "schedules.lr.warmup_epochs=1".into(),
        "schedules.lr.freeze_last_layer_epochs=0".into(),
        "schedules.teacher_temp.warmup_epochs=1".into(),
        "crops.global_crops_size=32".into(),
        "crops.local_crops_size=16".into(),
        "crops.local_crops_number=2".into(),
        "checkpoint.period=2".into(),
        "checkpoint.max_to_keep=10".into(),
        "eval.eval_period_iterations=0".into(),
        "eval.plot_period=0".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    PretrainConfig::load("smoke", &sets).unwrap()
}

/// Gram anchoring with a 2× Gram teacher loaded from the EMA teacher before iteration 0 and
/// refreshed after iterations 1 and 3.
pub const GRAM: &[&str] = &[
    "gram.use_loss=true",
    "gram.img_level=true",
    "gram.it_load_ema_teacher=0",
    "gram.rep_update=true",
    "gram.update_frequency=2",
    "gram.it_first_update=2",
    "gram.max_updates=2",
    "gram.loss_weight=2.0",
    "crops.gram_teacher_crops_size=64",
    "crops.gram_teacher_no_distortions=true",
];
