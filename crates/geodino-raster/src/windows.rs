//! Block-aligned window iteration and parallel window reads.

use geodino_core::{RasterBuffer, RasterMeta, RasterRead, Result, Window};
use rayon::prelude::*;

/// Every storage block of the raster as a window (edge blocks clipped), row-major: the unit of
/// IO of the dataset (`block_windows` in rasterio).
pub fn block_windows(meta: &RasterMeta) -> Vec<Window> {
    let b = meta.block;
    let (nx, ny) = b.grid(meta.width, meta.height);
    let mut out = Vec::with_capacity(nx * ny);
    for r in 0..ny {
        for c in 0..nx {
            out.push(b.window(c, r, meta.width, meta.height));
        }
    }
    out
}

/// Windows made of whole blocks (so no block is decoded twice), each of about `target_pixels`
/// pixels or one block if blocks are larger, covering the raster row-major. Strips (blocks as
/// wide as the raster) are stacked; tiles are grouped into near-square groups.
pub fn processing_windows(meta: &RasterMeta, target_pixels: usize) -> Vec<Window> {
    let (w, h) = (meta.width, meta.height);
    let b = meta.block;
    let (bw, bh) = (b.width.clamp(1, w.max(1)), b.height.clamp(1, h.max(1)));
    let per_block = bw * bh;
    let blocks = (target_pixels / per_block).max(1);
    let (nx, ny) = (w.div_ceil(bw), h.div_ceil(bh));
    // group gx × gy blocks, gx ≤ nx
    let gx = ((blocks as f64).sqrt().floor() as usize).clamp(1, nx);
    let gy = (blocks / gx).clamp(1, ny);
    let (sw, sh) = (gx * bw, gy * bh);
    let mut out = Vec::new();
    let mut r = 0;
    while r < h {
        let mut c = 0;
        while c < w {
            out.push(Window::new(c as i64, r as i64, sw.min(w - c), sh.min(h - r)));
            c += sw;
        }
        r += sh;
    }
    out
}

/// Read `windows` of `bands` in parallel (rayon) and hand each `(window, pixels)` to `f`, also
/// in parallel; results come back in the order of `windows`. Memory is bounded by the windows
/// in flight (one per thread).
///
/// # Errors
/// The first read error, or the first error returned by `f`.
pub fn read_windows_par<T, F>(
    reader: &dyn RasterRead,
    bands: &[usize],
    windows: &[Window],
    f: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(Window, RasterBuffer) -> Result<T> + Sync,
{
    windows.par_iter().map(|w| f(*w, reader.read_window(bands, *w)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geodino_core::{BlockSize, DataType};

    fn meta(w: usize, h: usize, bw: usize, bh: usize) -> RasterMeta {
        let mut m = RasterMeta::new(w, h, 1, DataType::Uint8);
        m.block = BlockSize::new(bw, bh);
        m
    }

    fn covers_once(m: &RasterMeta, ws: &[Window]) {
        let mut hits = vec![0u8; m.width * m.height];
        for w in ws {
            assert!(w.is_inside(m.width, m.height));
            assert_eq!(w.col_off as usize % m.block.width.min(m.width), 0);
            assert_eq!(w.row_off as usize % m.block.height.min(m.height), 0);
            for r in w.row_off..w.row_end() {
                for c in w.col_off..w.col_end() {
                    hits[r as usize * m.width + c as usize] += 1;
                }
            }
        }
        assert!(hits.iter().all(|&h| h == 1));
    }

    #[test]
    fn windows_tile_the_raster_on_block_boundaries() {
        let m = meta(791, 718, 256, 256);
        let bw = block_windows(&m);
        assert_eq!(bw.len(), 12);
        assert_eq!(bw[11], Window::new(768, 512, 23, 206));
        covers_once(&m, &bw);
        // strips of 791x3 stacked to ~1 Mpx
        let s = meta(791, 718, 791, 3);
        let pw = processing_windows(&s, 1 << 20);
        covers_once(&s, &pw);
        assert_eq!(pw.len(), 1);
        let pw = processing_windows(&s, 791 * 30);
        assert_eq!(pw[0], Window::new(0, 0, 791, 30));
        covers_once(&s, &pw);
        let t = meta(2658, 2667, 256, 256);
        let pw = processing_windows(&t, 1 << 20);
        assert_eq!((pw[0].width, pw[0].height), (1024, 1024));
        covers_once(&t, &pw);
        // blocks larger than the raster
        let big = meta(20, 20, 256, 256);
        assert_eq!(processing_windows(&big, 1 << 20), vec![Window::new(0, 0, 20, 20)]);
    }
}
