//! Exact per-band statistics over valid pixels, computed block by block in parallel.

use geodino_core::{RasterBuffer, RasterElement, RasterRead, Result, with_buffer};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::windows::processing_windows;

/// Statistics of one band over its valid pixels (not nodata, not NaN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandStats {
    /// Smallest valid value (`None` when no pixel is valid).
    pub min: Option<f64>,
    /// Largest valid value.
    pub max: Option<f64>,
    /// Mean of the valid values.
    pub mean: Option<f64>,
    /// Sum of the valid values (compensated summation: exact for integer rasters, within an
    /// ulp or so of the exactly rounded sum for float rasters).
    pub sum: f64,
    /// Number of valid pixels.
    pub valid_count: u64,
}

/// A running accumulator (Neumaier-compensated sum).
#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    sum: f64,
    comp: f64,
    min: f64,
    max: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc { count: 0, sum: 0.0, comp: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Acc {
    #[inline]
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
        self.count += 1;
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    fn merge(mut self, o: Acc) -> Acc {
        self.add_partial(o.sum);
        self.add_partial(o.comp);
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self
    }

    fn add_partial(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn finish(self) -> BandStats {
        let sum = self.sum + self.comp;
        let some = self.count > 0;
        BandStats {
            min: some.then_some(self.min),
            max: some.then_some(self.max),
            mean: some.then(|| sum / self.count as f64),
            sum,
            valid_count: self.count,
        }
    }
}

fn accumulate(
    buf: &RasterBuffer,
    band: usize,
    nodata: Option<geodino_core::NoData>,
    acc: &mut Acc,
) {
    if buf.dtype().is_float() {
        with_buffer!(buf, a => {
            for &v in a.index_axis(ndarray::Axis(0), band).iter() {
                let x = RasterElement::to_f64(v);
                if x.is_nan() || nodata.is_some_and(|n| n.matches(x)) {
                    continue;
                }
                acc.add(x);
            }
        });
        return;
    }
    // Integers: an exact i64 sum per window (at most 2^31 pixels of 32-bit values fit), and
    // min / max in the native type; no compensation needed.
    with_buffer!(buf, a => {
        let nd = nodata.map(|n| n.0);
        let (mut sum, mut count) = (0i64, 0u64);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in a.index_axis(ndarray::Axis(0), band).iter() {
            let x = RasterElement::to_f64(v);
            if nd == Some(x) {
                continue;
            }
            sum += x as i64;
            count += 1;
            if x < lo {
                lo = x;
            }
            if x > hi {
                hi = x;
            }
        }
        if count > 0 {
            let part = Acc { count, sum: sum as f64, comp: (sum - sum as f64 as i64) as f64, min: lo, max: hi };
            *acc = acc.merge(part);
        }
    })
}

/// Exact statistics of the 0-based `bands` of `reader`, over valid pixels. The raster is read
/// in block-aligned windows of about a million pixels, in parallel on rayon's pool: memory is
/// bounded by (threads × window × bands), whatever the raster size. `progress` is called with
/// (windows done, windows total) as windows finish.
///
/// # Errors
/// The first read error (naming the file).
pub fn band_stats(
    reader: &dyn RasterRead,
    bands: &[usize],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<BandStats>> {
    let meta = reader.meta();
    let windows = processing_windows(meta, 1 << 20);
    let total = windows.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let nodata: Vec<_> = bands.iter().map(|&b| meta.nodata(b)).collect();
    let accs = windows
        .par_iter()
        .map(|w| -> Result<Vec<Acc>> {
            let buf = reader.read_window(bands, *w)?;
            let mut accs = vec![Acc::default(); bands.len()];
            for (i, acc) in accs.iter_mut().enumerate() {
                accumulate(&buf, i, nodata[i], acc);
            }
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            Ok(accs)
        })
        .try_reduce(
            || vec![Acc::default(); bands.len()],
            |a, b| Ok(a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect()),
        )?;
    Ok(accs.into_iter().map(Acc::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_is_exact_where_naive_is_not() {
        let mut a = Acc::default();
        let mut naive = 0.0f64;
        for x in [1e16, 1.0, -1e16, 1.0, 0.1, 0.2] {
            a.add(x);
            naive += x;
        }
        let s = a.finish();
        assert_eq!(s.sum, 2.3); // the exactly rounded sum; naive summation gives 2.3000000000000003
        assert_ne!(naive, s.sum);
        assert_eq!((s.min, s.max, s.valid_count), (Some(-1e16), Some(1e16), 6));
        let mut b = Acc::default();
        b.add(5.0);
        let m = Acc::default().merge(b).merge(Acc::default()).finish();
        assert_eq!((m.sum, m.mean, m.valid_count), (5.0, Some(5.0), 1));
        assert_eq!(Acc::default().finish().min, None);
    }
}
