//! RGB composites with a per-band percentile stretch: the picture of three PCA components of
//! DINOv3 features, or of raw imagery bands.

use ndarray::ArrayView3;

use crate::preview::{self, NODATA};
use crate::{Canvas, Error, Result};

/// A linear stretch of one band: `lo` maps to 0 and `hi` to 255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    /// Value drawn as 0.
    pub lo: f64,
    /// Value drawn as 255.
    pub hi: f64,
}

impl Stretch {
    /// The stretch between the `lo_pct` and `hi_pct` percentiles (0–100) of `values`
    /// (NaN ignored; a constant band maps to mid-grey).
    pub fn percentiles(values: &[f32], lo_pct: f64, hi_pct: f64) -> Stretch {
        let lo = preview::percentile(values, lo_pct).unwrap_or(0.0);
        let hi = preview::percentile(values, hi_pct).unwrap_or(1.0);
        if hi > lo { Stretch { lo, hi } } else { Stretch { lo: lo - 1.0, hi: lo + 1.0 } }
    }

    /// `v` stretched to 0..=255 (clamped).
    #[inline]
    pub fn apply(&self, v: f32) -> u8 {
        let t = (v as f64 - self.lo) / (self.hi - self.lo);
        (t.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// An RGB picture of three bands `(3, row, col)`, each stretched between its `lo_pct` and
/// `hi_pct` percentiles (2 and 98 are usual). Pixels with a NaN in any band are grey.
/// Returns the picture and the three stretches used (apply them to other tiles of the same
/// scene for consistent colours, with [`composite_with`]).
///
/// # Errors
/// [`Error::Invalid`] unless there are exactly three bands.
pub fn rgb_composite(
    bands: ArrayView3<'_, f32>,
    lo_pct: f64,
    hi_pct: f64,
) -> Result<(Canvas, [Stretch; 3])> {
    let (b, _, _) = bands.dim();
    if b != 3 {
        return Err(Error::Invalid(format!("an RGB composite needs 3 bands, got {b}")));
    }
    let st = [0, 1, 2].map(|i| {
        let band: Vec<f32> = bands.index_axis(ndarray::Axis(0), i).iter().copied().collect();
        Stretch::percentiles(&band, lo_pct, hi_pct)
    });
    Ok((composite_with(bands, &st)?, st))
}

/// An RGB picture of three bands with given stretches.
///
/// # Errors
/// [`Error::Invalid`] unless there are exactly three bands.
pub fn composite_with(bands: ArrayView3<'_, f32>, stretches: &[Stretch; 3]) -> Result<Canvas> {
    let (b, h, w) = bands.dim();
    if b != 3 {
        return Err(Error::Invalid(format!("an RGB composite needs 3 bands, got {b}")));
    }
    let mut c = Canvas::new(w, h, NODATA);
    for y in 0..h {
        for x in 0..w {
            let v = [bands[[0, y, x]], bands[[1, y, x]], bands[[2, y, x]]];
            if v.iter().any(|x| x.is_nan()) {
                continue;
            }
            c.set(
                x as i64,
                y as i64,
                [stretches[0].apply(v[0]), stretches[1].apply(v[1]), stretches[2].apply(v[2]), 255],
            );
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn stretch_maps_percentiles_to_the_ends() {
        // Band 0 holds 0..=100 over 101 pixels: the 2nd percentile is 2, the 98th is 98.
        let mut a = Array3::<f32>::zeros((3, 1, 101));
        for i in 0..101 {
            a[[0, 0, i]] = i as f32;
            a[[1, 0, i]] = 5.0; // constant band -> grey
            a[[2, 0, i]] = -(i as f32);
        }
        a[[2, 0, 50]] = f32::NAN;
        let (c, st) = rgb_composite(a.view(), 2.0, 98.0).unwrap();
        assert_eq!((st[0].lo, st[0].hi), (2.0, 98.0));
        assert_eq!(c.get(2, 0)[0], 0);
        assert_eq!(c.get(98, 0)[0], 255);
        assert_eq!(c.get(100, 0)[0], 255);
        assert_eq!(c.get(50, 0), NODATA);
        // Pixel 51 holds 51: (51 - 2) / 96 · 255 = 130.2 -> 130.
        assert_eq!(c.get(51, 0)[0], ((49.0f64 / 96.0) * 255.0).round() as u8);
        assert_eq!(c.get(10, 0)[1], 128);
        assert!(rgb_composite(Array3::<f32>::zeros((2, 1, 1)).view(), 2.0, 98.0).is_err());
    }
}
