//! Antialiased bicubic resampling of `(c, h, w)` float images, the algorithm of PIL's
//! `ImagingResample` (`Resample.c`), which torchvision's `RandomResizedCrop`/`Resize` run on the
//! reference's PIL images, and which `torch.nn.functional.interpolate(..., mode="bicubic",
//! antialias=True)` reproduces for tensors.
//!
//! Per axis and output index `o`, with `scale = in/out` and `fs = max(scale, 1)`:
//! `center = (o + 0.5)·scale`, taps `j ∈ [trunc(center − 2fs + 0.5), trunc(center + 2fs + 0.5))`
//! clipped to the input, weights `k((j − center + 0.5)/fs)` normalised to sum 1, with the Keys
//! cubic kernel at `a = −0.5`. When downscaling the kernel is stretched by the scale factor (the
//! antialiasing); when upscaling it is plain bicubic interpolation. Horizontal pass first, then
//! vertical, as PIL does, in float32 (PIL's 8-bit path also rounds and clips after each pass; we
//! clip the result to `[0, 1]` once).

use ndarray::{Array2, Array3, ArrayView3, Axis, s};

/// Keys' cubic convolution kernel with PIL's `a = −0.5`.
pub fn bicubic_kernel(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The taps of one output position: first input index and normalised weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Taps {
    /// First input index.
    pub start: usize,
    /// Weights of inputs `start..start + weights.len()`.
    pub weights: Vec<f32>,
}

/// PIL's `precompute_coeffs` for resampling `in_len` samples to `out_len`.
pub fn taps(in_len: usize, out_len: usize) -> Vec<Taps> {
    let scale = in_len as f64 / out_len as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_len)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            // C's (int) truncates toward zero; a negative start is clipped to 0 anyway.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax =
                ((center + support + 0.5) as i64).min(in_len as i64).max(xmin as i64) as usize;
            let raw: Vec<f64> =
                (xmin..xmax).map(|j| bicubic_kernel((j as f64 - center + 0.5) * ss)).collect();
            let total: f64 = raw.iter().sum();
            let weights =
                raw.iter().map(|&w| if total != 0.0 { (w / total) as f32 } else { 0.0 }).collect();
            Taps { start: xmin, weights }
        })
        .collect()
}

/// Resample `img` (`(c, h, w)`) to `(c, out_h, out_w)`, antialiased bicubic, clipped to `[0, 1]`
/// when `clip` is set. Returns a copy when the size is unchanged.
pub fn resize_bicubic(
    img: ArrayView3<'_, f32>,
    out_h: usize,
    out_w: usize,
    clip: bool,
) -> Array3<f32> {
    let (c, h, w) = img.dim();
    if (h, w) == (out_h, out_w) {
        return img.to_owned();
    }
    let tx = taps(w, out_w);
    let ty = taps(h, out_h);
    let mut out = Array3::<f32>::zeros((c, out_h, out_w));
    // Rows of the input that the vertical pass reads.
    let row_lo = ty.first().map_or(0, |t| t.start);
    let row_hi = ty.iter().map(|t| t.start + t.weights.len()).max().unwrap_or(0);
    let mut tmp = Array2::<f32>::zeros((row_hi.saturating_sub(row_lo), out_w));
    for ch in 0..c {
        let band = img.index_axis(Axis(0), ch);
        // Horizontal pass: [rows, w] -> [rows, out_w]
        for (r, mut trow) in tmp.axis_iter_mut(Axis(0)).enumerate() {
            let row = band.row(row_lo + r);
            let owned;
            let src: &[f32] = match row.as_slice() {
                Some(s) => s,
                None => {
                    owned = row.to_vec();
                    &owned
                }
            };
            for (o, t) in tx.iter().enumerate() {
                let window = &src[t.start..t.start + t.weights.len()];
                trow[o] = window.iter().zip(&t.weights).map(|(&v, &wgt)| wgt * v).sum();
            }
        }
        // Vertical pass: [rows, out_w] -> [out_h, out_w]
        let mut oband = out.index_axis_mut(Axis(0), ch);
        for (o, t) in ty.iter().enumerate() {
            let mut orow = oband.row_mut(o);
            for (k, &wgt) in t.weights.iter().enumerate() {
                let src = tmp.row(t.start + k - row_lo);
                orow.zip_mut_with(&src, |d, &s| *d += wgt * s);
            }
            if clip {
                orow.mapv_inplace(|v| v.clamp(0.0, 1.0));
            }
        }
    }
    out
}

/// Crop `(top, left, height, width)` out of `img` and resample it to `(out_h, out_w)`
/// (torchvision's `resized_crop`: the crop is an image of its own, nothing outside it is read).
pub fn resized_crop(
    img: ArrayView3<'_, f32>,
    top: usize,
    left: usize,
    height: usize,
    width: usize,
    out_h: usize,
    out_w: usize,
) -> Array3<f32> {
    let view = img.slice(s![.., top..top + height, left..left + width]);
    resize_bicubic(view, out_h, out_w, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values_derived_by_hand() {
        assert_eq!(bicubic_kernel(0.0), 1.0);
        assert_eq!(bicubic_kernel(1.0), 0.0);
        assert_eq!(bicubic_kernel(2.0), 0.0);
        assert_eq!(bicubic_kernel(0.25), 0.8671875);
        assert_eq!(bicubic_kernel(0.75), 0.2265625);
        assert_eq!(bicubic_kernel(-1.25), -0.0703125);
        assert_eq!(bicubic_kernel(1.75), -0.0234375);
        assert_eq!(bicubic_kernel(0.5), 0.5625);
        assert_eq!(bicubic_kernel(1.5), -0.0625);
    }

    #[test]
    fn halving_uses_eight_stretched_taps() {
        // scale 2: center 2o + 1, support 4, taps 2o − 3 .. 2o + 4, x = (j − 2o − 0.5)/2.
        let t = taps(32, 16);
        let mid = &t[8];
        assert_eq!(mid.start, 13);
        let expect = [
            -0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125,
            -0.0234375,
        ]
        .map(|w: f64| (w / 2.0) as f32);
        assert_eq!(mid.weights, expect);
        // at the border the taps are clipped and renormalised
        assert_eq!(t[0].start, 0);
        let sum: f32 = t[0].weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    #[test]
    fn doubling_is_plain_bicubic_at_quarter_offsets() {
        // upscale ×2: center (o + 0.5)/2, x = j − center + 0.5: offsets ±0.25, ±0.75, ±1.25, ±1.75.
        let t = taps(8, 16);
        let w = &t[8]; // center 4.25: taps 2..=5 -> x = -1.75, -0.75, 0.25, 1.25
        assert_eq!(w.start, 2);
        assert_eq!(w.weights.len(), 4);
        let expect = [-0.0234375f32, 0.2265625, 0.8671875, -0.0703125];
        for (a, e) in w.weights.iter().zip(expect) {
            assert!((a - e).abs() < 1e-7, "{a} vs {e}");
        }
    }

    #[test]
    fn constants_and_ramps_are_preserved() {
        let img = Array3::from_shape_fn((2, 40, 30), |(c, _, _)| 0.25 + 0.5 * c as f32);
        let out = resize_bicubic(img.view(), 17, 23, true);
        for c in 0..2 {
            let e = 0.25 + 0.5 * c as f32;
            assert!(out.index_axis(Axis(0), c).iter().all(|&v| (v - e).abs() < 1e-6));
        }
        // a horizontal ramp x/W stays a ramp away from the borders (symmetric kernels reproduce
        // linear functions), sampled at the output pixel centres
        let (h, w, ow) = (8usize, 64usize, 16usize);
        let ramp = Array3::from_shape_fn((1, h, w), |(_, _, x)| (x as f32 + 0.5) / w as f32);
        let out = resize_bicubic(ramp.view(), h, ow, false);
        for o in 2..ow - 2 {
            let e = (o as f32 + 0.5) / ow as f32;
            assert!((out[[0, 3, o]] - e).abs() < 1e-5, "{o}: {} vs {e}", out[[0, 3, o]]);
        }
    }
}
