//! Image augmentations of the DINOv3 recipe on `(c, h, w)` float32 images with values in `[0, 1]`
//! (`ndarray::Array3<f32>`), after torchvision's transforms as `dinov3/data/augmentations.py`
//! (facebookresearch/dinov3 at 6876159) uses them:
//!
//! * [`RandomResizedCrop`]: torchvision's parameter sampling (scale and log-ratio, 10 attempts,
//!   centre-crop fallback) and PIL's antialiased bicubic resampling ([`resize`]);
//! * [`hflip`];
//! * [`ColorJitter`] (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1 in a random order,
//!   applied with probability 0.8) and [`to_grayscale`] (probability 0.2), with torchvision's
//!   tensor formulas;
//! * [`gaussian_blur`] (kernel 9, σ ~ U(0.1, 2), reflect padding);
//! * [`solarize`] (threshold 128/255: `x ≥ 128` on the 8-bit scale the reference works on);
//! * [`normalize`] by per-band mean and standard deviation.
//!
//! **N-band imagery.** Colour operations treat bands 0, 1, 2 as red, green, blue and leave further
//! bands (near infrared, …) untouched; with fewer than 3 bands brightness and contrast act on all
//! bands (contrast around their joint mean) and saturation, hue and grayscale are no-ops, as
//! torchvision does for one-channel images. Geometric operations, blur and solarisation act on
//! every band; normalisation takes one mean and one standard deviation per band.

pub mod resize;

use ndarray::{Array3, ArrayView3, ArrayViewMut3, Axis, Zip, s};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use resize::{resize_bicubic, resized_crop};

/// A crop rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// torchvision's `RandomResizedCrop`: a crop covering a random fraction `scale` of the area with a
/// random aspect ratio (log-uniform in `ratio`), resampled to `size × size`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomResizedCrop {
    /// Output side in pixels.
    pub size: usize,
    /// Range of the crop area as a fraction of the image area.
    pub scale: (f64, f64),
    /// Range of the crop aspect ratio `width / height`. torchvision's default (3/4, 4/3).
    pub ratio: (f64, f64),
}

impl RandomResizedCrop {
    /// A crop to `size` with area fraction `scale` and torchvision's default ratio (3/4, 4/3).
    pub fn new(size: usize, scale: (f64, f64)) -> Self {
        RandomResizedCrop { size, scale, ratio: (3.0 / 4.0, 4.0 / 3.0) }
    }

    /// torchvision's `get_params`: 10 attempts at `area·U(scale)` with ratio `exp(U(ln ratio))`,
    /// `w = round(√(area·r))`, `h = round(√(area/r))`, accepted when it fits; otherwise the
    /// largest centred crop with the ratio clamped to `ratio`.
    pub fn sample_box<R: Rng + ?Sized>(&self, rng: &mut R, height: usize, width: usize) -> CropBox {
        let area = (height * width) as f64;
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * rng.random_range(self.scale.0..=self.scale.1);
            let aspect = rng.random_range(lr0..=lr1).exp();
            let w = (target_area * aspect).sqrt().round_ties_even() as usize;
            let h = (target_area / aspect).sqrt().round_ties_even() as usize;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return CropBox { top, left, height: h, width: w };
            }
        }
        // Fallback to a central crop.
        let in_ratio = width as f64 / height as f64;
        let (w, h) = if in_ratio < self.ratio.0.min(self.ratio.1) {
            (
                width,
                ((width as f64 / self.ratio.0.min(self.ratio.1)).round_ties_even() as usize).max(1),
            )
        } else if in_ratio > self.ratio.0.max(self.ratio.1) {
            (
                ((height as f64 * self.ratio.0.max(self.ratio.1)).round_ties_even() as usize)
                    .max(1),
                height,
            )
        } else {
            (width, height)
        };
        let (w, h) = (w.min(width), h.min(height));
        CropBox { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
    }

    /// Sample a box and resample it to `size × size`.
    ///
    /// # Shapes
    /// `(c, h, w)` → `(c, size, size)`.
    pub fn apply<R: Rng + ?Sized>(&self, rng: &mut R, img: ArrayView3<'_, f32>) -> Array3<f32> {
        self.apply_with_box(rng, img).0
    }

    /// [`RandomResizedCrop::apply`], also returning the sampled box.
    pub fn apply_with_box<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        img: ArrayView3<'_, f32>,
    ) -> (Array3<f32>, CropBox) {
        let (_, h, w) = img.dim();
        let b = self.sample_box(rng, h, w);
        (resized_crop(img, b.top, b.left, b.height, b.width, self.size, self.size), b)
    }
}

/// Mirror left-right, in place.
pub fn hflip(mut img: ArrayViewMut3<'_, f32>) {
    let (c, h, w) = img.dim();
    for ch in 0..c {
        for r in 0..h {
            let mut row = img.slice_mut(s![ch, r, ..]);
            for j in 0..w / 2 {
                row.swap(j, w - 1 - j);
            }
        }
    }
}

/// torchvision's `rgb_to_grayscale` weights.
const GRAY: [f32; 3] = [0.2989, 0.587, 0.114];

/// Luma of bands 0..3 as a `(h, w)` plane.
fn luma(img: ArrayView3<'_, f32>) -> ndarray::Array2<f32> {
    let (r, g, b) =
        (img.index_axis(Axis(0), 0), img.index_axis(Axis(0), 1), img.index_axis(Axis(0), 2));
    let mut out = ndarray::Array2::<f32>::zeros(r.dim());
    Zip::from(&mut out).and(&r).and(&g).and(&b).for_each(|o, &r, &g, &b| {
        *o = GRAY[0] * r + GRAY[1] * g + GRAY[2] * b;
    });
    out
}

/// Number of leading bands that colour operations treat as RGB (3, or all bands when fewer).
fn colour_bands(c: usize) -> usize {
    c.min(3)
}

/// `(f·x + (1 − f)·other).clamp(0, 1)` (torchvision's `_blend`).
fn blend(x: f32, other: f32, f: f32) -> f32 {
    (f * x + (1.0 - f) * other).clamp(0.0, 1.0)
}

/// Brightness: blend with black.
pub fn adjust_brightness(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    let nb = colour_bands(img.dim().0);
    img.slice_mut(s![..nb, .., ..]).mapv_inplace(|v| blend(v, 0.0, factor));
}

/// Contrast: blend with the mean grey level of the image.
pub fn adjust_contrast(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    let c = img.dim().0;
    let mean =
        if c >= 3 { luma(img.view()).mean().unwrap_or(0.0) } else { img.mean().unwrap_or(0.0) };
    let nb = colour_bands(c);
    img.slice_mut(s![..nb, .., ..]).mapv_inplace(|v| blend(v, mean, factor));
}

/// Saturation: blend with the grey image (no-op below 3 bands).
pub fn adjust_saturation(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    if img.dim().0 < 3 {
        return;
    }
    let gray = luma(img.view());
    for ch in 0..3 {
        let mut band = img.index_axis_mut(Axis(0), ch);
        Zip::from(&mut band).and(&gray).for_each(|v, &g| *v = blend(*v, g, factor));
    }
}

/// Hue: rotate the hue by `factor ∈ [−0.5, 0.5]` turns in HSV (torchvision's `_rgb2hsv` /
/// `_hsv2rgb`; no-op below 3 bands).
pub fn adjust_hue(mut img: ArrayViewMut3<'_, f32>, factor: f32) {
    if img.dim().0 < 3 {
        return;
    }
    let (_, h, w) = img.dim();
    if let Some(all) = img.as_slice_mut() {
        // Standard layout: the three bands are consecutive planes.
        let (r, rest) = all.split_at_mut(h * w);
        let (g, rest) = rest.split_at_mut(h * w);
        let b = &mut rest[..h * w];
        for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
            (*r, *g, *b) = shift_hue(*r, *g, *b, factor);
        }
        return;
    }
    let (r, rest) = img.view_mut().split_at(Axis(0), 1);
    let (g, rest) = rest.split_at(Axis(0), 1);
    let b = rest.slice_move(s![0..1, .., ..]);
    Zip::from(r).and(g).and(b).for_each(|r, g, b| {
        let (nr, ng, nb) = shift_hue(*r, *g, *b, factor);
        (*r, *g, *b) = (nr, ng, nb);
    });
}

/// One pixel of [`adjust_hue`].
fn shift_hue(r: f32, g: f32, b: f32, factor: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let crd = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd);
    let hr = if maxc == r { bc - gc } else { 0.0 };
    let hg = if maxc == g && maxc != r { 2.0 + rc - bc } else { 0.0 };
    let hb = if maxc != g && maxc != r { 4.0 + gc - rc } else { 0.0 };
    // torch.fmod(h/6 + 1, 1) and Python-style `% 1.0`: both `x − floor(x)` here, exactly.
    let frac = |x: f32| x - x.floor();
    let hue = frac((hr + hg + hb) / 6.0 + 1.0);
    let hue = frac(hue + factor);
    let v = maxc;
    let i = (hue * 6.0).floor();
    let f = hue * 6.0 - i;
    let i = (i as i64).rem_euclid(6) as usize;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Replace bands 0..3 by their luma (`RandomGrayscale` keeps the channel count; no-op below 3
/// bands).
pub fn to_grayscale(mut img: ArrayViewMut3<'_, f32>) {
    if img.dim().0 < 3 {
        return;
    }
    let gray = luma(img.view());
    for ch in 0..3 {
        img.index_axis_mut(Axis(0), ch).assign(&gray);
    }
}

/// Colour-jitter strengths (torchvision's `ColorJitter` arguments) and the probability of applying
/// it. `Default` is the reference: `RandomApply([ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColorJitter {
    /// Probability of applying the jitter at all. Default 0.8.
    pub p: f64,
    /// Brightness factor drawn from `[max(0, 1 − b), 1 + b]`. Default 0.4.
    pub brightness: f64,
    /// Contrast factor drawn from `[max(0, 1 − c), 1 + c]`. Default 0.4.
    pub contrast: f64,
    /// Saturation factor drawn from `[max(0, 1 − s), 1 + s]`. Default 0.2.
    pub saturation: f64,
    /// Hue shift drawn from `[−h, h]` turns (`h ≤ 0.5`). Default 0.1.
    pub hue: f64,
}

impl Default for ColorJitter {
    fn default() -> Self {
        ColorJitter { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 }
    }
}

/// One draw of the jitter: the order of the four operations and their factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JitterParams {
    /// Operation order: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [usize; 4],
    /// Brightness factor.
    pub brightness: f32,
    /// Contrast factor.
    pub contrast: f32,
    /// Saturation factor.
    pub saturation: f32,
    /// Hue shift in turns.
    pub hue: f32,
}

impl ColorJitter {
    fn factor<R: Rng + ?Sized>(rng: &mut R, strength: f64) -> f32 {
        if strength <= 0.0 {
            return 1.0;
        }
        rng.random_range((1.0 - strength).max(0.0)..=1.0 + strength) as f32
    }

    /// Draw the order (`randperm(4)`) and the factors.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> JitterParams {
        let mut order = [0usize, 1, 2, 3];
        order.shuffle(rng);
        let brightness = Self::factor(rng, self.brightness);
        let contrast = Self::factor(rng, self.contrast);
        let saturation = Self::factor(rng, self.saturation);
        let hue = if self.hue > 0.0 { rng.random_range(-self.hue..=self.hue) as f32 } else { 0.0 };
        JitterParams { order, brightness, contrast, saturation, hue }
    }

    /// Apply drawn parameters.
    pub fn apply_params(mut img: ArrayViewMut3<'_, f32>, p: &JitterParams) {
        for &op in &p.order {
            match op {
                0 => adjust_brightness(img.view_mut(), p.brightness),
                1 => adjust_contrast(img.view_mut(), p.contrast),
                2 => adjust_saturation(img.view_mut(), p.saturation),
                _ => {
                    if p.hue != 0.0 {
                        adjust_hue(img.view_mut(), p.hue)
                    }
                }
            }
        }
    }

    /// With probability `p`, draw parameters and apply them. Returns what was applied.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        img: ArrayViewMut3<'_, f32>,
    ) -> Option<JitterParams> {
        if rng.random::<f64>() < self.p {
            let params = self.sample(rng);
            Self::apply_params(img, &params);
            Some(params)
        } else {
            None
        }
    }
}

/// torchvision's `_get_gaussian_kernel1d`: `exp(−x²/2σ²)` at `x = −(k−1)/2 … (k−1)/2`, normalised.
pub fn gaussian_kernel1d(kernel_size: usize, sigma: f32) -> Vec<f32> {
    let half = (kernel_size as f32 - 1.0) * 0.5;
    let pdf: Vec<f32> = (0..kernel_size)
        .map(|i| {
            let x = -half + i as f32;
            (-0.5 * (x / sigma) * (x / sigma)).exp()
        })
        .collect();
    let sum: f32 = pdf.iter().sum();
    pdf.into_iter().map(|v| v / sum).collect()
}

/// Reflect an index into `0..n` without repeating the edge (`mode="reflect"`).
fn reflect(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = i.rem_euclid(period);
    (if m < n as i64 { m } else { period - m }) as usize
}

/// Gaussian blur with an odd `kernel_size` and standard deviation `sigma`, reflect padding,
/// separable (torchvision's `gaussian_blur` on tensors, which it also uses for PIL images).
///
/// # Shapes
/// `(c, h, w)` → `(c, h, w)`.
pub fn gaussian_blur(img: ArrayView3<'_, f32>, kernel_size: usize, sigma: f32) -> Array3<f32> {
    let k = gaussian_kernel1d(kernel_size, sigma);
    let pad = (kernel_size / 2) as i64;
    let (c, h, w) = img.dim();
    let mut tmp = Array3::<f32>::zeros((c, h, w));
    let mut out = Array3::<f32>::zeros((c, h, w));
    let pad_u = pad as usize;
    let yi: Vec<Vec<usize>> = (0..h as i64)
        .map(|y| (0..kernel_size as i64).map(|t| reflect(y + t - pad, h)).collect())
        .collect();
    // A reflect-padded copy of one row, reused.
    let mut padded = vec![0.0f32; w + 2 * pad_u];
    for ch in 0..c {
        let src = img.index_axis(Axis(0), ch);
        let mut t = tmp.index_axis_mut(Axis(0), ch);
        for y in 0..h {
            let row = src.row(y);
            for (i, p) in padded.iter_mut().enumerate() {
                *p = row[reflect(i as i64 - pad, w)];
            }
            let mut trow = t.row_mut(y);
            for (x, out) in trow.iter_mut().enumerate() {
                let window = &padded[x..x + kernel_size];
                *out = window.iter().zip(&k).map(|(&v, &kv)| kv * v).sum();
            }
        }
        let t = tmp.index_axis(Axis(0), ch);
        let mut o = out.index_axis_mut(Axis(0), ch);
        for y in 0..h {
            let mut orow = o.row_mut(y);
            for (&j, &kv) in yi[y].iter().zip(&k) {
                orow.zip_mut_with(&t.row(j), |d, &s| *d += kv * s);
            }
        }
    }
    out
}

/// Solarise: `x ≥ threshold → 1 − x` on every band.
pub fn solarize(mut img: ArrayViewMut3<'_, f32>, threshold: f32) {
    img.mapv_inplace(|v| if v >= threshold { 1.0 - v } else { v });
}

/// The reference threshold: 128 on the 8-bit scale, `128/255` here.
pub const SOLARIZE_THRESHOLD: f32 = 128.0 / 255.0;

/// `(x − mean[b]) / std[b]` per band.
///
/// # Errors
/// [`Error::Invalid`] when `mean`/`std` do not have one entry per band or a std is not positive.
pub fn normalize(mut img: ArrayViewMut3<'_, f32>, mean: &[f32], std: &[f32]) -> Result<()> {
    let c = img.dim().0;
    if mean.len() != c || std.len() != c {
        return Err(Error::Invalid(format!(
            "normalisation has {} means and {} stds for a {c}-band image",
            mean.len(),
            std.len()
        )));
    }
    if let Some(s) = std.iter().find(|&&s| s.is_nan() || s <= 0.0) {
        return Err(Error::Invalid(format!("normalisation std must be > 0, got {s}")));
    }
    for (ch, mut band) in img.axis_iter_mut(Axis(0)).enumerate() {
        let (m, inv) = (mean[ch], 1.0 / std[ch]);
        band.mapv_inplace(|v| (v - m) * inv);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn px(r: f32, g: f32, b: f32) -> Array3<f32> {
        Array3::from_shape_vec((3, 1, 1), vec![r, g, b]).unwrap()
    }

    #[test]
    fn hue_rotation_by_a_third_cycles_primaries() {
        let mut red = px(1.0, 0.0, 0.0);
        adjust_hue(red.view_mut(), 1.0 / 3.0);
        assert!((red[[1, 0, 0]] - 1.0).abs() < 1e-5 && red[[0, 0, 0]].abs() < 1e-5, "{red:?}");
        // zero shift is the identity on a mixed colour, grey has no hue
        let mut c = px(0.2, 0.5, 0.9);
        adjust_hue(c.view_mut(), 0.0);
        assert!((c[[0, 0, 0]] - 0.2).abs() < 1e-6 && (c[[2, 0, 0]] - 0.9).abs() < 1e-6);
        let mut g = px(0.4, 0.4, 0.4);
        adjust_hue(g.view_mut(), 0.25);
        assert!(g.iter().all(|&v| (v - 0.4).abs() < 1e-6));
    }

    #[test]
    fn brightness_contrast_saturation_by_hand() {
        let mut a = px(0.5, 0.25, 1.0);
        adjust_brightness(a.view_mut(), 1.4);
        assert_eq!(a.as_slice().unwrap(), &[0.7, 0.35, 1.0]);
        // contrast 0 collapses to the mean luma
        let mut b = px(0.5, 0.25, 1.0);
        adjust_contrast(b.view_mut(), 0.0);
        let l = 0.2989 * 0.5 + 0.587 * 0.25 + 0.114 * 1.0;
        assert!(b.iter().all(|&v| (v - l).abs() < 1e-6));
        // saturation 0 is grayscale
        let mut c = px(0.5, 0.25, 1.0);
        adjust_saturation(c.view_mut(), 0.0);
        let mut d = px(0.5, 0.25, 1.0);
        to_grayscale(d.view_mut());
        assert_eq!(c, d);
    }

    #[test]
    fn extra_bands_are_left_alone_by_colour_ops() {
        let mut img = Array3::from_shape_fn((4, 2, 2), |(c, y, x)| 0.1 * (c + y + x) as f32);
        let nir = img.index_axis(Axis(0), 3).to_owned();
        let p = JitterParams {
            order: [3, 2, 1, 0],
            brightness: 1.3,
            contrast: 0.7,
            saturation: 0.5,
            hue: 0.05,
        };
        ColorJitter::apply_params(img.view_mut(), &p);
        to_grayscale(img.view_mut());
        assert_eq!(img.index_axis(Axis(0), 3), nir);
    }

    #[test]
    fn blur_kernel_and_reflection() {
        let k = gaussian_kernel1d(9, 1.0);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((k[4] / k[3] - (0.5f32).exp()).abs() < 1e-5);
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(-4, 5), 4);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(7, 3), 1);
        // a constant image stays constant; an impulse spreads to the kernel
        let flat = Array3::from_elem((1, 12, 12), 0.3f32);
        assert!(gaussian_blur(flat.view(), 9, 1.5).iter().all(|&v| (v - 0.3).abs() < 1e-6));
        let mut imp = Array3::<f32>::zeros((1, 21, 21));
        imp[[0, 10, 10]] = 1.0;
        let b = gaussian_blur(imp.view(), 9, 1.5);
        let k = gaussian_kernel1d(9, 1.5);
        assert!((b[[0, 10, 12]] - k[4] * k[6]).abs() < 1e-7);
        // tiny images (smaller than the padding) do not panic
        let tiny = Array3::from_elem((1, 2, 3), 0.5f32);
        assert!(gaussian_blur(tiny.view(), 9, 2.0).iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }

    #[test]
    fn solarize_and_normalize() {
        let mut a = px(0.2, 128.0 / 255.0, 0.9);
        solarize(a.view_mut(), SOLARIZE_THRESHOLD);
        assert_eq!(a.as_slice().unwrap(), &[0.2, 1.0 - 128.0 / 255.0, 1.0 - 0.9]);
        let mut b = px(0.5, 0.5, 0.5);
        normalize(b.view_mut(), &[0.5, 0.25, 0.0], &[1.0, 0.5, 2.0]).unwrap();
        assert_eq!(b.as_slice().unwrap(), &[0.0, 0.5, 0.25]);
        assert!(normalize(b.view_mut(), &[0.5], &[1.0]).is_err());
        assert!(normalize(b.view_mut(), &[0.0; 3], &[1.0, 0.0, 1.0]).is_err());
    }

    #[test]
    fn hflip_mirrors_columns() {
        let mut img = Array3::from_shape_fn((2, 2, 5), |(c, y, x)| (c * 100 + y * 10 + x) as f32);
        let orig = img.clone();
        hflip(img.view_mut());
        for x in 0..5 {
            assert_eq!(img[[1, 1, x]], orig[[1, 1, 4 - x]]);
        }
    }
}
