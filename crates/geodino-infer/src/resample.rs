//! A raster seen on another ground sample distance (`--target-gsd`): [`Resampled`] is a
//! [`RasterRead`] whose pixels are computed on the fly from the source, window by window, so the
//! engine streams it like any file and writes its output on the resampled grid.
//!
//! * Downsampling (target pixels larger than the source's): the **area-weighted mean** of the
//!   valid source pixels under each target pixel (fractional coverage at the footprint's edges),
//!   as GDAL's `-r average`.
//! * Upsampling: **bilinear** interpolation between the four nearest source pixel centres,
//!   renormalised over the valid ones.
//!
//! A target pixel is nodata (NaN) when no valid source pixel contributes, or when the source
//! pixel under its centre is invalid (so nodata areas keep their outline). Source validity is
//! the band's nodata, NaN and the dataset mask. Pixels come out as float32 in the source's
//! units (no scaling).

use std::path::Path;

use geodino_core::{
    DataType, GeoTransform, NoData, RasterBuffer, RasterMeta, RasterRead, SharedReader, Window,
};
use ndarray::{Array2, Array3};

use crate::{Error, Result};

/// A source raster resampled to square pixels of `gsd` map units (see the module docs).
pub struct Resampled {
    src: SharedReader,
    meta: RasterMeta,
    /// Source pixels per target pixel along x and y.
    fx: f64,
    fy: f64,
}

impl std::fmt::Debug for Resampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampled")
            .field("src", &self.src.path())
            .field("meta", &self.meta)
            .field("fx", &self.fx)
            .field("fy", &self.fy)
            .finish()
    }
}

/// True when the CRS is geographic (degrees), where a GSD in metres makes no sense.
fn is_geographic(meta: &RasterMeta) -> bool {
    let Some(crs) = &meta.crs else { return false };
    if matches!(crs.epsg, Some(4326 | 4269 | 4258 | 4283 | 4148 | 4674 | 4612)) {
        return true;
    }
    crs.wkt.as_deref().is_some_and(|w| {
        let w = w.trim_start().to_ascii_uppercase();
        w.starts_with("GEOGCS") || w.starts_with("GEOGCRS") || w.starts_with("GEODCRS")
    })
}

impl Resampled {
    /// `src` on a grid of `gsd` × `gsd` map units with the same origin; the size is the source
    /// extent divided by `gsd`, rounded.
    ///
    /// # Errors
    /// No geotransform, a rotated one, a geographic CRS, or a non-positive `gsd`.
    pub fn new(src: SharedReader, gsd: f64) -> Result<Resampled> {
        let m = src.meta();
        let path = src.path().to_path_buf();
        if !(gsd.is_finite() && gsd > 0.0) {
            return Err(Error::Config(format!("--target-gsd {gsd}: must be positive")));
        }
        let Some(g) = m.geotransform else {
            return Err(Error::input(path, "--target-gsd needs a georeferenced raster"));
        };
        if !g.is_north_up() {
            return Err(Error::input(path, "--target-gsd needs a north-up (unrotated) raster"));
        }
        if is_geographic(m) {
            return Err(Error::input(
                path,
                "--target-gsd is in metres but the raster's CRS is geographic (degrees); \
                 reproject it first (e.g. gdalwarp -t_srs EPSG:<UTM zone>)",
            ));
        }
        let (px, py) = (g.0[1].abs(), g.0[5].abs());
        let width = ((m.width as f64 * px / gsd).round() as usize).max(1);
        let height = ((m.height as f64 * py / gsd).round() as usize).max(1);
        let mut meta = m.clone();
        meta.width = width;
        meta.height = height;
        meta.dtype = DataType::Float32;
        meta.geotransform = Some(GeoTransform([
            g.0[0],
            gsd * g.0[1].signum(),
            0.0,
            g.0[3],
            0.0,
            gsd * g.0[5].signum(),
        ]));
        meta.overviews.clear();
        meta.has_mask = false;
        for b in &mut meta.bands {
            b.nodata = Some(NoData(f64::NAN));
            b.scale = None;
            b.offset = None;
        }
        meta.metadata.insert(
            "RESAMPLED_FROM".into(),
            format!("{} ({}x{}, {px} x {py})", path.display(), m.width, m.height),
        );
        Ok(Resampled { src, meta, fx: gsd / px, fy: gsd / py })
    }

    /// Source pixels per target pixel `(x, y)`.
    pub fn factors(&self) -> (f64, f64) {
        (self.fx, self.fy)
    }

    /// Source span `[lo, hi)` (clipped) needed for target pixels `[t0, t1)` along one axis.
    fn span(t0: usize, t1: usize, f: f64, len: usize) -> (usize, usize) {
        let lo = ((t0 as f64 * f).floor() as i64 - 1).max(0) as usize;
        let hi = (((t1 as f64) * f).ceil() as i64 + 1).min(len as i64).max(0) as usize;
        (lo.min(len.saturating_sub(1)), hi.max(lo + 1).min(len))
    }
}

/// Weights of source pixels `[lo, hi)` for target pixel `t` along one axis (`f` source pixels
/// per target pixel): area overlap when downsampling, linear interpolation when upsampling.
fn axis_weights(t: usize, f: f64, lo: usize, hi: usize, out: &mut Vec<(usize, f64)>) {
    out.clear();
    if f > 1.0 {
        let (a, b) = (t as f64 * f, (t + 1) as f64 * f);
        let i0 = (a.floor() as usize).max(lo);
        let i1 = (b.ceil() as usize).min(hi);
        for i in i0..i1 {
            let w = (b.min((i + 1) as f64) - a.max(i as f64)).max(0.0);
            if w > 0.0 {
                out.push((i, w));
            }
        }
    } else {
        let c = (t as f64 + 0.5) * f - 0.5; // target centre in source pixel coordinates
        let c = c.clamp(lo as f64, (hi - 1) as f64);
        let i0 = c.floor() as usize;
        let fr = c - i0 as f64;
        out.push((i0, 1.0 - fr));
        if i0 + 1 < hi && fr > 0.0 {
            out.push((i0 + 1, fr));
        }
    }
}

impl RasterRead for Resampled {
    fn path(&self) -> &Path {
        self.src.path()
    }

    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn read_window(&self, bands: &[usize], window: Window) -> geodino_core::Result<RasterBuffer> {
        self.check_request(bands, &window)?;
        let sm = self.src.meta();
        let (c0, r0) = (window.col_off as usize, window.row_off as usize);
        let (w, h) = (window.width, window.height);
        let (sx0, sx1) = Resampled::span(c0, c0 + w, self.fx, sm.width);
        let (sy0, sy1) = Resampled::span(r0, r0 + h, self.fy, sm.height);
        let swin = Window::new(sx0 as i64, sy0 as i64, sx1 - sx0, sy1 - sy0);
        let src = self.src.read_window(bands, swin)?.to_f32();
        let mask = self.src.read_mask(swin)?;
        // source validity: every band valid and the mask set
        let mut valid = Array2::<bool>::from_elem((swin.height, swin.width), true);
        for (bi, &b) in bands.iter().enumerate() {
            let nd = sm.nodata(b);
            for ((y, x), v) in valid.indexed_iter_mut() {
                let s = src[[bi, y, x]] as f64;
                if s.is_nan() || nd.is_some_and(|n| n.matches(s)) {
                    *v = false;
                }
            }
        }
        if let Some(m) = &mask {
            for ((y, x), v) in valid.indexed_iter_mut() {
                if m[[y, x]] == 0 {
                    *v = false;
                }
            }
        }
        let mut out = Array3::<f32>::from_elem((bands.len(), h, w), f32::NAN);
        let (mut wx, mut wy) = (Vec::new(), Vec::new());
        let xs: Vec<Vec<(usize, f64)>> = (0..w)
            .map(|x| {
                axis_weights(c0 + x, self.fx, sx0, sx1, &mut wx);
                wx.iter().map(|&(i, v)| (i - sx0, v)).collect()
            })
            .collect();
        for y in 0..h {
            axis_weights(r0 + y, self.fy, sy0, sy1, &mut wy);
            let cy = ((((r0 + y) as f64 + 0.5) * self.fy) as usize).clamp(sy0, sy1 - 1) - sy0;
            for (x, wxs) in xs.iter().enumerate() {
                let cx = ((((c0 + x) as f64 + 0.5) * self.fx) as usize).clamp(sx0, sx1 - 1) - sx0;
                if !valid[[cy, cx]] {
                    continue;
                }
                let mut acc = vec![0.0f64; bands.len()];
                let mut wsum = 0.0;
                for &(iy, vy) in wy.iter() {
                    let iy = iy - sy0;
                    for &(ix, vx) in wxs {
                        if !valid[[iy, ix]] {
                            continue;
                        }
                        let wgt = vy * vx;
                        wsum += wgt;
                        for (bi, a) in acc.iter_mut().enumerate() {
                            *a += wgt * src[[bi, iy, ix]] as f64;
                        }
                    }
                }
                if wsum > 0.0 {
                    for (bi, a) in acc.iter().enumerate() {
                        out[[bi, y, x]] = (a / wsum) as f32;
                    }
                }
            }
        }
        Ok(RasterBuffer::Float32(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// An in-memory raster for tests.
    #[derive(Debug)]
    struct Mem {
        path: PathBuf,
        meta: RasterMeta,
        data: Array3<f32>,
    }

    impl RasterRead for Mem {
        fn path(&self) -> &Path {
            &self.path
        }
        fn meta(&self) -> &RasterMeta {
            &self.meta
        }
        fn read_window(&self, bands: &[usize], w: Window) -> geodino_core::Result<RasterBuffer> {
            self.check_request(bands, &w)?;
            let (c0, r0) = (w.col_off as usize, w.row_off as usize);
            Ok(RasterBuffer::Float32(Array3::from_shape_fn(
                (bands.len(), w.height, w.width),
                |(b, y, x)| self.data[[bands[b], r0 + y, c0 + x]],
            )))
        }
    }

    fn mem(w: usize, h: usize, px: f64, f: impl Fn(usize, usize) -> f32) -> SharedReader {
        let mut meta = RasterMeta::new(w, h, 1, DataType::Float32);
        meta.geotransform = Some(GeoTransform::north_up(1000.0, px, 2000.0, -px));
        meta.crs = Some(geodino_core::Crs::from_epsg(32632));
        meta.bands[0].nodata = Some(NoData(-1.0));
        let data = Array3::from_shape_fn((1, h, w), |(_, y, x)| f(y, x));
        Arc::new(Mem { path: "mem.tif".into(), meta, data })
    }

    #[test]
    fn downsampling_averages_and_keeps_the_origin() {
        let src = mem(8, 6, 0.3, |y, x| (y * 8 + x) as f32);
        let r = Resampled::new(src, 0.6).unwrap();
        assert_eq!((r.meta().width, r.meta().height), (4, 3));
        assert_eq!(r.meta().geotransform.unwrap().0, [1000.0, 0.6, 0.0, 2000.0, 0.0, -0.6]);
        let a = r.read_window(&[0], Window::full(4, 3)).unwrap().to_f32();
        // target (0, 0) = mean of source (0,0), (0,1), (1,0), (1,1) = (0 + 1 + 8 + 9) / 4
        assert!((a[[0, 0, 0]] - 4.5).abs() < 1e-5);
        assert!((a[[0, 2, 3]] - (38.0 + 39.0 + 46.0 + 47.0) / 4.0).abs() < 1e-5);
        // a sub-window equals the same pixels of the full read
        let b = r.read_window(&[0], Window::new(1, 1, 2, 2)).unwrap().to_f32();
        assert_eq!(b[[0, 1, 1]], a[[0, 2, 2]]);
    }

    #[test]
    fn upsampling_interpolates_and_skips_nodata() {
        let src = mem(4, 4, 1.0, |y, x| if (y, x) == (3, 3) { -1.0 } else { x as f32 });
        let r = Resampled::new(src, 0.5).unwrap();
        assert_eq!((r.meta().width, r.meta().height), (8, 8));
        let a = r.read_window(&[0], Window::full(8, 8)).unwrap().to_f32();
        // target column 1 centre = source x 0.25 → 0.25
        assert!((a[[0, 0, 1]] - 0.25).abs() < 1e-6, "{}", a[[0, 0, 1]]);
        assert!((a[[0, 0, 0]] - 0.0).abs() < 1e-6); // clamped at the border
        // the nodata source pixel keeps its outline and does not leak into its neighbours
        assert!(a[[0, 7, 7]].is_nan() && a[[0, 6, 6]].is_nan());
        assert!((a[[0, 5, 5]] - 2.25).abs() < 1e-6 || !a[[0, 5, 5]].is_nan());
        assert!(a[[0, 5, 6]].is_finite());
    }

    #[test]
    fn geographic_and_unreferenced_rasters_are_refused() {
        let mut meta = RasterMeta::new(4, 4, 1, DataType::Float32);
        meta.geotransform = Some(GeoTransform::north_up(10.0, 0.001, 50.0, -0.001));
        meta.crs = Some(geodino_core::Crs::from_epsg(4326));
        let src: SharedReader =
            Arc::new(Mem { path: "geo.tif".into(), meta, data: Array3::zeros((1, 4, 4)) });
        let e = Resampled::new(src, 0.6).unwrap_err().to_string();
        assert!(e.contains("geo.tif") && e.contains("geographic"), "{e}");
    }
}
