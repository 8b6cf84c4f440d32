//! A picture of the DINOv3 pretraining inputs for one aerial image: the crops drawn on the source,
//! the two global crops with their Gram-teacher crops, the eight local crops, and the global crops
//! with iBOT masks.
//!
//! ```text
//! cargo run -p geodino-data --example multicrop_preview -- [IN.tif] [OUT.png] [SEED]
//! ```
//!
//! `IN.tif` is an 8-bit GeoTIFF read with geodino's own reader; it defaults to the NAIP sample
//! `../shared/data/geotiff/m_3607824_se_17_1_20160620_sub.tif` (300×300, 1 m, RGB + NIR: all four
//! bands are augmented, the NIR band untouched by the colour operations). The crops are made
//! with the released recipe at reduced sizes (128 px global, 64 px local, Gram 256 px) on every band
//! read, normalised with SAT-493M statistics (0.5 / 0.25 for any band past the third); the picture
//! shows bands 1-3.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use geodino_data::masking::{IbotMaskConfig, ibot_masks};
use geodino_data::multicrop::{MultiCrop, MultiCropConfig};
use ndarray::{Array3, ArrayView3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Read every band of a GeoTIFF into `(c, h, w)` floats in [0, 1] (8-bit data assumed).
fn read_tiff(path: &Path) -> Result<Array3<f32>> {
    use geodino_core::RasterRead;
    let reader = geodino_tiff::GeoTiffReader::open(path)?;
    if reader.meta().dtype != geodino_core::DataType::Uint8 {
        bail!("{}: only 8-bit images are supported by this example", path.display());
    }
    Ok(reader.read_all()?.to_f32().mapv(|v| v / 255.0))
}

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<[u8; 3]>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Canvas { w, h, px: vec![[250, 250, 250]; w * h] }
    }
    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            self.px[y * self.w + x] = c;
        }
    }
    /// Paste bands 0..3 of `img` (values in [0, 1]) at `(x0, y0)`, scaled by an integer factor.
    fn paste(&mut self, img: ArrayView3<'_, f32>, x0: usize, y0: usize, zoom: usize) {
        let (_, h, w) = img.dim();
        for y in 0..h * zoom {
            for x in 0..w * zoom {
                let (sy, sx) = (y / zoom, x / zoom);
                let v = |b: usize| {
                    (img[[b.min(img.dim().0 - 1), sy, sx]].clamp(0.0, 1.0) * 255.0).round() as u8
                };
                self.set(x0 + x, y0 + y, [v(0), v(1), v(2)]);
            }
        }
    }
    fn rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]) {
        for x in x0..x0 + w {
            self.set(x, y0, c);
            self.set(x, y0 + h.saturating_sub(1), c);
        }
        for y in y0..y0 + h {
            self.set(x0, y, c);
            self.set(x0 + w.saturating_sub(1), y, c);
        }
    }
    fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("png.tmp");
        {
            let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let mut enc = png::Encoder::new(BufWriter::new(f), self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header()?;
            let flat: Vec<u8> = self.px.iter().flatten().copied().collect();
            wr.write_image_data(&flat)?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
        Ok(())
    }
}

/// Undo the normalisation for display.
fn denorm(img: &Array3<f32>, mean: &[f32], std: &[f32]) -> Array3<f32> {
    Array3::from_shape_fn(img.dim(), |(b, y, x)| img[[b, y, x]] * std[b] + mean[b])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = match args.first() {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/geotiff/m_3607824_se_17_1_20160620_sub.tif"),
    };
    let output = PathBuf::from(args.get(1).map_or("multicrop_preview.png", String::as_str));
    let seed: u64 = args.get(2).map_or(Ok(0), |s| s.parse()).context("SEED must be an integer")?;

    let img = read_tiff(&input)?;
    let (c, h, w) = img.dim();
    // SAT-493M statistics for RGB; a neutral one for any further band.
    let mut mean = vec![0.430f32, 0.411, 0.296];
    let mut std = vec![0.213f32, 0.156, 0.143];
    mean.resize(c, 0.5);
    std.resize(c, 0.25);
    mean.truncate(c);
    std.truncate(c);
    let cfg = MultiCropConfig {
        global_crops_size: 128,
        local_crops_size: 64,
        gram_teacher_crops_size: Some(256),
        gram_teacher_no_distortions: true,
        ..MultiCropConfig::default()
    }
    .with_normalization(&mean, &std);
    let mc = MultiCrop::new(&cfg)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = mc.apply(&mut rng, img.view())?;
    let masks = ibot_masks(
        &mut rng,
        2,
        8,
        8,
        &IbotMaskConfig { mask_sample_probability: 1.0, ..Default::default() },
    )?;

    let pad = 8;
    let canvas_w =
        (pad + w + pad).max(pad + 2 * (128 + pad) + 2 * (256 + pad)).max(pad + 8 * (64 + pad));
    let canvas_h = pad + h + pad + 256 + pad + 64 + pad + 128 + pad;
    let mut cv = Canvas::new(canvas_w, canvas_h);

    // Row 1: the source with the crop boxes (global red and blue, local yellow).
    cv.paste(img.view(), pad, pad, 1);
    for r in &s.local_records {
        cv.rect(pad + r.crop.left, pad + r.crop.top, r.crop.width, r.crop.height, [255, 210, 0]);
    }
    for (r, col) in s.global_records.iter().zip([[230, 30, 30], [30, 90, 240]]) {
        cv.rect(pad + r.crop.left, pad + r.crop.top, r.crop.width, r.crop.height, col);
    }
    // Row 2: global crops (student, distorted) and Gram-teacher crops (undistorted, 2x).
    let y2 = pad + h + pad;
    let mut x = pad;
    for g in &s.global_crops {
        cv.paste(denorm(g, &mean, &std).view(), x, y2, 1);
        x += 128 + pad;
    }
    for g in s.gram_teacher_crops.as_ref().expect("gram crops configured") {
        cv.paste(denorm(g, &mean, &std).view(), x, y2, 1);
        x += 256 + pad;
    }
    // Row 3: local crops.
    let y3 = y2 + 256 + pad;
    for (i, l) in s.local_crops.iter().enumerate() {
        cv.paste(denorm(l, &mean, &std).view(), pad + i * (64 + pad), y3, 1);
    }
    // Row 4: global crops with their iBOT masks (8x8 patches of 16 px), masked patches greyed.
    let y4 = y3 + 64 + pad;
    for (k, g) in s.global_crops.iter().enumerate() {
        let mut d = denorm(g, &mean, &std);
        let m = masks.image(k);
        for (p, &on) in m.iter().enumerate() {
            if on {
                let (py, px) = (p / 8 * 16, p % 8 * 16);
                for b in 0..c.min(3) {
                    for yy in py..py + 16 {
                        for xx in px..px + 16 {
                            d[[b, yy, xx]] = 0.35 * d[[b, yy, xx]] + 0.65 * [0.9, 0.2, 0.9][b];
                        }
                    }
                }
            }
        }
        cv.paste(d.view(), pad + k * (128 + pad), y4, 1);
    }
    cv.save(&output)?;
    println!(
        "{}: {c}-band {w}x{h} -> {} global, {} local, 2 Gram crops; iBOT masks of {:?} patches; wrote {}",
        input.display(),
        s.global_crops.len(),
        s.local_crops.len(),
        masks.counts(),
        output.display()
    );
    for (i, r) in s.global_records.iter().enumerate() {
        println!("  global {}: {:?}", i + 1, r);
    }
    Ok(())
}
