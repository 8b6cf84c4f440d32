//! Principal components of a feature raster, streamed: the picture DINO users look at first
//! (the first three components as red, green and blue).
//!
//! 1. **Covariance pass** ([`Pca::fit`]): windows of rows are read in turn; the valid pixels
//!    (every band finite and not nodata), at most `max_samples` of them taken at a regular
//!    stride, are centred on a fixed shift (the first window's mean, which keeps the f64 sums
//!    well conditioned) and accumulated as `Σx` and `XᵀX` (a `d × d` matrix product per window).
//!    Memory: one window plus `d²` f64.
//! 2. **Components**: the top `k` eigenvectors of the covariance by subspace iteration
//!    (`k + 4` vectors, Gram–Schmidt, Rayleigh–Ritz with a Jacobi eigensolver), each with its
//!    largest loading made positive so the colours are reproducible.
//! 3. **Stretch pass** ([`Pca::stretch`]): projections histogrammed over `±6σ`; the 1st and 99th
//!    percentiles map to 0 and 255.
//! 4. **Projection pass** ([`Pca::render_rows`]): each window projected and stretched to RGB.

use geodino_core::{RasterRead, Window};
use ndarray::{Array1, Array2, ArrayView2, Axis, s};

use crate::{Error, Result};

/// Options of [`Pca::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcaOptions {
    /// Components to compute. Default 3.
    pub components: usize,
    /// At most this many pixels enter the covariance (taken at a regular stride). Default 4 M.
    pub max_samples: u64,
    /// Bytes of feature pixels read per window. Default 64 MiB.
    pub window_bytes: usize,
}

impl Default for PcaOptions {
    fn default() -> Self {
        PcaOptions { components: 3, max_samples: 4_000_000, window_bytes: 64 << 20 }
    }
}

/// Principal components of a feature raster.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Mean feature `(d)`.
    pub mean: Vec<f64>,
    /// Components `(k, d)`, unit length, by decreasing variance.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variances: Vec<f64>,
    /// Total variance (trace of the covariance).
    pub total_variance: f64,
    /// Pixels that entered the covariance.
    pub samples: u64,
}

/// Rows per window for `width` pixels of `bands` f32 values within `bytes`.
fn window_rows(width: usize, bands: usize, bytes: usize) -> usize {
    (bytes / (width * bands * 4).max(1)).max(1)
}

/// Row windows covering the raster.
fn row_windows(width: usize, height: usize, rows: usize) -> impl Iterator<Item = Window> {
    (0..height).step_by(rows).map(move |r| Window::new(0, r as i64, width, rows.min(height - r)))
}

/// Valid pixels of a `(d, rows, w)` window as `(pixel index, values)` in a `(n, d)` matrix.
fn valid_pixels(
    data: &ndarray::Array3<f32>,
    nodata: &[Option<geodino_core::NoData>],
    keep: impl Fn(usize) -> bool,
) -> (Vec<usize>, Array2<f64>) {
    let (d, h, w) = data.dim();
    let mut idx = Vec::new();
    for p in 0..h * w {
        if !keep(p) {
            continue;
        }
        let (y, x) = (p / w, p % w);
        let ok = (0..d).all(|b| {
            let v = data[[b, y, x]];
            v.is_finite() && !nodata[b].is_some_and(|n| n.matches(v as f64))
        });
        if ok {
            idx.push(p);
        }
    }
    let mut m = Array2::<f64>::zeros((idx.len(), d));
    for (i, &p) in idx.iter().enumerate() {
        let (y, x) = (p / w, p % w);
        for b in 0..d {
            m[[i, b]] = data[[b, y, x]] as f64;
        }
    }
    (idx, m)
}

impl Pca {
    /// The covariance pass and the components (see the module docs). `progress(done, total)`
    /// counts rows.
    ///
    /// # Errors
    /// Read errors, fewer than two valid pixels, fewer bands than components.
    pub fn fit(
        reader: &dyn RasterRead,
        opts: &PcaOptions,
        progress: &dyn Fn(usize, usize),
    ) -> Result<Pca> {
        let m = reader.meta();
        let d = m.band_count();
        let k = opts.components;
        if d < k {
            return Err(Error::input(
                reader.path(),
                format!("{d} band(s): at least {k} are needed for {k} principal components"),
            ));
        }
        let bands: Vec<usize> = (0..d).collect();
        let nodata: Vec<_> = (0..d).map(|b| m.nodata(b)).collect();
        let total = (m.width * m.height) as u64;
        let step = total.div_ceil(opts.max_samples.max(1)).max(1) as usize;
        let rows = window_rows(m.width, d, opts.window_bytes);
        let mut shift: Option<Array1<f64>> = None;
        let mut sum = Array1::<f64>::zeros(d);
        let mut gram = Array2::<f64>::zeros((d, d));
        let mut n = 0u64;
        for win in row_windows(m.width, m.height, rows) {
            let data = reader.read_window(&bands, win)?.to_f32();
            let base = win.row_off as usize * m.width;
            let (_, mut x) = valid_pixels(&data, &nodata, |p| (base + p).is_multiple_of(step));
            if x.nrows() > 0 {
                let sh = shift.get_or_insert_with(|| x.mean_axis(Axis(0)).expect("rows > 0"));
                x -= &sh.view().insert_axis(Axis(0));
                sum += &x.sum_axis(Axis(0));
                gram += &x.t().dot(&x);
                n += x.nrows() as u64;
            }
            progress(win.row_off as usize + win.height, m.height);
        }
        if n < 2 {
            return Err(Error::input(
                reader.path(),
                format!("{n} valid pixel(s): not enough for principal components"),
            ));
        }
        let shift = shift.expect("n > 0");
        let mu = &sum / n as f64; // mean of the shifted samples
        let mut cov = gram;
        for i in 0..d {
            for j in 0..d {
                cov[[i, j]] = (cov[[i, j]] - n as f64 * mu[i] * mu[j]) / (n - 1) as f64;
            }
        }
        let total_variance = cov.diag().sum();
        let (variances, components) = top_eigen(cov.view(), k);
        Ok(Pca { mean: (shift + mu).to_vec(), components, variances, total_variance, samples: n })
    }

    /// Project pixels `(n, d)` onto the components: `(n, k)`.
    pub fn project(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let k = self.components.len();
        let d = self.mean.len();
        let mut v = Array2::<f64>::zeros((d, k));
        for (c, comp) in self.components.iter().enumerate() {
            for j in 0..d {
                v[[j, c]] = comp[j];
            }
        }
        let mean = Array1::from(self.mean.clone());
        (&x - &mean.view().insert_axis(Axis(0))).dot(&v)
    }

    /// The stretch pass: per component the `lo_pct` and `hi_pct` percentiles of the
    /// projections of every valid pixel (histograms of 8192 bins over ±6σ).
    ///
    /// # Errors
    /// Read errors.
    pub fn stretch(
        &self,
        reader: &dyn RasterRead,
        lo_pct: f64,
        hi_pct: f64,
        window_bytes: usize,
        progress: &dyn Fn(usize, usize),
    ) -> Result<Vec<(f64, f64)>> {
        const BINS: usize = 8192;
        let m = reader.meta();
        let d = m.band_count();
        let k = self.components.len();
        let bands: Vec<usize> = (0..d).collect();
        let nodata: Vec<_> = (0..d).map(|b| m.nodata(b)).collect();
        let range: Vec<f64> = self.variances.iter().map(|v| 6.0 * v.max(1e-30).sqrt()).collect();
        let mut hist = vec![vec![0u64; BINS]; k];
        let mut n = 0u64;
        let rows = window_rows(m.width, d, window_bytes);
        for win in row_windows(m.width, m.height, rows) {
            let data = reader.read_window(&bands, win)?.to_f32();
            let (_, x) = valid_pixels(&data, &nodata, |_| true);
            let p = self.project(x.view());
            for row in p.rows() {
                for c in 0..k {
                    let t = (row[c] + range[c]) / (2.0 * range[c]);
                    let b = ((t * BINS as f64) as i64).clamp(0, BINS as i64 - 1) as usize;
                    hist[c][b] += 1;
                }
            }
            n += p.nrows() as u64;
            progress(win.row_off as usize + win.height, m.height);
        }
        let pct = |h: &[u64], q: f64, r: f64| -> f64 {
            let target = (q / 100.0 * n as f64).round() as u64;
            let mut acc = 0u64;
            for (i, &c) in h.iter().enumerate() {
                acc += c;
                if acc >= target.max(1) {
                    return -r + (i as f64 + 0.5) / BINS as f64 * 2.0 * r;
                }
            }
            r
        };
        Ok((0..k)
            .map(|c| {
                let lo = pct(&hist[c], lo_pct, range[c]);
                let hi = pct(&hist[c], hi_pct, range[c]);
                if hi > lo { (lo, hi) } else { (lo - 1e-9, lo + 1e-9) }
            })
            .collect())
    }

    /// Project and stretch the rows of `window` to RGB `(3, rows, width)` u8 and a validity
    /// mask `(rows, width)` (invalid pixels are black).
    ///
    /// # Errors
    /// Read errors; fewer than three components.
    pub fn render_rows(
        &self,
        reader: &dyn RasterRead,
        window: Window,
        stretch: &[(f64, f64)],
    ) -> Result<(ndarray::Array3<u8>, Array2<u8>)> {
        if self.components.len() < 3 || stretch.len() < 3 {
            return Err(Error::Config("an RGB picture needs three components".into()));
        }
        let m = reader.meta();
        let d = m.band_count();
        let bands: Vec<usize> = (0..d).collect();
        let nodata: Vec<_> = (0..d).map(|b| m.nodata(b)).collect();
        let data = reader.read_window(&bands, window)?.to_f32();
        let (idx, x) = valid_pixels(&data, &nodata, |_| true);
        let p = self.project(x.view());
        let (h, w) = (window.height, window.width);
        let mut rgb = ndarray::Array3::<u8>::zeros((3, h, w));
        let mut valid = Array2::<u8>::zeros((h, w));
        for (i, &px) in idx.iter().enumerate() {
            let (y, xx) = (px / w, px % w);
            valid[[y, xx]] = 1;
            for c in 0..3 {
                let (lo, hi) = stretch[c];
                let t = ((p[[i, c]] - lo) / (hi - lo)).clamp(0.0, 1.0);
                rgb[[c, y, xx]] = (t * 255.0).round() as u8;
            }
        }
        Ok((rgb, valid))
    }

    /// Fraction of the total variance each component explains.
    pub fn explained(&self) -> Vec<f64> {
        self.variances.iter().map(|v| v / self.total_variance.max(1e-300)).collect()
    }
}

/// The `k` largest eigenpairs of the symmetric positive semi-definite `c` (`d × d`) by subspace
/// iteration: `(values, vectors)`, values decreasing, each vector's largest entry positive.
pub fn top_eigen(c: ArrayView2<'_, f64>, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = c.nrows();
    let m = (k + 4).min(d);
    // deterministic start: a fixed pseudo-random matrix
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut q = Array2::<f64>::from_shape_fn((d, m), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    orthonormalize(&mut q);
    let mut prev = vec![0.0; m];
    for _ in 0..500 {
        let mut z = c.dot(&q);
        orthonormalize(&mut z);
        q = z;
        let t = q.t().dot(&c.dot(&q));
        let (vals, _) = jacobi_eigen(t.view());
        let change = vals
            .iter()
            .zip(&prev)
            .take(k)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-300))
            .fold(0.0, f64::max);
        prev = vals;
        if change < 1e-12 {
            break;
        }
    }
    let t = q.t().dot(&c.dot(&q));
    let (vals, vecs) = jacobi_eigen(t.view());
    let full = q.dot(&vecs); // (d, m), columns are the Ritz vectors, by decreasing value
    let mut out = Vec::with_capacity(k);
    for i in 0..k {
        let mut v: Vec<f64> = full.column(i).to_vec();
        let big = v.iter().copied().fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        out.push(v);
    }
    (vals[..k].to_vec(), out)
}

/// Modified Gram–Schmidt on the columns of `q`.
fn orthonormalize(q: &mut Array2<f64>) {
    let m = q.ncols();
    for j in 0..m {
        for i in 0..j {
            let dot = q.column(i).dot(&q.column(j));
            let ci = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-dot, &ci);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt();
        if norm > 1e-300 {
            q.column_mut(j).mapv_inplace(|v| v / norm);
        }
    }
}

/// All eigenpairs of a small symmetric matrix by cyclic Jacobi rotations: values decreasing,
/// vectors as the columns of the second result.
pub fn jacobi_eigen(a: ArrayView2<'_, f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut a = a.to_owned();
    let mut v = Array2::<f64>::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]] * a[[i, j]])
            .sum();
        if off < 1e-30 * a.iter().map(|x| x * x).sum::<f64>().max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[[p, q]];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[[j, j]].partial_cmp(&a[[i, i]]).unwrap_or(std::cmp::Ordering::Equal));
    let vals = order.iter().map(|&i| a[[i, i]]).collect();
    let mut vecs = Array2::<f64>::zeros((n, n));
    for (c, &i) in order.iter().enumerate() {
        vecs.slice_mut(s![.., c]).assign(&v.column(i));
    }
    (vals, vecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_and_subspace_iteration_find_known_eigenpairs() {
        // C = Q diag(9, 4, 1, 0.5, 0.1, 0.01) Qᵀ with a known rotation Q
        let d = 6;
        let vals = [9.0, 4.0, 1.0, 0.5, 0.1, 0.01];
        let mut q =
            Array2::<f64>::from_shape_fn((d, d), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        orthonormalize(&mut q);
        let mut c = Array2::<f64>::zeros((d, d));
        for (k, &l) in vals.iter().enumerate() {
            let v = q.column(k);
            for i in 0..d {
                for j in 0..d {
                    c[[i, j]] += l * v[i] * v[j];
                }
            }
        }
        let (jv, _) = jacobi_eigen(c.view());
        for (a, b) in jv.iter().zip(vals) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        let (tv, vecs) = top_eigen(c.view(), 3);
        for k in 0..3 {
            assert!((tv[k] - vals[k]).abs() < 1e-9, "{} vs {}", tv[k], vals[k]);
            let dot: f64 = vecs[k].iter().zip(q.column(k)).map(|(a, b)| a * b).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-9, "component {k}: |cos| = {}", dot.abs());
        }
    }
}
