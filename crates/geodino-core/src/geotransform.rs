//! The affine transform from pixel space to map space.

use serde::{Deserialize, Serialize};

use crate::Window;

/// An affine transform from pixel (column, row) space to map (x, y) space, stored as the six GDAL
/// coefficients `[c, a, b, f, d, e]`:
///
/// ```text
/// x = c + col·a + row·b
/// y = f + col·d + row·e
/// ```
///
/// * `c`, `f` (indices 0 and 3): map coordinates of the **top-left corner of the top-left pixel**
///   (pixel-corner, GDAL's convention: a raster tagged `PixelIsPoint` is shifted by half a pixel
///   on reading, as GDAL does);
/// * `a` (index 1): pixel width; `e` (index 5): pixel height, negative for north-up rasters;
/// * `b`, `d` (indices 2 and 4): rotation/shear terms, zero for north-up rasters.
///
/// rasterio's `Affine(a, b, c, d, e, f)` holds the same numbers in another order; see
/// [`GeoTransform::from_affine`] and [`GeoTransform::to_affine`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// A north-up transform with origin `(x0, y0)` (top-left corner) and pixel size
    /// `(px_w, px_h)`; `px_h` is usually negative.
    pub fn north_up(x0: f64, px_w: f64, y0: f64, px_h: f64) -> Self {
        GeoTransform([x0, px_w, 0.0, y0, 0.0, px_h])
    }

    /// The identity transform (map coordinates are pixel coordinates).
    pub fn identity() -> Self {
        GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    }

    /// From rasterio/`affine` order `[a, b, c, d, e, f]`.
    pub fn from_affine(t: [f64; 6]) -> Self {
        GeoTransform([t[2], t[0], t[1], t[5], t[3], t[4]])
    }

    /// To rasterio/`affine` order `[a, b, c, d, e, f]`.
    pub fn to_affine(&self) -> [f64; 6] {
        let g = self.0;
        [g[1], g[2], g[0], g[4], g[5], g[3]]
    }

    /// Map coordinates of the pixel-space point `(col, row)` (fractional: `(0.5, 0.5)` is the
    /// centre of the top-left pixel).
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        let g = self.0;
        (g[0] + col * g[1] + row * g[2], g[3] + col * g[4] + row * g[5])
    }

    /// The inverse transform (map → pixel), or `None` when the transform is singular.
    pub fn invert(&self) -> Option<GeoTransform> {
        let g = self.0;
        let det = g[1] * g[5] - g[2] * g[4];
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let inv_det = 1.0 / det;
        let a = g[5] * inv_det;
        let b = -g[2] * inv_det;
        let d = -g[4] * inv_det;
        let e = g[1] * inv_det;
        let c = -(a * g[0] + b * g[3]);
        let f = -(d * g[0] + e * g[3]);
        Some(GeoTransform([c, a, b, f, d, e]))
    }

    /// The transform of a sub-window: same pixel size, origin moved to the window's corner.
    pub fn for_window(&self, window: &Window) -> GeoTransform {
        let (x0, y0) = self.apply(window.col_off as f64, window.row_off as f64);
        let g = self.0;
        GeoTransform([x0, g[1], g[2], y0, g[4], g[5]])
    }

    /// The transform of the same extent sampled with pixels `factor_x` × `factor_y` times larger
    /// (e.g. 16 for DINOv3 patch features over a raster).
    pub fn scaled(&self, factor_x: f64, factor_y: f64) -> GeoTransform {
        let g = self.0;
        GeoTransform([
            g[0],
            g[1] * factor_x,
            g[2] * factor_y,
            g[3],
            g[4] * factor_x,
            g[5] * factor_y,
        ])
    }

    /// True when there is no rotation or shear.
    pub fn is_north_up(&self) -> bool {
        self.0[2] == 0.0 && self.0[4] == 0.0
    }

    /// The ground sample distance `(|a|, |e|)` of a north-up transform, in CRS units.
    pub fn pixel_size(&self) -> (f64, f64) {
        let g = self.0;
        ((g[1] * g[1] + g[4] * g[4]).sqrt(), (g[2] * g[2] + g[5] * g[5]).sqrt())
    }

    /// Bounds `(min_x, min_y, max_x, max_y)` of a `width` × `height` raster.
    pub fn bounds(&self, width: usize, height: usize) -> (f64, f64, f64, f64) {
        let corners = [
            self.apply(0.0, 0.0),
            self.apply(width as f64, 0.0),
            self.apply(0.0, height as f64),
            self.apply(width as f64, height as f64),
        ];
        let mut b = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for (x, y) in corners {
            b.0 = b.0.min(x);
            b.1 = b.1.min(y);
            b.2 = b.2.max(x);
            b.3 = b.3.max(y);
        }
        b
    }

    /// True when every coefficient differs from `other`'s by at most `tol` (absolute).
    pub fn approx_eq(&self, other: &GeoTransform, tol: f64) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| (a - b).abs() <= tol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_and_invert_round_trip() {
        // RGB.byte.tif's transform as GDAL reports it.
        let gt =
            GeoTransform([101985.0, 300.0379266750948, 0.0, 2826915.0, 0.0, -300.041782729805]);
        let (x, y) = gt.apply(10.5, 20.25);
        assert!((x - (101985.0 + 10.5 * 300.0379266750948)).abs() < 1e-9);
        let inv = gt.invert().unwrap();
        let (c, r) = inv.apply(x, y);
        assert!((c - 10.5).abs() < 1e-9 && (r - 20.25).abs() < 1e-9);
    }

    #[test]
    fn rotated_inverse_is_exact() {
        let gt = GeoTransform([1000.0, 2.0, 0.5, 5000.0, 0.25, -3.0]);
        let inv = gt.invert().unwrap();
        for (c, r) in [(0.0, 0.0), (7.0, 3.0), (-2.5, 11.0)] {
            let (x, y) = gt.apply(c, r);
            let (c2, r2) = inv.apply(x, y);
            assert!((c - c2).abs() < 1e-9 && (r - r2).abs() < 1e-9);
        }
        assert!(GeoTransform([0.0, 1.0, 2.0, 0.0, 2.0, 4.0]).invert().is_none());
    }

    #[test]
    fn affine_order_and_window_transform() {
        let gt = GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0);
        assert_eq!(gt.to_affine(), [10.0, 0.0, 300000.0, 0.0, -10.0, 4100040.0]);
        assert_eq!(GeoTransform::from_affine(gt.to_affine()), gt);
        let w = gt.for_window(&Window::new(5, 7, 3, 3));
        assert_eq!(w.0, [300050.0, 10.0, 0.0, 4099970.0, 0.0, -10.0]);
        assert_eq!(gt.scaled(16.0, 16.0).0, [300000.0, 160.0, 0.0, 4100040.0, 0.0, -160.0]);
        assert_eq!(gt.bounds(10, 20), (300000.0, 4099840.0, 300100.0, 4100040.0));
    }
}
