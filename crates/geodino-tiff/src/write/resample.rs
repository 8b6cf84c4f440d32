//! 2 × 2 reductions that build each overview level from the level above, matching GDAL 3.6's
//! overview code where it is exact (see `docs/raster-io.md`): average with nodata/NaN skipped
//! and integer rounding half away from zero, `((a + c) + (b + d)) · 0.25` for a full float
//! block, nearest = the top-left pixel, mode with GDAL's tie rule, and a result that happens
//! to equal nodata nudged to the next value.

use super::codec::Sample;
use super::options::Resampling;

/// Sample arithmetic the reductions need.
pub(crate) trait Reducible: Sample {
    /// Mean of a full 2 × 2 block `[a b; c d]`.
    fn avg4(a: Self, b: Self, c: Self, d: Self) -> Self;
    /// Mean of `n` values whose sum (in `f64`) is `sum`.
    fn avg_n(sum: f64, n: usize) -> Self;
    /// The value used instead of an average that equals the nodata value.
    fn nodata_replacement(nd: Self) -> Self;
}

macro_rules! int_reducible {
    ($($t:ty),*) => {$(
        impl Reducible for $t {
            #[inline]
            fn avg4(a: Self, b: Self, c: Self, d: Self) -> Self {
                let s = a as f64 + b as f64 + c as f64 + d as f64;
                (s * 0.25).round() as $t
            }
            #[inline]
            fn avg_n(sum: f64, n: usize) -> Self {
                (sum / n as f64).round() as $t
            }
            fn nodata_replacement(nd: Self) -> Self {
                if nd == <$t>::MAX { nd - 1 } else { nd + 1 }
            }
        }
    )*};
}
int_reducible!(u8, i8, u16, i16, u32, i32);

macro_rules! float_reducible {
    ($($t:ty),*) => {$(
        impl Reducible for $t {
            #[inline]
            fn avg4(a: Self, b: Self, c: Self, d: Self) -> Self {
                ((a + c) + (b + d)) * 0.25
            }
            #[inline]
            fn avg_n(sum: f64, n: usize) -> Self {
                (sum / n as f64) as $t
            }
            fn nodata_replacement(nd: Self) -> Self {
                if nd == <$t>::MAX { nd.next_down() } else { nd.next_up() }
            }
        }
    )*};
}
float_reducible!(f32, f64);

/// A resolved reduction (never [`Resampling::Auto`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reducer<T> {
    pub kind: Resampling,
    /// The nodata value in the sample type.
    pub nodata: Option<T>,
}

impl<T: Reducible> Reducer<T> {
    #[inline]
    fn valid(&self, v: T) -> bool {
        !v.is_nan() && self.nodata.is_none_or(|n| v != n)
    }

    /// What an output pixel with no valid input becomes.
    #[inline]
    fn empty(&self) -> T {
        self.nodata.unwrap_or_else(|| T::from_f64(f64::NAN))
    }

    #[inline]
    fn finish_average(&self, v: T) -> T {
        match self.nodata {
            Some(n) if v == n => T::nodata_replacement(n),
            _ => v,
        }
    }

    /// Reduce one window of up to 2 × 2 values given row-major (`vals[..n]`, `full` when all
    /// four exist).
    #[inline]
    fn reduce(&self, vals: &[T; 4], n: usize) -> T {
        match self.kind {
            Resampling::Nearest => vals[0],
            Resampling::Average | Resampling::Auto => {
                // GDAL's fast path (no nodata defined): the float formula of `avg4`; with a
                // nodata value GDAL sums in double precision, as below
                if self.nodata.is_none() && n == 4 && vals.iter().all(|&v| !v.is_nan()) {
                    return T::avg4(vals[0], vals[1], vals[2], vals[3]);
                }
                let mut sum = 0.0;
                let mut k = 0;
                for &v in &vals[..n] {
                    if self.valid(v) {
                        sum += v.to_f64();
                        k += 1;
                    }
                }
                if k == 0 { self.empty() } else { self.finish_average(T::avg_n(sum, k)) }
            }
            Resampling::Mode => {
                let mut uniq = [T::default(); 4];
                let mut counts = [0usize; 4];
                let mut nu = 0;
                let mut best: Option<T> = None;
                let mut best_count = 0;
                for &v in &vals[..n] {
                    if !self.valid(v) {
                        continue;
                    }
                    let slot = match uniq[..nu].iter().position(|&u| u == v) {
                        Some(s) => s,
                        None => {
                            uniq[nu] = v;
                            nu += 1;
                            nu - 1
                        }
                    };
                    counts[slot] += 1;
                    if counts[slot] > best_count {
                        best_count = counts[slot];
                        best = Some(v);
                    }
                }
                best.unwrap_or_else(|| self.empty())
            }
        }
    }

    /// Reduce the child tile `child` (`ts × ts × spp`, chunky) into `pw × ph` parent pixels
    /// written at `(ox, oy)` of the parent tile `parent` (same tile size). The child holds
    /// `cw × ch` valid pixels of its level; parent pixel `(i, j)` is computed from child pixels
    /// `[2i, min(2i + 2, cw)) × [2j, min(2j + 2, ch))`.
    pub fn reduce_tile(
        &self,
        child: &[T],
        (cw, ch): (usize, usize),
        parent: &mut [T],
        (ox, oy): (usize, usize),
        (pw, ph): (usize, usize),
        ts: usize,
        spp: usize,
    ) {
        let mut vals = [T::default(); 4];
        for j in 0..ph {
            let r0 = 2 * j;
            let r1 = (r0 + 2).min(ch);
            let prow = (oy + j) * ts;
            for i in 0..pw {
                let c0 = 2 * i;
                let c1 = (c0 + 2).min(cw);
                let pbase = (prow + ox + i) * spp;
                for b in 0..spp {
                    let mut n = 0;
                    for r in r0..r1 {
                        for c in c0..c1 {
                            vals[n] = child[(r * ts + c) * spp + b];
                            n += 1;
                        }
                    }
                    parent[pbase + b] = self.reduce(&vals, n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r<T: Reducible>(kind: Resampling, nodata: Option<T>) -> Reducer<T> {
        Reducer { kind, nodata }
    }

    #[test]
    fn average_rounds_like_gdal_and_skips_nodata() {
        let a = r::<i16>(Resampling::Average, None);
        assert_eq!(a.reduce(&[-1, -2, -2, -2], 4), -2); // -1.75
        assert_eq!(a.reduce(&[-1, -2, -2, -1], 4), -2); // -1.5, half away from zero
        let u = r::<u8>(Resampling::Average, Some(0));
        assert_eq!(u.reduce(&[1, 2, 2, 1], 4), 2);
        assert_eq!(u.reduce(&[0, 2, 2, 0], 4), 2);
        assert_eq!(u.reduce(&[1, 0, 2, 4], 4), 2); // 7/3
        assert_eq!(u.reduce(&[0, 0, 0, 0], 4), 0);
        // an average equal to nodata is nudged, as GDAL does
        let n = r::<u8>(Resampling::Average, Some(2));
        assert_eq!(n.reduce(&[1, 3, 1, 3], 4), 3);
        let f = r::<f32>(Resampling::Average, Some(2.0));
        assert_eq!(f.reduce(&[1.0, 3.0, 1.0, 3.0], 4), 2.0f32.next_up());
        // NaN is always skipped
        let f = r::<f32>(Resampling::Average, None);
        assert_eq!(f.reduce(&[f32::NAN, 1.0, 2.0, 3.0], 4), 2.0);
        assert!(f.reduce(&[f32::NAN; 4], 4).is_nan());
        // partial windows at the edge
        assert_eq!(f.reduce(&[1.0, 2.0, 0.0, 0.0], 2), 1.5);
    }

    #[test]
    fn mode_ties_follow_gdal() {
        let m = r::<u8>(Resampling::Mode, None);
        assert_eq!(m.reduce(&[1, 2, 2, 1], 4), 2);
        assert_eq!(m.reduce(&[1, 2, 1, 2], 4), 1);
        assert_eq!(m.reduce(&[3, 1, 2, 4], 4), 3);
        let m = r::<u8>(Resampling::Mode, Some(0));
        assert_eq!(m.reduce(&[0, 0, 0, 2], 4), 2);
        assert_eq!(m.reduce(&[0, 0, 0, 0], 4), 0);
        let n = r::<u8>(Resampling::Nearest, Some(0));
        assert_eq!(n.reduce(&[0, 5, 5, 5], 4), 0);
    }

    #[test]
    fn tile_reduction_handles_bands_and_odd_edges() {
        // 16x16 tile, 2 bands, valid 3x3 (odd) corner
        let ts = 16;
        let mut child = vec![0u16; ts * ts * 2];
        for r in 0..3 {
            for c in 0..3 {
                child[(r * ts + c) * 2] = (r * 3 + c) as u16;
                child[(r * ts + c) * 2 + 1] = 100;
            }
        }
        let mut parent = vec![9u16; ts * ts * 2];
        r::<u16>(Resampling::Average, None).reduce_tile(
            &child,
            (3, 3),
            &mut parent,
            (8, 0),
            (2, 2),
            ts,
            2,
        );
        // (0,0): [0 1; 3 4] -> 2; (1,0): [2; 5] -> 3.5 -> 4; (0,1): [6 7] -> 6.5 -> 7; (1,1): 8
        assert_eq!(parent[8 * 2], 2);
        assert_eq!(parent[9 * 2], 4);
        assert_eq!(parent[(ts + 8) * 2], 7);
        assert_eq!(parent[(ts + 9) * 2], 8);
        assert_eq!(parent[8 * 2 + 1], 100);
        assert_eq!(parent[0], 9);
    }
}
