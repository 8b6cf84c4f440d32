//! The tile plan of a scene: where the tiles lie, their blending weights, which output rows
//! are final once a row of tiles is done, and the vertical column strips the engine works in.

use std::ops::Range;

use geodino_core::{ChipGrid, Window};

use crate::{Blend, Error, Result};

/// Tiling of a scene for a model whose output has one pixel per `stride` × `stride` input
/// pixels (1 for per-pixel heads, the patch size for patch features).
///
/// The grid is laid out on the **output** grid ([`ChipGrid`] rules: tiles every
/// `tile − overlap` pixels, the last one snapped to the border, a scene smaller than a tile
/// covered by one tile that extends past the border and is read padded). Tile `i` reads the
/// input window [`TilePlan::input_window`] (`tile` × `tile` pixels) and predicts the output
/// window [`TilePlan::output_window`] (`tile / stride` pixels square).
#[derive(Debug, Clone)]
pub struct TilePlan {
    /// Input scene width in pixels.
    pub in_width: usize,
    /// Input scene height in pixels.
    pub in_height: usize,
    /// Output width: `⌈in_width / stride⌉`.
    pub out_width: usize,
    /// Output height: `⌈in_height / stride⌉`.
    pub out_height: usize,
    /// Input pixels per output pixel along each axis.
    pub stride: usize,
    /// Input tile edge in pixels.
    pub tile: usize,
    /// Overlap between neighbouring tiles in input pixels (at least; snapped tiles overlap more).
    pub overlap: usize,
    /// The grid on the output raster.
    pub grid: ChipGrid,
    /// Blending profile of each grid row (length `tile / stride`).
    row_weights: Vec<Vec<f32>>,
    /// Blending profile of each grid column.
    col_weights: Vec<Vec<f32>>,
}

impl TilePlan {
    /// Plan `tile`-pixel tiles overlapping by `overlap` pixels over an `in_width` × `in_height`
    /// scene, for a model of output stride `stride`, blended with `blend`.
    ///
    /// # Errors
    /// An empty scene, `overlap ≥ tile`, or a tile or overlap that is not a multiple of `stride`.
    pub fn new(
        in_width: usize,
        in_height: usize,
        tile: usize,
        overlap: usize,
        stride: usize,
        blend: Blend,
    ) -> Result<TilePlan> {
        if in_width == 0 || in_height == 0 {
            return Err(Error::Config(format!("empty scene ({in_width}x{in_height})")));
        }
        if stride == 0 || tile == 0 || !tile.is_multiple_of(stride) {
            return Err(Error::Config(format!(
                "--tile {tile} must be a positive multiple of {stride} (the model's output stride)"
            )));
        }
        if !overlap.is_multiple_of(stride) {
            return Err(Error::Config(format!(
                "--overlap {overlap} must be a multiple of {stride} (the model's output stride)"
            )));
        }
        if overlap >= tile {
            return Err(Error::Config(format!(
                "--overlap {overlap} must be smaller than --tile {tile}"
            )));
        }
        let out_width = in_width.div_ceil(stride);
        let out_height = in_height.div_ceil(stride);
        let chip = tile / stride;
        let grid = ChipGrid::new(out_width, out_height, chip, overlap / stride);
        let profiles = |starts: &[usize]| -> Vec<Vec<f32>> {
            (0..starts.len())
                .map(|k| {
                    let lead = if k > 0 { starts[k - 1] + chip - starts[k] } else { 0 };
                    let trail =
                        if k + 1 < starts.len() { starts[k] + chip - starts[k + 1] } else { 0 };
                    blend.profile(chip, lead, trail)
                })
                .collect()
        };
        let row_weights = profiles(&grid.rows.starts);
        let col_weights = profiles(&grid.cols.starts);
        Ok(TilePlan {
            in_width,
            in_height,
            out_width,
            out_height,
            stride,
            tile,
            overlap,
            grid,
            row_weights,
            col_weights,
        })
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.grid.len()
    }

    /// True when there are no tiles (never for a valid plan).
    pub fn is_empty(&self) -> bool {
        self.grid.is_empty()
    }

    /// Output tile edge: `tile / stride`.
    pub fn out_tile(&self) -> usize {
        self.tile / self.stride
    }

    /// Grid `(row, col)` of tile `i` (row-major order).
    pub fn grid_pos(&self, i: usize) -> (usize, usize) {
        (i / self.grid.n_cols(), i % self.grid.n_cols())
    }

    /// The output window of tile `i` (may extend past the output raster for small scenes).
    pub fn output_window(&self, i: usize) -> Window {
        self.grid.window(i)
    }

    /// The input window of tile `i`, `tile` × `tile` pixels (may extend past the scene).
    pub fn input_window(&self, i: usize) -> Window {
        let w = self.grid.window(i);
        Window::new(
            w.col_off * self.stride as i64,
            w.row_off * self.stride as i64,
            self.tile,
            self.tile,
        )
    }

    /// Row and column blending profiles of tile `i`.
    pub fn weights(&self, i: usize) -> (&[f32], &[f32]) {
        let (r, c) = self.grid_pos(i);
        (&self.row_weights[r], &self.col_weights[c])
    }

    /// Output rows `< rows_final_after(r)` receive no contribution from tiles of grid rows
    /// after `r`: they are final once every tile of grid row `r` has been added.
    pub fn rows_final_after(&self, r: usize) -> usize {
        match self.grid.rows.starts.get(r + 1) {
            Some(&s) => s,
            None => self.out_height,
        }
    }

    /// Output columns `[start, end)` that tile column `c` covers inside the output raster.
    pub fn col_span(&self, c: usize) -> Range<usize> {
        let s = self.grid.cols.starts[c];
        s..(s + self.out_tile()).min(self.out_width)
    }

    /// Split the output into vertical strips `width` output columns wide (the last one
    /// narrower; `width == 0` or `≥ out_width`: one strip). Each tile belongs to the strip in
    /// which its left edge lies, so every tile is predicted once; the tiles of the grid are
    /// not moved, so the blend does not depend on the strip width.
    pub fn column_strips(&self, width: usize) -> Vec<ColumnStrip> {
        let width = if width == 0 { self.out_width } else { width.min(self.out_width) };
        let starts = &self.grid.cols.starts;
        (0..self.out_width)
            .step_by(width)
            .map(|col_off| {
                let end = (col_off + width).min(self.out_width);
                let lo = starts.partition_point(|&s| s < col_off);
                let hi = starts.partition_point(|&s| s < end);
                ColumnStrip { col_off, width: end - col_off, grid_cols: lo..hi }
            })
            .collect()
    }

    /// Tile columns that start left of output column `col` and reach past it: the tiles whose
    /// right part a strip starting at `col` receives from the strips before it.
    pub fn crossing(&self, col: usize) -> Range<usize> {
        let starts = &self.grid.cols.starts;
        let hi = starts.partition_point(|&s| s < col);
        let lo = (0..hi).find(|&c| self.col_span(c).end > col).unwrap_or(hi);
        lo..hi
    }

    /// Tile indices in the order the engine runs them: strip by strip, each strip top to
    /// bottom, each row of tiles left to right.
    pub fn strip_order(strips: &[ColumnStrip], n_rows: usize, n_cols: usize) -> StripOrder<'_> {
        StripOrder { strips, n_rows, n_cols, strip: 0, row: 0, col: None }
    }

    /// Input pixels the model reads in all (counting overlaps) over the scene's pixels.
    pub fn read_amplification(&self) -> f64 {
        (self.len() * self.tile * self.tile) as f64 / (self.in_width * self.in_height) as f64
    }
}

/// A vertical strip of the output, processed top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStrip {
    /// First output column.
    pub col_off: usize,
    /// Output columns.
    pub width: usize,
    /// Tile columns whose left edge lies in the strip (the tiles the strip predicts).
    pub grid_cols: Range<usize>,
}

impl ColumnStrip {
    /// One past the last output column.
    pub fn col_end(&self) -> usize {
        self.col_off + self.width
    }
}

/// Iterator over tile indices in strip order (see [`TilePlan::strip_order`]).
#[derive(Debug, Clone)]
pub struct StripOrder<'a> {
    strips: &'a [ColumnStrip],
    n_rows: usize,
    n_cols: usize,
    strip: usize,
    row: usize,
    col: Option<usize>,
}

impl Iterator for StripOrder<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        loop {
            let s = self.strips.get(self.strip)?;
            let c = self.col.unwrap_or(s.grid_cols.start);
            if c < s.grid_cols.end && self.row < self.n_rows {
                self.col = Some(c + 1);
                return Some(self.row * self.n_cols + c);
            }
            self.col = None;
            self.row += 1;
            if self.row >= self.n_rows || s.grid_cols.is_empty() {
                self.row = 0;
                self.strip += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_scene_and_reports_final_rows() {
        let p = TilePlan::new(1000, 700, 256, 64, 1, Blend::Cosine).unwrap();
        assert_eq!((p.out_width, p.out_height), (1000, 700));
        let last = p.len() - 1;
        let w = p.output_window(last);
        assert_eq!((w.col_end(), w.row_end()), (1000, 700));
        assert_eq!(p.rows_final_after(0), 192);
        assert_eq!(p.rows_final_after(p.grid.n_rows() - 1), 700);
        let (rw, cw) = p.weights(0);
        assert_eq!((rw.len(), cw.len()), (256, 256));
        assert_eq!(rw[0], 1.0); // scene border: flat
        assert!(rw[255] < 0.01); // inner edge: faded
    }

    #[test]
    fn strided_plans_align_to_patches() {
        let p = TilePlan::new(1000, 300, 512, 128, 16, Blend::Cosine).unwrap();
        assert_eq!((p.out_width, p.out_height), (63, 19));
        assert_eq!(p.out_tile(), 32);
        for i in 0..p.len() {
            let w = p.input_window(i);
            assert_eq!(w.col_off % 16, 0);
            assert_eq!(w.width, 512);
        }
        // a scene smaller than a tile: one tile, read padded
        assert_eq!(p.grid.n_rows(), 1);
        assert!(TilePlan::new(100, 100, 500, 0, 16, Blend::Cosine).is_err());
        assert!(TilePlan::new(100, 100, 512, 100, 16, Blend::Cosine).is_err());
        assert!(TilePlan::new(100, 100, 512, 512, 1, Blend::Cosine).is_err());
    }

    #[test]
    fn column_strips_cover_every_tile_once() {
        let p = TilePlan::new(1000, 700, 256, 64, 1, Blend::Cosine).unwrap();
        for width in [0, 64, 100, 256, 512, 1000, 5000] {
            let strips = p.column_strips(width);
            assert_eq!(strips.first().unwrap().col_off, 0);
            assert_eq!(strips.last().unwrap().col_end(), 1000);
            for w in strips.windows(2) {
                assert_eq!(w[0].col_end(), w[1].col_off);
                assert_eq!(w[0].grid_cols.end, w[1].grid_cols.start);
            }
            let order: Vec<usize> =
                TilePlan::strip_order(&strips, p.grid.n_rows(), p.grid.n_cols()).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..p.len()).collect::<Vec<_>>(), "strip width {width}");
        }
        // grid columns start at 0, 192, 384, 576, 744 (snapped); strips of 256
        assert_eq!(p.grid.cols.starts, [0, 192, 384, 576, 744]);
        let s = p.column_strips(256);
        let cols: Vec<_> = s.iter().map(|s| s.grid_cols.clone()).collect();
        assert_eq!(cols, [0..2, 2..3, 3..5, 5..5]); // the last strip starts no tile
        assert_eq!(p.crossing(0), 0..0);
        assert_eq!(p.crossing(256), 1..2); // the first tile ends at 256 exactly
        assert_eq!(p.crossing(768), 3..5);
        assert_eq!(p.col_span(4), 744..1000);
    }
}
