//! Multi-crop augmentation: shapes, value ranges, determinism, crop-scale distributions, the blur
//! probability rule, Gram crops, N-band imagery.

use geodino_data::augment::{CropBox, RandomResizedCrop};
use geodino_data::multicrop::{BlurProbabilities, MultiCrop, MultiCropConfig, collate};
use ndarray::{Array3, Axis, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A smooth, textured test image in [0, 1].
fn scene(c: usize, h: usize, w: usize) -> Array3<f32> {
    Array3::from_shape_fn((c, h, w), |(b, y, x)| {
        let v = 0.5
            + 0.3 * ((x as f32 * 0.05 + b as f32).sin() * (y as f32 * 0.07).cos())
            + 0.15 * ((x + 2 * y) as f32 * 0.31).sin();
        v.clamp(0.0, 1.0)
    })
}

/// A small configuration for statistics over many samples.
fn small(blur: BlurProbabilities) -> MultiCropConfig {
    MultiCropConfig { global_crops_size: 32, local_crops_size: 16, blur, ..Default::default() }
}

#[test]
fn default_recipe_shapes_and_value_ranges() {
    let img = scene(3, 300, 400);
    let mc = MultiCrop::new(&MultiCropConfig::default()).unwrap();
    let s = mc.apply(&mut ChaCha8Rng::seed_from_u64(0), img.view()).unwrap();
    assert_eq!(s.global_crops.len(), 2);
    assert_eq!(s.local_crops.len(), 8);
    assert!(s.gram_teacher_crops.is_none());
    for g in &s.global_crops {
        assert_eq!(g.dim(), (3, 256, 256));
    }
    for l in &s.local_crops {
        assert_eq!(l.dim(), (3, 112, 112));
    }
    // normalised values stay within what [0, 1] maps to
    let cfg = mc.config();
    for crop in s.global_crops.iter().chain(&s.local_crops) {
        for (b, band) in crop.axis_iter(Axis(0)).enumerate() {
            let (lo, hi) = ((0.0 - cfg.mean[b]) / cfg.std[b], (1.0 - cfg.mean[b]) / cfg.std[b]);
            assert!(band.iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5 && v.is_finite()));
        }
    }
    // identity normalisation: crops are in [0, 1]
    let id = MultiCrop::new(&MultiCropConfig::default().with_normalization(&[0.0; 3], &[1.0; 3]))
        .unwrap();
    let s = id.apply(&mut ChaCha8Rng::seed_from_u64(1), img.view()).unwrap();
    for crop in s.global_crops.iter().chain(&s.local_crops) {
        assert!(crop.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }
}

#[test]
fn batches_are_deterministic_and_independent_of_threads() {
    let imgs: Vec<Array3<f32>> = (0..4).map(|i| scene(3, 90 + 10 * i, 120)).collect();
    let views: Vec<_> = imgs.iter().map(|a| a.view()).collect();
    let mc = MultiCrop::new(&small(BlurProbabilities::AsReleased)).unwrap();
    let a = mc.apply_batch(&views, 7).unwrap();
    let b = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| mc.apply_batch(&views, 7).unwrap());
    assert_eq!(a, b);
    let c = mc.apply_batch(&views, 8).unwrap();
    assert_ne!(a.global_crops, c.global_crops);
    // crop-major stacking: row k·B + i is crop k of image i
    assert_eq!(a.global_crops.dim(), (8, 3, 32, 32));
    assert_eq!(a.local_crops.dim(), (32, 3, 16, 16));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    rng.set_stream(2);
    let s2 = mc.apply(&mut rng, views[2]).unwrap();
    assert_eq!(a.global_crops.index_axis(Axis(0), 4 + 2), s2.global_crops[1]);
    assert_eq!(a.local_crops.index_axis(Axis(0), 3 * 4 + 2), s2.local_crops[3]);
    assert_eq!(collate(std::slice::from_ref(&s2)).global_crops.dim(), (2, 3, 32, 32));
}

fn area_fraction(b: &CropBox, h: usize, w: usize) -> f64 {
    (b.height * b.width) as f64 / (h * w) as f64
}

#[test]
fn crop_scales_follow_the_configured_ranges() {
    let (h, w) = (480usize, 480usize);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 4000;
    // local crops: U(0.05, 0.32) always fits a square image
    let local = RandomResizedCrop::new(112, (0.05, 0.32));
    let fr: Vec<f64> =
        (0..n).map(|_| area_fraction(&local.sample_box(&mut rng, h, w), h, w)).collect();
    let mean = fr.iter().sum::<f64>() / n as f64;
    println!("local crop area fraction: mean {mean:.4} (uniform 0.05..0.32: 0.185)");
    assert!((mean - 0.185).abs() < 0.006, "{mean}");
    assert!(fr.iter().all(|&f| (0.048..=0.325).contains(&f)));
    let mut bins = [0usize; 3];
    for f in &fr {
        bins[(((f - 0.05) / 0.09) as usize).min(2)] += 1;
    }
    for b in bins {
        let share = b as f64 / n as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.04, "bins {bins:?}");
    }
    // global crops: within (0.32, 1), attempts that do not fit are redrawn, so large areas with
    // elongated ratios are rarer than uniform
    let global = RandomResizedCrop::new(256, (0.32, 1.0));
    let boxes: Vec<CropBox> = (0..n).map(|_| global.sample_box(&mut rng, h, w)).collect();
    let fr: Vec<f64> = boxes.iter().map(|b| area_fraction(b, h, w)).collect();
    let mean = fr.iter().sum::<f64>() / n as f64;
    println!("global crop area fraction: mean {mean:.4}");
    assert!(fr.iter().all(|&f| (0.315..=1.0).contains(&f)));
    assert!(mean > 0.5 && mean < 0.66, "{mean}");
    for b in &boxes {
        let r = b.width as f64 / b.height as f64;
        assert!((0.74..=1.36).contains(&r), "{b:?}");
        assert!(b.top + b.height <= h && b.left + b.width <= w);
    }
    // the crops of the full pipeline are drawn the same way
    let mc = MultiCrop::new(&small(BlurProbabilities::AsReleased)).unwrap();
    let img = scene(3, 120, 120);
    let s = mc.apply(&mut rng, img.view()).unwrap();
    for r in &s.local_records {
        assert!((0.045..=0.33).contains(&area_fraction(&r.crop, 120, 120)), "{r:?}");
    }
}

#[test]
fn random_resized_crop_falls_back_to_a_centre_crop() {
    // 10 × 1000: no attempt can fit, ratio clamped to 4/3 → 10 × round(13.33) centred.
    let rrc = RandomResizedCrop::new(32, (0.32, 1.0));
    let b = rrc.sample_box(&mut ChaCha8Rng::seed_from_u64(0), 10, 1000);
    assert_eq!(b, CropBox { top: 0, left: 493, height: 10, width: 13 });
    // and the tall case
    let b = rrc.sample_box(&mut ChaCha8Rng::seed_from_u64(0), 1000, 10);
    assert_eq!(b, CropBox { top: 493, left: 0, height: 13, width: 10 });
}

fn blur_rates(blur: BlurProbabilities, n: usize) -> (f64, f64, f64) {
    let mc = MultiCrop::new(&small(blur)).unwrap();
    let img = scene(3, 48, 48);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (mut g1, mut g2, mut l, mut nl) = (0usize, 0usize, 0usize, 0usize);
    for _ in 0..n {
        let s = mc.apply(&mut rng, img.view()).unwrap();
        g1 += s.global_records[0].blur_sigma.is_some() as usize;
        g2 += s.global_records[1].blur_sigma.is_some() as usize;
        for r in &s.local_records {
            l += r.blur_sigma.is_some() as usize;
            nl += 1;
            if let Some(sg) = r.blur_sigma {
                assert!((0.1..=2.0).contains(&sg));
            }
            assert!(!r.solarized, "local crops are never solarised");
        }
        assert!(!s.global_records[0].solarized, "global crop 1 is never solarised");
    }
    (g1 as f64 / n as f64, g2 as f64 / n as f64, l as f64 / nl as f64)
}

#[test]
fn blur_probabilities_as_released_and_as_intended() {
    let n = 600;
    let (g1, g2, l) = blur_rates(BlurProbabilities::AsReleased, n);
    println!(
        "as released: global 1 {g1:.3}, global 2 {g2:.3}, local {l:.3} (expected 0, 0.9, 0.5)"
    );
    assert_eq!(g1, 0.0);
    assert!((g2 - 0.9).abs() < 0.04, "{g2}");
    assert!((l - 0.5).abs() < 0.03, "{l}");
    let (g1, g2, l) = blur_rates(BlurProbabilities::AsIntended, n);
    println!(
        "as intended: global 1 {g1:.3}, global 2 {g2:.3}, local {l:.3} (expected 1, 0.1, 0.5)"
    );
    assert_eq!(g1, 1.0);
    assert!((g2 - 0.1).abs() < 0.04, "{g2}");
    assert!((l - 0.5).abs() < 0.03, "{l}");
}

#[test]
fn photometric_probabilities() {
    let mc = MultiCrop::new(&small(BlurProbabilities::AsReleased)).unwrap();
    let img = scene(3, 48, 48);
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let n = 800;
    let (mut jit, mut gray, mut sol, mut total) = (0usize, 0usize, 0usize, 0usize);
    for _ in 0..n {
        let s = mc.apply(&mut rng, img.view()).unwrap();
        for r in s.global_records.iter().chain(&s.local_records) {
            jit += r.jitter.is_some() as usize;
            gray += r.grayscale as usize;
            total += 1;
            if let Some(j) = r.jitter {
                assert!((0.6..=1.4).contains(&j.brightness) && (0.6..=1.4).contains(&j.contrast));
                assert!((0.8..=1.2).contains(&j.saturation) && j.hue.abs() <= 0.1);
                let mut o = j.order;
                o.sort_unstable();
                assert_eq!(o, [0, 1, 2, 3]);
            }
            assert!(!r.flipped, "flips are off in the 7B recipe");
        }
        sol += s.global_records[1].solarized as usize;
    }
    let (jit, gray, sol) =
        (jit as f64 / total as f64, gray as f64 / total as f64, sol as f64 / n as f64);
    println!(
        "colour jitter {jit:.3} (0.8), grayscale {gray:.3} (0.2), solarise on global 2 {sol:.3} (0.2)"
    );
    assert!((jit - 0.8).abs() < 0.02 && (gray - 0.2).abs() < 0.02 && (sol - 0.2).abs() < 0.04);
}

#[test]
fn gram_crops_are_undistorted_resizes_of_the_same_base_crop() {
    let cfg = MultiCropConfig {
        global_crops_size: 32,
        local_crops_size: 16,
        gram_teacher_crops_size: Some(64),
        gram_teacher_no_distortions: true,
        color_jitter: geodino_data::augment::ColorJitter { p: 0.0, ..Default::default() },
        grayscale_p: 0.0,
        solarize_p: 0.0,
        blur: BlurProbabilities::AsReleased, // global 1 never blurred
        ..Default::default()
    }
    .with_normalization(&[0.0; 3], &[1.0; 3]);
    let mc = MultiCrop::new(&cfg).unwrap();
    let img = scene(3, 150, 170);
    let s = mc.apply(&mut ChaCha8Rng::seed_from_u64(3), img.view()).unwrap();
    let gram = s.gram_teacher_crops.as_ref().unwrap();
    assert_eq!(gram.len(), 2);
    assert_eq!(gram[0].dim(), (3, 64, 64));
    assert_eq!(s.global_crops[0].dim(), (3, 32, 32));
    // Without photometric changes, the student crop is the Gram crop at half resolution: both
    // are resizes of the same 64 px base crop (which *is* the Gram crop at size 64).
    let half = geodino_data::augment::resize_bicubic(gram[0].view(), 32, 32, true);
    let diff = (&half - &s.global_crops[0]).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
    assert!(diff < 1e-6, "student crop is not the resized base crop: {diff}");
    // and the base crop is the recorded box of the source image
    let b = s.global_records[0].crop;
    let direct =
        geodino_data::augment::resized_crop(img.view(), b.top, b.left, b.height, b.width, 64, 64);
    assert_eq!(direct, gram[0]);
    // the preset
    let p = MultiCropConfig::vit7b_gram_anchor();
    assert_eq!((p.gram_teacher_crops_size, p.gram_teacher_no_distortions), (Some(512), true));
}

#[test]
fn four_band_imagery_keeps_the_extra_band_out_of_colour_ops() {
    let cfg = MultiCropConfig {
        global_crops_size: 24,
        local_crops_size: 12,
        color_jitter: geodino_data::augment::ColorJitter { p: 1.0, ..Default::default() },
        grayscale_p: 1.0,
        blur: BlurProbabilities::AsReleased,
        solarize_p: 0.0,
        ..Default::default()
    }
    .with_normalization(&[0.0; 4], &[1.0; 4]);
    let mc = MultiCrop::new(&cfg).unwrap();
    let img = scene(4, 60, 60);
    let s = mc.apply(&mut ChaCha8Rng::seed_from_u64(4), img.view()).unwrap();
    let g = &s.global_crops[0]; // never blurred, always jittered and grayscaled
    // bands 0..3 equal (grayscale), band 3 is the plain resized crop
    assert_eq!(g.index_axis(Axis(0), 0), g.index_axis(Axis(0), 1));
    let b = s.global_records[0].crop;
    let direct =
        geodino_data::augment::resized_crop(img.view(), b.top, b.left, b.height, b.width, 24, 24);
    assert_eq!(g.slice(s![3, .., ..]), direct.slice(s![3, .., ..]));
    // a 3-band normalisation on a 4-band image is an error naming the counts
    let bad = MultiCrop::new(&MultiCropConfig::default()).unwrap();
    let err = bad.apply(&mut ChaCha8Rng::seed_from_u64(0), img.view()).unwrap_err().to_string();
    assert!(err.contains("4 bands") && err.contains("3 means"), "{err}");
}

#[test]
fn config_defaults_presets_and_validation() {
    let cfg: MultiCropConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, MultiCropConfig::default());
    assert_eq!(
        (cfg.global_crops_size, cfg.local_crops_size, cfg.local_crops_number),
        (256, 112, 8)
    );
    assert_eq!(cfg.blur, BlurProbabilities::AsReleased);
    assert!(serde_json::from_str::<MultiCropConfig>(r#"{"global_crop_size": 1}"#).is_err());
    let c: MultiCropConfig = serde_json::from_str(r#"{"blur": "as_intended"}"#).unwrap();
    assert_eq!(c.blur, BlurProbabilities::AsIntended);
    assert_eq!(MultiCropConfig::ssl_default().global_crops_size, 224);
    for bad in [
        MultiCropConfig { global_crops_scale: (0.5, 0.2), ..Default::default() },
        MultiCropConfig { blur_kernel_size: 8, ..Default::default() },
        MultiCropConfig { local_crops_size: 0, ..Default::default() },
        MultiCropConfig { std: vec![1.0, 0.0, 1.0], ..Default::default() },
    ] {
        assert!(MultiCrop::new(&bad).is_err());
    }
    assert!(MultiCrop::new(&MultiCropConfig::default()).unwrap().apply_batch(&[], 0).is_err());
}
