//! Multi-crop throughput: `cargo bench -p geodino-data --bench multicrop`.
//!
//! Augments batches of synthetic 512×512 RGB images with the released recipe (2 global crops of
//! 256 px and 8 local crops of 112 px, blur as released) and prints crops per second on one thread
//! (the baseline, measured in the same run) and on the whole rayon pool, with the ratio. Also
//! reports the share of time spent in resampling alone and the cost of each operation.

use std::time::Instant;

use geodino_data::augment::{
    ColorJitter, JitterParams, RandomResizedCrop, adjust_brightness, adjust_contrast, adjust_hue,
    adjust_saturation, gaussian_blur, normalize, to_grayscale,
};
use geodino_data::multicrop::{MultiCrop, MultiCropConfig};
use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn scene(seed: usize, h: usize, w: usize) -> Array3<f32> {
    Array3::from_shape_fn((3, h, w), |(b, y, x)| {
        let v = 0.5
            + 0.3 * ((x as f32 * 0.031 + (b + seed) as f32).sin() * (y as f32 * 0.027).cos())
            + 0.1 * ((x * 7 + y * 3 + seed) % 13) as f32 / 13.0;
        v.clamp(0.0, 1.0)
    })
}

fn run(mc: &MultiCrop, imgs: &[Array3<f32>], batches: usize) -> f64 {
    let views: Vec<_> = imgs.iter().map(|a| a.view()).collect();
    let t = Instant::now();
    let mut crops = 0usize;
    for b in 0..batches {
        let batch = mc.apply_batch(&views, b as u64).expect("augment");
        crops += batch.global_crops.dim().0 + batch.local_crops.dim().0;
    }
    crops as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let batch = 16;
    let batches = 3;
    let imgs: Vec<Array3<f32>> = (0..batch).map(|i| scene(i, 512, 512)).collect();
    let cfg = MultiCropConfig::vit7b_pretrain();
    let mc = MultiCrop::new(&cfg).expect("config");
    let threads = rayon::current_num_threads();

    // warm-up
    run(&mc, &imgs[..2], 1);
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| run(&mc, &imgs, batches));
    let pool = run(&mc, &imgs, batches);

    // Resampling alone (the crops' RandomResizedCrop), one thread.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let g = RandomResizedCrop { size: 256, scale: cfg.global_crops_scale, ratio: cfg.crop_ratio };
    let l = RandomResizedCrop { size: 112, scale: cfg.local_crops_scale, ratio: cfg.crop_ratio };
    let t = Instant::now();
    let mut n = 0usize;
    for img in &imgs {
        for _ in 0..2 {
            std::hint::black_box(g.apply(&mut rng, img.view()));
            n += 1;
        }
        for _ in 0..8 {
            std::hint::black_box(l.apply(&mut rng, img.view()));
            n += 1;
        }
    }
    let resample_only = n as f64 / t.elapsed().as_secs_f64();

    // Per-operation cost on one 256 px RGB crop, one thread.
    let crop = g.apply(&mut rng, imgs[0].view());
    let time = |f: &mut dyn FnMut()| {
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        1e3 * t.elapsed().as_secs_f64() / reps as f64
    };
    let t_resize = time(&mut || {
        std::hint::black_box(g.apply(&mut rng, imgs[1].view()));
    });
    let params = JitterParams {
        order: [0, 1, 2, 3],
        brightness: 1.2,
        contrast: 0.8,
        saturation: 1.1,
        hue: 0.05,
    };
    let t_jitter = time(&mut || {
        let mut c = crop.clone();
        ColorJitter::apply_params(c.view_mut(), &params);
        std::hint::black_box(c);
    });
    let mut t_ops = [0.0f64; 4];
    for (i, t_op) in t_ops.iter_mut().enumerate() {
        *t_op = time(&mut || {
            let mut c = crop.clone();
            match i {
                0 => adjust_brightness(c.view_mut(), 1.2),
                1 => adjust_contrast(c.view_mut(), 0.8),
                2 => adjust_saturation(c.view_mut(), 1.1),
                _ => adjust_hue(c.view_mut(), 0.05),
            }
            std::hint::black_box(c);
        });
    }
    let t_gray = time(&mut || {
        let mut c = crop.clone();
        to_grayscale(c.view_mut());
        std::hint::black_box(c);
    });
    let t_blur = time(&mut || {
        std::hint::black_box(gaussian_blur(crop.view(), 9, 1.0));
    });
    let t_norm = time(&mut || {
        let mut c = crop.clone();
        normalize(c.view_mut(), &cfg.mean, &cfg.std).expect("normalise");
        std::hint::black_box(c);
    });

    let images_per_s = pool / (2 + cfg.local_crops_number) as f64;
    println!(
        "multi-crop, released recipe (2x256 + 8x112 from 512x512 RGB), batch {batch}, {batches} batches"
    );
    println!("  1 thread (baseline):   {single:8.1} crops/s");
    println!(
        "  {threads} threads (rayon):    {pool:8.1} crops/s   ratio {:.2}x vs 1 thread",
        pool / single
    );
    println!(
        "  = {images_per_s:.1} images/s, {:.0} ms per batch of {batch}",
        1000.0 * batch as f64 / images_per_s
    );
    println!(
        "  resampling alone, 1 thread: {resample_only:8.1} crops/s ({:.0}% of single-thread pipeline time)",
        100.0 * single / resample_only
    );
    println!(
        "  one 256 px crop, ms: random resized crop {t_resize:.2}, colour jitter {t_jitter:.2} \
         (brightness {:.2}, contrast {:.2}, saturation {:.2}, hue {:.2}), \
         grayscale {t_gray:.2}, blur k9 {t_blur:.2}, normalise {t_norm:.2}",
        t_ops[0], t_ops[1], t_ops[2], t_ops[3]
    );
    println!(
        "  machine load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
}
