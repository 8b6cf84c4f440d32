//! An RGBA8 drawing surface with the few primitives plots and legends need.

use std::io::Write;
use std::path::Path;

use crate::font;
use crate::{Error, Result, Rgba};

/// Horizontal anchoring of text relative to the `x` given to [`Canvas::text_aligned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `x` is the left edge.
    Left,
    /// `x` is the centre.
    Center,
    /// `x` is the right edge.
    Right,
}

/// An RGBA8 picture, row-major, origin top-left. Drawing outside the picture is clipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A `width` × `height` canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgba) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 4);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Canvas { width, height, pixels }
    }

    /// Wrap RGBA8 pixels (`width * height * 4` bytes, row-major).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the length does not match.
    pub fn from_rgba(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        if pixels.len() != width * height * 4 {
            return Err(Error::Invalid(format!(
                "{} bytes given for a {width}x{height} RGBA picture ({} expected)",
                pixels.len(),
                width * height * 4
            )));
        }
        Ok(Canvas { width, height, pixels })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The RGBA8 pixels, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at `(x, y)`.
    ///
    /// # Panics
    /// When `(x, y)` lies outside the canvas.
    pub fn get(&self, x: usize, y: usize) -> Rgba {
        assert!(x < self.width && y < self.height, "({x}, {y}) outside the canvas");
        let i = (y * self.width + x) * 4;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2], self.pixels[i + 3]]
    }

    /// Set `(x, y)` to `c` (no blending); ignored outside the canvas.
    #[inline]
    pub fn set(&mut self, x: i64, y: i64, c: Rgba) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 4;
        self.pixels[i..i + 4].copy_from_slice(&c);
    }

    /// Blend `c` over `(x, y)` with coverage `alpha` in `[0, 1]` (times `c`'s own alpha).
    #[inline]
    pub fn blend(&mut self, x: i64, y: i64, c: Rgba, alpha: f32) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let a = (alpha.clamp(0.0, 1.0) * c[3] as f32 / 255.0).clamp(0.0, 1.0);
        if a <= 0.0 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 4;
        let p = &mut self.pixels[i..i + 4];
        for k in 0..3 {
            p[k] = (p[k] as f32 * (1.0 - a) + c[k] as f32 * a).round() as u8;
        }
        p[3] = (p[3] as f32 + (255.0 - p[3] as f32) * a).round() as u8;
    }

    /// Fill the rectangle with top-left `(x, y)` and size `w` × `h`.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgba) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = (x + w).min(self.width as i64);
        let y1 = (y + h).min(self.height as i64);
        for yy in y0..y1 {
            for xx in x0..x1 {
                if c[3] == 255 {
                    self.set(xx, yy, c);
                } else {
                    self.blend(xx, yy, c, 1.0);
                }
            }
        }
    }

    /// A one-pixel outline of the rectangle with top-left `(x, y)` and size `w` × `h`.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgba) {
        if w <= 0 || h <= 0 {
            return;
        }
        self.fill_rect(x, y, w, 1, c);
        self.fill_rect(x, y + h - 1, w, 1, c);
        self.fill_rect(x, y, 1, h, c);
        self.fill_rect(x + w - 1, y, 1, h, c);
    }

    /// An anti-aliased line of `width` pixels from `(x0, y0)` to `(x1, y1)` (pixel centres are at
    /// integer + 0.5).
    pub fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, width: f32, c: Rgba) {
        let r = width.max(0.5) / 2.0;
        let minx = (x0.min(x1) - r - 1.0).floor() as i64;
        let maxx = (x0.max(x1) + r + 1.0).ceil() as i64;
        let miny = (y0.min(y1) - r - 1.0).floor() as i64;
        let maxy = (y0.max(y1) + r + 1.0).ceil() as i64;
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = dx * dx + dy * dy;
        for y in miny.max(0)..=maxy.min(self.height as i64 - 1) {
            for x in minx.max(0)..=maxx.min(self.width as i64 - 1) {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (x0 + t * dx - px, y0 + t * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let cov = (r + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend(x, y, c, cov);
                }
            }
        }
    }

    /// A connected anti-aliased polyline through `points`.
    pub fn polyline(&mut self, points: &[(f32, f32)], width: f32, c: Rgba) {
        for w in points.windows(2) {
            self.line(w[0].0, w[0].1, w[1].0, w[1].1, width, c);
        }
    }

    /// A filled anti-aliased disc.
    pub fn disc(&mut self, cx: f32, cy: f32, radius: f32, c: Rgba) {
        let x0 = (cx - radius - 1.0).floor() as i64;
        let x1 = (cx + radius + 1.0).ceil() as i64;
        let y0 = (cy - radius - 1.0).floor() as i64;
        let y1 = (cy + radius + 1.0).ceil() as i64;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let cov = (radius + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.0 {
                    self.blend(x, y, c, cov);
                }
            }
        }
    }

    /// Draw `text` with its top-left corner at `(x, y)` in the built-in font magnified `scale`
    /// times; returns the width drawn. `\n` starts a new line.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, c: Rgba) -> usize {
        let scale = scale.max(1) as i64;
        let mut cx = x;
        let mut cy = y;
        let mut widest = 0i64;
        for ch in text.chars() {
            if ch == '\n' {
                widest = widest.max(cx - x);
                cx = x;
                cy += font::LINE_HEIGHT as i64 * scale;
                continue;
            }
            let g = font::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..font::GLYPH_WIDTH {
                    if bits & (1 << (font::GLYPH_WIDTH - 1 - col)) != 0 {
                        self.fill_rect(
                            cx + col as i64 * scale,
                            cy + row as i64 * scale,
                            scale,
                            scale,
                            c,
                        );
                    }
                }
            }
            cx += font::ADVANCE as i64 * scale;
        }
        widest.max(cx - x).max(0) as usize
    }

    /// Draw one line of `text` with its top at `y`, anchored at `x` as `align` says.
    pub fn text_aligned(
        &mut self,
        x: i64,
        y: i64,
        text: &str,
        scale: usize,
        c: Rgba,
        align: Align,
    ) {
        let w = font::text_width(text, scale) as i64;
        let x0 = match align {
            Align::Left => x,
            Align::Center => x - w / 2,
            Align::Right => x - w,
        };
        self.text(x0, y, text, scale, c);
    }

    /// Draw one line of `text` rotated 90° counter-clockwise (reading bottom to top), centred on
    /// `(cx, cy)`: y-axis labels.
    pub fn text_vertical(&mut self, cx: i64, cy: i64, text: &str, scale: usize, c: Rgba) {
        let w = font::text_width(text, scale);
        let h = font::CELL_HEIGHT * scale.max(1);
        let mut tmp = Canvas::new(w.max(1), h.max(1), [0, 0, 0, 0]);
        tmp.text(0, 0, text, scale, c);
        // Rotate CCW: (x, y) in tmp -> (y, w - 1 - x) in the rotated picture of size h × w.
        let (rw, rh) = (h as i64, w as i64);
        let ox = cx - rw / 2;
        let oy = cy - rh / 2;
        for y in 0..h {
            for x in 0..w {
                let p = tmp.get(x, y);
                if p[3] > 0 {
                    self.blend(ox + y as i64, oy + (w - 1 - x) as i64, p, 1.0);
                }
            }
        }
    }

    /// Composite `src` over this canvas with its top-left corner at `(x, y)` (alpha blending).
    pub fn blit(&mut self, src: &Canvas, x: i64, y: i64) {
        for sy in 0..src.height {
            for sx in 0..src.width {
                let p = src.get(sx, sy);
                if p[3] == 255 {
                    self.set(x + sx as i64, y + sy as i64, p);
                } else if p[3] > 0 {
                    self.blend(x + sx as i64, y + sy as i64, p, 1.0);
                }
            }
        }
    }

    /// Encode as an 8-bit RGBA PNG.
    ///
    /// # Errors
    /// [`Error::Png`] when the encoder fails (it does not for valid canvases).
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_png_to(&mut out, Path::new("<memory>"))?;
        Ok(out)
    }

    fn write_png_to<W: Write>(&self, w: W, path: &Path) -> Result<()> {
        let err =
            |e: png::EncodingError| Error::Png { path: path.to_path_buf(), message: e.to_string() };
        if self.width == 0 || self.height == 0 {
            return Err(Error::Png {
                path: path.to_path_buf(),
                message: format!("cannot write an empty {}x{} picture", self.width, self.height),
            });
        }
        let mut enc = png::Encoder::new(w, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Balanced);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&self.pixels).map_err(err)?;
        writer.finish().map_err(err)?;
        Ok(())
    }

    /// Write the canvas to `path` as PNG: into a temporary file in the destination directory,
    /// then renamed, so `path` never holds a half-written picture.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` when the directory is not writable; [`Error::Png`] when
    /// encoding fails.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |e: std::io::Error| Error::Io { path: path.to_path_buf(), source: e };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let f = std::fs::File::create(&tmp).map_err(io)?;
            let mut bw = std::io::BufWriter::new(f);
            self.write_png_to(&mut bw, path)?;
            let f = bw.into_inner().map_err(|e| io(e.into_error()))?;
            f.sync_all().map_err(io)?;
            std::fs::rename(&tmp, path).map_err(io)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgba = [255, 255, 255, 255];
    const BLACK: Rgba = [0, 0, 0, 255];

    #[test]
    fn rectangles_are_clipped_and_exact() {
        let mut c = Canvas::new(4, 3, WHITE);
        c.fill_rect(-1, 1, 3, 5, BLACK);
        // Columns 0..2 of rows 1..3 are black, everything else white.
        for y in 0..3 {
            for x in 0..4 {
                let want = if y >= 1 && x < 2 { BLACK } else { WHITE };
                assert_eq!(c.get(x, y), want, "({x}, {y})");
            }
        }
    }

    #[test]
    fn horizontal_line_covers_its_row() {
        let mut c = Canvas::new(10, 5, WHITE);
        // A 1-px line along the centres of row 2.
        c.line(0.5, 2.5, 9.5, 2.5, 1.0, BLACK);
        for x in 0..10 {
            assert_eq!(c.get(x, 2), BLACK);
            assert_eq!(c.get(x, 0), WHITE);
            assert_eq!(c.get(x, 4), WHITE);
        }
    }

    #[test]
    fn png_round_trips_through_the_decoder() {
        let mut c = Canvas::new(7, 5, [10, 20, 30, 255]);
        c.set(3, 2, [200, 100, 50, 128]);
        let bytes = c.encode_png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (7, 5));
        assert_eq!(&buf[..info.buffer_size()], c.pixels());
    }

    #[test]
    fn save_png_is_atomic_and_names_the_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        Canvas::new(2, 2, WHITE).save_png(&p).unwrap();
        assert!(p.is_file());
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file is left behind");
        let bad = dir.path().join("missing-dir").join("b.png");
        let e = Canvas::new(2, 2, WHITE).save_png(&bad).unwrap_err();
        assert!(e.to_string().contains("b.png"), "{e}");
        assert!(Canvas::new(0, 2, WHITE).encode_png().is_err());
    }

    #[test]
    fn text_draws_glyph_pixels() {
        let mut c = Canvas::new(20, 10, WHITE);
        let w = c.text(1, 1, "I", 1, BLACK);
        assert_eq!(w, font::ADVANCE);
        // 'I' is a bar of 3 at the top row (columns 1..4 of the glyph) and a stem in column 2.
        assert_eq!(c.get(1 + 1, 1), BLACK);
        assert_eq!(c.get(1 + 3, 1), BLACK);
        assert_eq!(c.get(1, 1), WHITE);
        assert_eq!(c.get(1 + 2, 4), BLACK);
        assert_eq!(c.get(1 + 1, 4), WHITE);
    }
}
