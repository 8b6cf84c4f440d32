//! The tile plan of a scene: where the tiles lie, their blending weights, and which output rows
//! are final once a row of tiles is done.

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

    /// Input pixels the model reads in all (counting overlaps) over the scene's pixels.
    pub fn read_amplification(&self) -> f64 {
        (self.len() * self.tile * self.tile) as f64 / (self.in_width * self.in_height) as f64
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
}
