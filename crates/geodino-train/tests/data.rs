//! The data pipeline: sources (globs, manifests), nodata-aware chip sampling, band selection,
//! scaling, and batches that depend only on (seed, iteration) — not on worker threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{DataType, RasterBuffer, RasterMeta, Window};
use geodino_train::archive::{Archive, expand_sources};
use geodino_train::batch::{BatchBuilder, Prefetcher};
use geodino_train::config::{DataConfig, PretrainConfig, Scaling};
use ndarray::Array3;
use rand::SeedableRng;

/// A `w × h` 3-band u8 Zarr raster with nodata 0: columns `< nodata_cols` are nodata, the rest
/// a pattern of valid values in 10..=250.
fn write_raster(path: &Path, w: usize, h: usize, nodata_cols: usize) {
    let mut meta = RasterMeta::new(w, h, 3, DataType::Uint8);
    meta.set_nodata(Some(0.0));
    let mut data = Array3::<u8>::zeros((3, h, w));
    for b in 0..3 {
        for y in 0..h {
            for x in nodata_cols..w {
                data[[b, y, x]] = (10 + (x * 7 + y * 13 + b * 50) % 240) as u8;
            }
        }
    }
    let mut wr = geodino_raster::create(path, &meta, &Default::default()).unwrap();
    wr.write_window(Window::full(w, h), &RasterBuffer::Uint8(data)).unwrap();
    wr.finish().unwrap();
}

fn data_cfg(paths: Vec<String>, chip: usize) -> DataConfig {
    DataConfig { paths, chip_size: chip, max_nodata_fraction: 0.25, ..Default::default() }
}

#[test]
fn chips_with_too_much_nodata_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("half.zarr");
    write_raster(&p, 200, 100, 120);
    let cfg = data_cfg(vec![p.to_string_lossy().into()], 32);
    let fill = [0.5f32, 0.25, 0.125];
    let a = Archive::open(&cfg, 3, &fill, 0).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut rejected = 0;
    let mut partial = 0;
    for _ in 0..200 {
        let c = a.sample_chip(&mut rng).unwrap();
        assert!(c.nodata_fraction <= 0.25, "accepted a chip {:.2} nodata", c.nodata_fraction);
        // Accepted windows overlap the nodata columns (< 120) by at most 25 % of their 32.
        assert!(c.window.col_off >= 112, "{:?}", c.window);
        rejected += c.rejected;
        if c.nodata_fraction > 0.0 {
            partial += 1;
            // Nodata pixels take the fill value (the normalisation mean), valid ones are scaled.
            assert!(c.data.iter().any(|&v| v == 0.5));
        }
        assert!(c.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    assert!(rejected > 100, "only {rejected} windows rejected for a 60 % nodata raster");
    assert!(partial > 0);
    eprintln!("200 chips: {rejected} windows rejected, {partial} accepted with some nodata");

    // A raster that is nodata everywhere fails with a message naming it.
    let q = dir.path().join("empty.zarr");
    write_raster(&q, 64, 64, 64);
    let a = Archive::open(&data_cfg(vec![q.to_string_lossy().into()], 32), 3, &fill, 0).unwrap();
    let e = a.sample_chip(&mut rng).unwrap_err().to_string();
    assert!(e.contains("empty.zarr") && e.contains("nodata"), "{e}");
}

#[test]
fn band_selection_and_scaling() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.zarr");
    write_raster(&p, 64, 64, 0);
    let path: String = p.to_string_lossy().into();
    // Band 4 does not exist: the error names the file and the band.
    let cfg = DataConfig { bands: Some(vec![1, 2, 4]), ..data_cfg(vec![path.clone()], 32) };
    let e = Archive::open(&cfg, 3, &[0.0; 3], 0).unwrap_err().to_string();
    assert!(e.contains("r.zarr") && e.contains("band 4"), "{e}");
    // Reversed bands, divide scaling.
    let cfg = DataConfig {
        bands: Some(vec![3, 2, 1]),
        scaling: Scaling::Divide(250.0),
        ..data_cfg(vec![path.clone()], 64)
    };
    let a = Archive::open(&cfg, 3, &[0.0; 3], 0).unwrap();
    let (d, valid) = a.read_scaled(0, Window::full(64, 64)).unwrap();
    assert!(valid.iter().all(|v| *v));
    let raw = |b: usize, x: usize, y: usize| (10 + (x * 7 + y * 13 + b * 50) % 240) as f32;
    assert!((d[[0, 5, 9]] - raw(2, 9, 5) / 250.0).abs() < 1e-6);
    assert!((d[[2, 5, 9]] - raw(0, 9, 5) / 250.0).abs() < 1e-6);
    // Percentile scaling maps the 2nd..98th percentiles to [0, 1].
    let cfg = DataConfig { scaling: Scaling::Percentile(2.0, 98.0), ..data_cfg(vec![path], 64) };
    let a = Archive::open(&cfg, 3, &[0.0; 3], 0).unwrap();
    let (d, _) = a.read_scaled(0, Window::full(64, 64)).unwrap();
    let zeros = d.iter().filter(|v| **v == 0.0).count() as f64 / d.len() as f64;
    let ones = d.iter().filter(|v| **v == 1.0).count() as f64 / d.len() as f64;
    assert!(zeros > 0.005 && zeros < 0.05 && ones > 0.005 && ones < 0.05, "{zeros} {ones}");
}

#[test]
fn globs_and_manifests_expand_to_sorted_files() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("tiles/2024");
    std::fs::create_dir_all(&sub).unwrap();
    for n in ["b.zarr", "a.zarr"] {
        write_raster(&sub.join(n), 32, 32, 0);
    }
    write_raster(&dir.path().join("tiles/top.zarr"), 32, 32, 0);
    let root = dir.path().to_string_lossy().to_string();
    let found = expand_sources(&[format!("{root}/tiles/**/*.zarr")]).unwrap();
    let names: Vec<String> =
        found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(names, ["tiles/2024/a.zarr", "tiles/2024/b.zarr", "tiles/top.zarr"]);
    let manifest = dir.path().join("train.txt");
    std::fs::write(&manifest, "# training tiles\ntiles/2024/?.zarr\n\ntiles/top.zarr\n").unwrap();
    let m = expand_sources(&[manifest.to_string_lossy().into()]).unwrap();
    assert_eq!(m, found);
    let e = expand_sources(&[format!("{root}/nothing/*.tif")]).unwrap_err().to_string();
    assert!(e.contains("nothing/*.tif"), "{e}");
    std::fs::write(&manifest, "tiles/missing.tif\n").unwrap();
    let e = expand_sources(&[manifest.to_string_lossy().into()]).unwrap_err().to_string();
    assert!(e.contains("train.txt:1") && e.contains("missing.tif"), "{e}");
    assert!(expand_sources(&[]).unwrap_err().to_string().contains("--data"));
}

fn tiny_cfg(path: &Path) -> PretrainConfig {
    let sets: Vec<String> = [
        format!("data.paths=[{:?}]", path.to_string_lossy()),
        "data.chip_size=64".into(),
        "train.batch_size_per_gpu=4".into(),
        "crops.global_crops_size=32".into(),
        "crops.local_crops_size=16".into(),
        "crops.local_crops_number=2".into(),
    ]
    .into();
    PretrainConfig::load("smoke", &sets).unwrap()
}

fn builder(cfg: &PretrainConfig) -> Arc<BatchBuilder> {
    let a = Archive::open(&cfg.data, 3, &cfg.crops.rgb_mean, cfg.train.seed).unwrap();
    Arc::new(BatchBuilder::new(Arc::new(a), cfg).unwrap())
}

#[test]
fn batches_depend_only_on_seed_and_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let p: PathBuf = dir.path().join("scene.zarr");
    write_raster(&p, 300, 200, 40);
    let cfg = tiny_cfg(&p);
    let b = builder(&cfg);
    let x = b.build(5).unwrap();
    let y = b.build(5).unwrap();
    assert_eq!(x.crops, y.crops);
    assert_eq!(x.masks, y.masks);
    assert_eq!(x.chips, y.chips);
    let z = b.build(6).unwrap();
    assert_ne!(x.crops.global_crops, z.crops.global_crops);
    assert_eq!(x.crops.global_crops.shape(), [8, 3, 32, 32]);
    assert_eq!(x.crops.local_crops.shape(), [8, 3, 16, 16]);
    assert_eq!(x.masks.n_images, 8);
    // Another seed, other data.
    let mut other = cfg.clone();
    other.train.seed = 1;
    assert_ne!(builder(&other).build(5).unwrap().chips, x.chips);
    // One worker or three, any queue depth: the same batches in the same order, starting
    // anywhere (a resumed run at iteration 3 sees what an uninterrupted run saw).
    let one = Prefetcher::start(Arc::clone(&b), 0, 8, 1, 1);
    let seq1: Vec<_> = (0..8).map(|_| one.next_batch().unwrap()).collect();
    drop(one);
    let three = Prefetcher::start(Arc::clone(&b), 3, 8, 3, 4);
    for want in &seq1[3..] {
        let got = three.next_batch().unwrap();
        assert_eq!(got.step, want.step);
        assert_eq!(got.crops, want.crops);
        assert_eq!(got.masks, want.masks);
    }
    assert!(three.next_batch().is_err(), "past the end");
}

#[test]
fn multi_resolution_triplets_are_drawn_per_batch_with_their_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scene.zarr");
    write_raster(&p, 256, 256, 0);
    let mut cfg = tiny_cfg(&p);
    cfg.crops.global_crops_size = geodino_train::config::OneOrMany::Many(vec![32, 48]);
    cfg.crops.local_crops_size = geodino_train::config::OneOrMany::Many(vec![16, 24]);
    cfg.crops.global_local_crop_pairs_ratios =
        geodino_train::config::OneOrMany::Many(vec![0.8, 0.2]);
    cfg.validate().unwrap();
    let b = builder(&cfg);
    let n = 400;
    let second = (0..n).filter(|&s| b.triplet_index(s) == 1).count();
    assert!((60..=100).contains(&second), "{second} of {n} batches used the second triplet");
    let s = (0..n).find(|&s| b.triplet_index(s) == 1).unwrap();
    let batch = b.build(s).unwrap();
    assert_eq!(batch.crops.global_crops.shape()[2], 48);
    assert_eq!(batch.crops.local_crops.shape()[2], 24);
    assert_eq!(batch.grid, 6);
}
