//! The rolling band of output rows in which weighted tile predictions are summed.
//!
//! The band spans one column strip of the output (see [`crate::engine`]); tiles (and pieces of
//! tiles carried from the strip to the left) arrive grid row by grid row. A tile of grid row
//! `r` touches output rows `[start_r, start_r + tile)`, and once every tile of row `r` is in,
//! rows before `start_{r+1}` can receive nothing more: they are divided by their weight sums
//! and handed to the writer in order. The band therefore holds at most `tile` rows of the strip
//! (a ring buffer indexed by `row mod tile`), whatever the scene size: memory is
//! `tile × strip width × (channels + 1) × 4 bytes + tile × strip width` bytes.

use crate::{Error, Result};

/// Finished output rows of one column strip: the blended values and the validity of each pixel.
#[derive(Debug, Clone)]
pub struct Strip {
    /// First output row.
    pub row_off: usize,
    /// Number of rows.
    pub rows: usize,
    /// First output column.
    pub col_off: usize,
    /// Number of columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Blended values `(channels, rows, width)`, row-major.
    pub values: Vec<f32>,
    /// `(rows, width)`, 1 where the input pixel was valid.
    pub valid: Vec<u8>,
}

impl Strip {
    /// Channel `c` of row `r` (relative to the strip).
    pub fn row(&self, c: usize, r: usize) -> &[f32] {
        let o = (c * self.rows + r) * self.width;
        &self.values[o..o + self.width]
    }
}

/// Weighted sums over a rolling band of output rows (see the module docs).
#[derive(Debug)]
pub struct RowBand {
    width: usize,
    height: usize,
    channels: usize,
    cap: usize,
    /// First row not yet emitted.
    top: usize,
    /// `(cap, channels, width)` weighted sums, slot = row mod cap.
    sum: Vec<f32>,
    /// `(cap, width)` weight sums.
    wsum: Vec<f32>,
    /// `(cap, width)` validity (OR over tiles).
    valid: Vec<u8>,
}

impl RowBand {
    /// A band for a `width` × `height` output with `channels` channels and tiles of `tile` rows.
    pub fn new(width: usize, height: usize, channels: usize, tile: usize) -> RowBand {
        let cap = tile.min(height).max(1);
        RowBand {
            width,
            height,
            channels,
            cap,
            top: 0,
            sum: vec![0.0; cap * channels * width],
            wsum: vec![0.0; cap * width],
            valid: vec![0; cap * width],
        }
    }

    /// Bytes held by the band.
    pub fn bytes(&self) -> usize {
        (self.sum.len() + self.wsum.len()) * 4 + self.valid.len()
    }

    /// Bytes a band of [`RowBand::new`]`(width, height, channels, tile)` holds.
    pub fn bytes_for(width: usize, height: usize, channels: usize, tile: usize) -> usize {
        tile.min(height).max(1) * width * ((channels + 1) * 4 + 1)
    }

    /// The first row not yet emitted.
    pub fn top(&self) -> usize {
        self.top
    }

    /// Add a tile prediction `pred` `(channels, th, tw)` whose top-left output pixel is
    /// `(row_off, col_off)`, weighted by `row_w[r] · col_w[c]`. Pixels outside the raster are
    /// ignored. `valid` `(th, tw)`: `None` = every pixel valid.
    ///
    /// # Errors
    /// A tile reaching above the rows already emitted or below the band (tiles out of order).
    pub fn add(
        &mut self,
        row_off: usize,
        col_off: usize,
        row_w: &[f32],
        col_w: &[f32],
        pred: &[f32],
        valid: Option<&[u8]>,
    ) -> Result<()> {
        let (th, tw) = (row_w.len(), col_w.len());
        debug_assert_eq!(pred.len(), self.channels * th * tw);
        let rows = th.min(self.height.saturating_sub(row_off));
        let cols = tw.min(self.width.saturating_sub(col_off));
        if row_off < self.top || row_off + rows > self.top + self.cap {
            return Err(Error::Pipeline(format!(
                "tile at output row {row_off} arrived out of order (band holds rows {}..{})",
                self.top,
                self.top + self.cap
            )));
        }
        let w = self.width;
        for r in 0..rows {
            let y = row_off + r;
            let slot = y % self.cap;
            let wr = row_w[r];
            let ws = &mut self.wsum[slot * w + col_off..slot * w + col_off + cols];
            for (c, s) in ws.iter_mut().enumerate() {
                *s += wr * col_w[c];
            }
            let vs = &mut self.valid[slot * w + col_off..slot * w + col_off + cols];
            match valid {
                None => vs.fill(1),
                Some(v) => {
                    for (c, s) in vs.iter_mut().enumerate() {
                        *s |= v[r * tw + c];
                    }
                }
            }
            for ch in 0..self.channels {
                let src = &pred[(ch * th + r) * tw..(ch * th + r) * tw + cols];
                let o = (slot * self.channels + ch) * w + col_off;
                let dst = &mut self.sum[o..o + cols];
                for c in 0..cols {
                    dst[c] += wr * col_w[c] * src[c];
                }
            }
        }
        Ok(())
    }

    /// Divide rows `top..end` by their weights, clear them, and return them (`None` when
    /// `end ≤ top`) with `col_off` 0 (the caller places the strip). Pixels no tile reached
    /// (impossible with a covering plan) are invalid.
    pub fn emit(&mut self, end: usize) -> Option<Strip> {
        let end = end.min(self.height);
        if end <= self.top {
            return None;
        }
        let (w, k) = (self.width, self.channels);
        let rows = end - self.top;
        let mut values = vec![0.0f32; k * rows * w];
        let mut valid = vec![0u8; rows * w];
        for r in 0..rows {
            let slot = (self.top + r) % self.cap;
            let ws = &self.wsum[slot * w..(slot + 1) * w];
            let vs = &self.valid[slot * w..(slot + 1) * w];
            let out_valid = &mut valid[r * w..(r + 1) * w];
            for x in 0..w {
                out_valid[x] = u8::from(vs[x] != 0 && ws[x] > 0.0);
            }
            for ch in 0..k {
                let o = (slot * k + ch) * w;
                let src = &self.sum[o..o + w];
                let dst = &mut values[(ch * rows + r) * w..(ch * rows + r + 1) * w];
                for x in 0..w {
                    dst[x] = if ws[x] > 0.0 { src[x] / ws[x] } else { 0.0 };
                }
            }
            self.sum[slot * k * w..(slot + 1) * k * w].fill(0.0);
            self.wsum[slot * w..(slot + 1) * w].fill(0.0);
            self.valid[slot * w..(slot + 1) * w].fill(0);
        }
        let strip =
            Strip { row_off: self.top, rows, col_off: 0, width: w, channels: k, values, valid };
        self.top = end;
        Some(strip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_mean_of_overlapping_tiles() {
        // 1 channel, 6 x 4 output, tiles of 4 rows
        let mut b = RowBand::new(6, 4, 1, 4);
        let ones = vec![1.0f32; 16];
        let threes = vec![3.0f32; 16];
        let w = [1.0f32; 4];
        b.add(0, 0, &w, &w, &ones, None).unwrap();
        b.add(0, 2, &w, &[1.0, 3.0, 1.0, 1.0], &threes, None).unwrap();
        let s = b.emit(4).unwrap();
        // overlap columns 2..4: weights 1 and 1 (col 2), 1 and 3 (col 3); cols 4, 5: the
        // second tile alone, whatever its weight
        assert_eq!(s.row(0, 0), &[1.0, 1.0, 2.0, 2.5, 3.0, 3.0]);
        assert_eq!(s.row(0, 1)[3], (1.0 + 3.0 * 3.0) / 4.0);
        assert!(s.valid.iter().all(|&v| v == 1));
        assert!(b.emit(4).is_none());
    }

    #[test]
    fn rows_roll_and_out_of_order_tiles_are_refused() {
        let mut b = RowBand::new(2, 10, 2, 4);
        let w = [1.0f32; 4];
        let wc = [1.0f32; 2];
        let pred: Vec<f32> = (0..16).map(|v| v as f32).collect();
        b.add(0, 0, &w, &wc, &pred, Some(&[1, 0, 1, 1, 1, 1, 1, 1])).unwrap();
        let s = b.emit(3).unwrap();
        assert_eq!((s.row_off, s.rows), (0, 3));
        assert_eq!(s.valid[..2], [1, 0]);
        assert_eq!(s.row(1, 0), &[8.0, 9.0]);
        assert!(b.add(0, 0, &w, &wc, &pred, None).is_err()); // row 0 already emitted
        b.add(3, 0, &w, &wc, &pred, None).unwrap(); // rows 3..7 fit the ring
        assert!(b.add(6, 0, &w, &wc, &pred, None).is_err()); // 6..10 does not yet
        let s = b.emit(7).unwrap();
        assert_eq!((s.row_off, s.rows), (3, 4));
        // row 3: the first tile's last row (6, 7) and the second tile's first row (0, 1)
        assert_eq!(s.row(0, 0), &[3.0, 4.0]);
        // row 4: the second tile's row 1 alone
        assert_eq!(s.row(0, 1), &[2.0, 3.0]);
        assert_eq!(s.row(1, 1), &[10.0, 11.0]);
        assert_eq!(b.top(), 7);
    }
}
