//! Overlapping chip grids over a scene, used by pretraining (chip sampling) and whole-scene
//! inference (sliding windows).

use serde::{Deserialize, Serialize};

use crate::Window;

/// Chip start positions along one axis of length `len`: chips of `chip` pixels every
/// `stride = chip - overlap` pixels, with the last chip snapped to the end so that no chip leaves
/// the raster (the rule of DINOv3's `slide_inference`). When `len < chip` there is one chip at 0
/// that extends past the end (read it boundless).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAxis {
    /// Start offsets of the chips, increasing.
    pub starts: Vec<usize>,
    /// Chip length.
    pub chip: usize,
}

impl GridAxis {
    /// The chip starts for an axis of `len` pixels.
    ///
    /// # Panics
    /// If `overlap >= chip` (the stride would not be positive); callers validate options first.
    pub fn new(len: usize, chip: usize, overlap: usize) -> Self {
        assert!(overlap < chip, "overlap ({overlap}) must be smaller than the chip ({chip})");
        let stride = chip - overlap;
        let mut starts = Vec::new();
        if len <= chip {
            starts.push(0);
        } else {
            // n = ceil((len - chip) / stride) + 1, the last one snapped to len - chip
            let n = (len - chip).div_ceil(stride) + 1;
            for i in 0..n {
                starts.push((i * stride).min(len - chip));
            }
        }
        GridAxis { starts, chip }
    }
}

/// A grid of overlapping `chip` × `chip` windows covering a `width` × `height` raster. Every pixel
/// is covered by at least one chip; chips overlap their neighbours by at least `overlap` pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipGrid {
    /// Raster width.
    pub width: usize,
    /// Raster height.
    pub height: usize,
    /// Column layout.
    pub cols: GridAxis,
    /// Row layout.
    pub rows: GridAxis,
}

impl ChipGrid {
    /// The grid of `chip`-pixel square chips with `overlap` pixels of overlap.
    ///
    /// # Panics
    /// If `overlap >= chip`.
    pub fn new(width: usize, height: usize, chip: usize, overlap: usize) -> Self {
        ChipGrid {
            width,
            height,
            cols: GridAxis::new(width, chip, overlap),
            rows: GridAxis::new(height, chip, overlap),
        }
    }

    /// Number of chips.
    pub fn len(&self) -> usize {
        self.cols.starts.len() * self.rows.starts.len()
    }

    /// True when the grid has no chips (never, for a non-empty raster).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th chip window, row-major.
    pub fn window(&self, i: usize) -> Window {
        let nc = self.cols.starts.len();
        let (r, c) = (i / nc, i % nc);
        Window::new(
            self.cols.starts[c] as i64,
            self.rows.starts[r] as i64,
            self.cols.chip,
            self.rows.chip,
        )
    }

    /// Every chip window, row-major.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        (0..self.len()).map(move |i| self.window(i))
    }

    /// Indices of the chips in grid row `r` (useful to stream a scene one band of rows at a time).
    pub fn row_range(&self, r: usize) -> std::ops::Range<usize> {
        let nc = self.cols.starts.len();
        r * nc..(r + 1) * nc
    }

    /// Number of grid rows.
    pub fn n_rows(&self) -> usize {
        self.rows.starts.len()
    }

    /// Number of grid columns.
    pub fn n_cols(&self) -> usize {
        self.cols.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::manual_div_ceil)]
    fn axis_snaps_last_chip_to_the_end() {
        assert_eq!(GridAxis::new(1000, 512, 128).starts, vec![0, 384, 488]);
        assert_eq!(GridAxis::new(512, 512, 128).starts, vec![0]);
        assert_eq!(GridAxis::new(300, 512, 128).starts, vec![0]);
        assert_eq!(GridAxis::new(896, 512, 128).starts, vec![0, 384]);
        // DINOv3 slide_inference rule: n = max(H - c + s - 1, 0) // s + 1
        for len in [513usize, 700, 1024, 4097] {
            let (c, s) = (512usize, 341usize);
            let n = (len.saturating_sub(c) + s - 1) / s + 1;
            assert_eq!(GridAxis::new(len, c, c - s).starts.len(), n, "len {len}");
        }
    }

    #[test]
    fn grid_covers_every_pixel_with_overlap() {
        let g = ChipGrid::new(1000, 700, 256, 64);
        let mut cover = vec![0u8; 1000 * 700];
        for w in g.windows() {
            assert!(w.is_inside(1000, 700));
            for r in w.row_off..w.row_end() {
                for c in w.col_off..w.col_end() {
                    cover[r as usize * 1000 + c as usize] += 1;
                }
            }
        }
        assert!(cover.iter().all(|&n| n >= 1));
        for pair in g.cols.starts.windows(2) {
            assert!(pair[0] + 256 - pair[1] >= 64);
        }
        assert_eq!(g.len(), g.n_cols() * g.n_rows());
        assert_eq!(g.window(g.n_cols()).row_off, g.rows.starts[1] as i64);
    }
}
