//! Pixel-space rectangles.

use serde::{Deserialize, Serialize};

/// A rectangle of pixels: `width` columns starting at column `col_off`, `height` rows starting at
/// row `row_off`. Offsets may be negative or run past the raster for boundless reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First column (x), 0-based.
    pub col_off: i64,
    /// First row (y), 0-based.
    pub row_off: i64,
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
}

impl Window {
    /// A window of `width` × `height` pixels whose top-left pixel is `(col_off, row_off)`.
    pub fn new(col_off: i64, row_off: i64, width: usize, height: usize) -> Self {
        Window { col_off, row_off, width, height }
    }

    /// The whole of a `width` × `height` raster.
    pub fn full(width: usize, height: usize) -> Self {
        Window::new(0, 0, width, height)
    }

    /// One past the last column.
    pub fn col_end(&self) -> i64 {
        self.col_off + self.width as i64
    }

    /// One past the last row.
    pub fn row_end(&self) -> i64 {
        self.row_off + self.height as i64
    }

    /// Number of pixels.
    pub fn area(&self) -> usize {
        self.width * self.height
    }

    /// True when the window has no pixels.
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// The overlap of two windows, or `None` when they do not overlap.
    pub fn intersection(&self, other: &Window) -> Option<Window> {
        let c0 = self.col_off.max(other.col_off);
        let r0 = self.row_off.max(other.row_off);
        let c1 = self.col_end().min(other.col_end());
        let r1 = self.row_end().min(other.row_end());
        (c1 > c0 && r1 > r0).then(|| Window::new(c0, r0, (c1 - c0) as usize, (r1 - r0) as usize))
    }

    /// True when `self` lies entirely inside a `width` × `height` raster.
    pub fn is_inside(&self, width: usize, height: usize) -> bool {
        self.col_off >= 0
            && self.row_off >= 0
            && self.col_end() <= width as i64
            && self.row_end() <= height as i64
    }

    /// True when `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Window) -> bool {
        other.col_off >= self.col_off
            && other.row_off >= self.row_off
            && other.col_end() <= self.col_end()
            && other.row_end() <= self.row_end()
    }

    /// The window shifted so that `origin` becomes `(0, 0)`: the position of `self` inside a
    /// buffer that holds `origin`.
    pub fn relative_to(&self, origin: &Window) -> Window {
        Window::new(
            self.col_off - origin.col_off,
            self.row_off - origin.row_off,
            self.width,
            self.height,
        )
    }

    /// Indices `(block_col, block_row)` of every `block`-sized block of a raster that this window
    /// touches, row-major. The window is clipped to a `raster_width` × `raster_height` raster.
    pub fn blocks(
        &self,
        block: BlockSize,
        raster_width: usize,
        raster_height: usize,
    ) -> Vec<(usize, usize)> {
        let Some(w) = self.intersection(&Window::full(raster_width, raster_height)) else {
            return Vec::new();
        };
        let bc0 = w.col_off as usize / block.width;
        let br0 = w.row_off as usize / block.height;
        let bc1 = (w.col_end() as usize - 1) / block.width;
        let br1 = (w.row_end() as usize - 1) / block.height;
        let mut out = Vec::with_capacity((bc1 - bc0 + 1) * (br1 - br0 + 1));
        for br in br0..=br1 {
            for bc in bc0..=bc1 {
                out.push((bc, br));
            }
        }
        out
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}+{}+{}", self.width, self.height, self.col_off, self.row_off)
    }
}

/// The size of a dataset's storage blocks (tiles, strips or chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockSize {
    /// Block width in pixels.
    pub width: usize,
    /// Block height in pixels.
    pub height: usize,
}

impl BlockSize {
    /// A `width` × `height` block.
    pub fn new(width: usize, height: usize) -> Self {
        BlockSize { width, height }
    }

    /// Number of blocks across and down a `width` × `height` raster.
    pub fn grid(&self, width: usize, height: usize) -> (usize, usize) {
        (width.div_ceil(self.width), height.div_ceil(self.height))
    }

    /// The window of block `(block_col, block_row)`, clipped to the raster.
    pub fn window(
        &self,
        block_col: usize,
        block_row: usize,
        width: usize,
        height: usize,
    ) -> Window {
        let c0 = block_col * self.width;
        let r0 = block_row * self.height;
        Window::new(
            c0 as i64,
            r0 as i64,
            self.width.min(width.saturating_sub(c0)),
            self.height.min(height.saturating_sub(r0)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_and_containment() {
        let a = Window::new(0, 0, 10, 10);
        let b = Window::new(5, -3, 10, 5);
        assert_eq!(a.intersection(&b), Some(Window::new(5, 0, 5, 2)));
        assert_eq!(a.intersection(&Window::new(10, 0, 1, 1)), None);
        assert!(a.contains(&Window::new(2, 2, 8, 8)));
        assert!(!a.contains(&b));
        assert!(!b.is_inside(10, 10));
        assert_eq!(
            Window::new(7, 9, 2, 2).relative_to(&Window::new(5, 5, 10, 10)),
            Window::new(2, 4, 2, 2)
        );
    }

    #[test]
    fn blocks_touched_by_a_window() {
        let bs = BlockSize::new(256, 256);
        // 791x718 raster (rgb_lzw.tif): a window straddling four tiles.
        let w = Window::new(250, 500, 10, 20);
        assert_eq!(w.blocks(bs, 791, 718), vec![(0, 1), (1, 1), (0, 2), (1, 2)]);
        assert_eq!(bs.grid(791, 718), (4, 3));
        assert_eq!(bs.window(3, 2, 791, 718), Window::new(768, 512, 23, 206));
        // boundless window clipped before blocks are listed
        assert_eq!(Window::new(-5, -5, 10, 10).blocks(bs, 791, 718), vec![(0, 0)]);
        assert!(Window::new(900, 0, 5, 5).blocks(bs, 791, 718).is_empty());
    }
}
