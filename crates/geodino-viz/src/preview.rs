//! Raster previews: colour-mapped maps with a colour bar or a class legend, a title and a scale
//! bar, and bounded-memory thumbnail accumulators for whole scenes.
//!
//! A whole scene is previewed in two steps: stream its windows into a [`Thumbnail`] (continuous
//! values, block-averaged) or a [`ClassThumbnail`] (classes, nearest pixel), whose memory is set
//! by the thumbnail size and not by the scene; then draw the small array with [`continuous_map`]
//! or [`class_map`].

use ndarray::{Array2, ArrayView2, ArrayView3};

use crate::canvas::{Align, Canvas};
use crate::{Colormap, Rgba, font, ticks};

/// Background of every picture.
pub const BACKGROUND: Rgba = [255, 255, 255, 255];
/// Text and frame colour.
pub const INK: Rgba = [20, 20, 20, 255];
/// Colour of pixels without data.
pub const NODATA: Rgba = [200, 200, 200, 255];

/// How values map to the ends of the colour map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRange {
    /// Fixed `[lo, hi]`.
    Fixed(f64, f64),
    /// The given percentiles (0–100) of the valid values, e.g. `Percentiles(2.0, 98.0)`.
    Percentiles(f64, f64),
    /// Symmetric about zero: `[-m, m]` with `m` the given percentile of `|v|` (diverging maps).
    Symmetric(f64),
}

/// Decorations of a map picture.
#[derive(Debug, Clone, PartialEq)]
pub struct MapStyle {
    /// Title above the map.
    pub title: Option<String>,
    /// Caption of the colour bar (units, e.g. `"m"`).
    pub units: Option<String>,
    /// Ground size of one pixel of the array given (metres); draws a scale bar when set.
    pub pixel_size_m: Option<f64>,
    /// Small arrays are magnified by an integer factor until the map is at least this many
    /// pixels on its longer side (default 512).
    pub min_side: usize,
}

impl Default for MapStyle {
    fn default() -> Self {
        MapStyle { title: None, units: None, pixel_size_m: None, min_side: 512 }
    }
}

/// One class of a categorical raster: its pixel value, name and colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassEntry {
    /// Pixel value.
    pub value: u32,
    /// Display name.
    pub name: String,
    /// Colour.
    pub color: Rgba,
}

/// The `p`-th percentile (0–100) of `values` by linear interpolation between order statistics
/// (numpy's default), ignoring NaN. `None` when no value is finite.
pub fn percentile(values: &[f32], p: f64) -> Option<f64> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite values compare"));
    let pos = (p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    let a = v[i] as f64;
    let b = v[(i + 1).min(v.len() - 1)] as f64;
    Some(a + (b - a) * f)
}

/// Resolve a [`ValueRange`] against data; never returns an empty range.
pub fn resolve_range(values: &[f32], range: ValueRange) -> (f64, f64) {
    let (lo, hi) = match range {
        ValueRange::Fixed(a, b) => (a, b),
        ValueRange::Percentiles(a, b) => {
            (percentile(values, a).unwrap_or(0.0), percentile(values, b).unwrap_or(1.0))
        }
        ValueRange::Symmetric(p) => {
            let abs: Vec<f32> = values.iter().map(|v| v.abs()).collect();
            let m = percentile(&abs, p).unwrap_or(1.0);
            (-m, m)
        }
    };
    if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) }
}

/// Colour-map `values` (NaN and `nodata` drawn in [`NODATA`]) pixel for pixel.
pub fn colorize(
    values: ArrayView2<'_, f32>,
    cmap: &Colormap,
    lo: f64,
    hi: f64,
    nodata: Option<f32>,
) -> Canvas {
    let (h, w) = values.dim();
    let lut = cmap.lut(256);
    let mut c = Canvas::new(w, h, NODATA);
    let span = if hi > lo { hi - lo } else { 1.0 };
    for ((y, x), &v) in values.indexed_iter() {
        if v.is_nan() || nodata == Some(v) {
            continue;
        }
        let t = ((v as f64 - lo) / span).clamp(0.0, 1.0);
        c.set(x as i64, y as i64, lut[(t * 255.0).round() as usize]);
    }
    c
}

/// Colour classes by `entries` (values without an entry are drawn in [`NODATA`]).
pub fn colorize_classes<T: Copy + Into<u32>>(
    classes: ArrayView2<'_, T>,
    entries: &[ClassEntry],
) -> Canvas {
    let (h, w) = classes.dim();
    let mut c = Canvas::new(w, h, NODATA);
    let max = entries.iter().map(|e| e.value).max().unwrap_or(0) as usize;
    let mut lut: Vec<Option<Rgba>> = vec![None; max + 1];
    for e in entries {
        lut[e.value as usize] = Some(e.color);
    }
    for ((y, x), &v) in classes.indexed_iter() {
        let v: u32 = v.into();
        if let Some(Some(col)) = lut.get(v as usize) {
            c.set(x as i64, y as i64, *col);
        }
    }
    c
}

/// Magnify by an integer factor (nearest neighbour).
pub fn magnify(src: &Canvas, factor: usize) -> Canvas {
    if factor <= 1 {
        return src.clone();
    }
    let mut out = Canvas::new(src.width() * factor, src.height() * factor, BACKGROUND);
    for y in 0..src.height() {
        for x in 0..src.width() {
            out.fill_rect(
                (x * factor) as i64,
                (y * factor) as i64,
                factor as i64,
                factor as i64,
                src.get(x, y),
            );
        }
    }
    out
}

fn magnification(w: usize, h: usize, min_side: usize) -> usize {
    let side = w.max(h).max(1);
    if side >= min_side { 1 } else { min_side.div_ceil(side).min(64) }
}

const PAD: i64 = 12;
const SCALE_BAR_H: i64 = 30;

/// A map picture: the magnified `map`, a title above, a scale bar below (when the ground pixel
/// size is known) and `side` (colour bar or legend) on the right.
fn compose(map: &Canvas, factor: usize, style: &MapStyle, side: Option<&Canvas>) -> Canvas {
    let m = magnify(map, factor);
    let title_h = if style.title.is_some() { (font::text_height(2) + 10) as i64 } else { 0 };
    let side_w = side.map(|s| s.width() as i64 + PAD).unwrap_or(0);
    let side_h = side.map(|s| s.height() as i64).unwrap_or(0);
    let bar_h = if style.pixel_size_m.is_some() { SCALE_BAR_H } else { 0 };
    let w = PAD + m.width() as i64 + side_w + PAD;
    let title_w = style.title.as_deref().map(|t| font::text_width(t, 2) as i64 + 2 * PAD);
    let w = w.max(title_w.unwrap_or(0));
    let h = PAD + title_h + (m.height() as i64).max(side_h) + bar_h + PAD;
    let mut c = Canvas::new(w as usize, h as usize, BACKGROUND);
    if let Some(t) = &style.title {
        c.text(PAD, PAD, t, 2, INK);
    }
    let top = PAD + title_h;
    c.blit(&m, PAD, top);
    c.stroke_rect(PAD - 1, top - 1, m.width() as i64 + 2, m.height() as i64 + 2, INK);
    if let Some(s) = side {
        c.blit(s, PAD + m.width() as i64 + PAD, top);
    }
    if let Some(px) = style.pixel_size_m {
        let metres_per_px = px / factor as f64;
        draw_scale_bar(&mut c, PAD, top + m.height() as i64 + 8, m.width(), metres_per_px);
    }
    c
}

/// A scale bar about a quarter of `width_px` long, starting at `(x, y)`.
fn draw_scale_bar(c: &mut Canvas, x: i64, y: i64, width_px: usize, metres_per_px: f64) {
    if metres_per_px <= 0.0 || !metres_per_px.is_finite() {
        return;
    }
    let target = width_px as f64 * metres_per_px / 4.0;
    let len_m = ticks::nice_step(target, 1);
    let len_px = (len_m / metres_per_px).round() as i64;
    if len_px < 4 {
        return;
    }
    let half = len_px / 2;
    c.fill_rect(x, y, half, 6, INK);
    c.fill_rect(x + half, y, len_px - half, 6, BACKGROUND);
    c.stroke_rect(x, y, len_px, 6, INK);
    let label = if len_m >= 1000.0 {
        format!("{} km", ticks::format(len_m / 1000.0, len_m / 1000.0))
    } else {
        format!("{} m", ticks::format(len_m, len_m))
    };
    c.text(x + len_px + 6, y - 1, &label, 1, INK);
}

/// A vertical colour bar `height` pixels tall with tick labels and an optional caption.
pub fn colorbar(cmap: &Colormap, lo: f64, hi: f64, height: usize, units: Option<&str>) -> Canvas {
    let bar_w = 16i64;
    let height = height.max(60) as i64;
    let caption_h = if units.is_some() { font::LINE_HEIGHT as i64 + 4 } else { 0 };
    let bar_h = height - caption_h;
    let t = ticks::linear(lo, hi, 5);
    let labels: Vec<(f64, String)> = t
        .ticks
        .iter()
        .filter(|&&v| v >= lo - 1e-9 * (hi - lo).abs() && v <= hi + 1e-9 * (hi - lo).abs())
        .map(|&v| (v, ticks::format(v, t.step)))
        .collect();
    let label_w = labels.iter().map(|(_, s)| font::text_width(s, 1)).max().unwrap_or(0) as i64;
    let cap_w = units.map(|u| font::text_width(u, 1) as i64).unwrap_or(0);
    let w = (bar_w + 5 + label_w + 2).max(cap_w + 2);
    let mut c = Canvas::new(w as usize, height as usize, BACKGROUND);
    if let Some(u) = units {
        c.text(0, 0, u, 1, INK);
    }
    let y0 = caption_h;
    for i in 0..bar_h {
        let f = 1.0 - i as f64 / (bar_h - 1).max(1) as f64;
        c.fill_rect(0, y0 + i, bar_w, 1, cmap.at(f));
    }
    c.stroke_rect(0, y0, bar_w, bar_h, INK);
    for (v, s) in labels {
        let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let y = y0 + ((1.0 - f) * (bar_h - 1) as f64).round() as i64;
        c.fill_rect(bar_w, y, 3, 1, INK);
        c.text(bar_w + 5, (y - 3).clamp(y0, y0 + bar_h - 7), &s, 1, INK);
    }
    c
}

/// A legend: one colour swatch and name per class, top to bottom.
pub fn class_legend(entries: &[ClassEntry]) -> Canvas {
    let row_h = 16i64;
    let name_w = entries.iter().map(|e| font::text_width(&e.name, 1)).max().unwrap_or(0) as i64;
    let w = 14 + 6 + name_w + 2;
    let h = (row_h * entries.len() as i64).max(1);
    let mut c = Canvas::new(w as usize, h as usize, BACKGROUND);
    for (i, e) in entries.iter().enumerate() {
        let y = i as i64 * row_h;
        c.fill_rect(0, y + 1, 14, 11, e.color);
        c.stroke_rect(0, y + 1, 14, 11, INK);
        c.text(20, y + 3, &e.name, 1, INK);
    }
    c
}

/// A colour-mapped picture of `values` with a colour bar, title and scale bar. NaN and `nodata`
/// are drawn grey.
pub fn continuous_map(
    values: ArrayView2<'_, f32>,
    nodata: Option<f32>,
    cmap: &Colormap,
    range: ValueRange,
    style: &MapStyle,
) -> Canvas {
    let valid: Vec<f32> =
        values.iter().copied().filter(|v| !v.is_nan() && nodata != Some(*v)).collect();
    let (lo, hi) = resolve_range(&valid, range);
    let (h, w) = values.dim();
    let factor = magnification(w, h, style.min_side);
    let map = colorize(values, cmap, lo, hi, nodata);
    let bar = colorbar(cmap, lo, hi, (h * factor).clamp(120, 400), style.units.as_deref());
    compose(&map, factor, style, Some(&bar))
}

/// A picture of a class raster with a legend, title and scale bar.
pub fn class_map<T: Copy + Into<u32>>(
    classes: ArrayView2<'_, T>,
    entries: &[ClassEntry],
    style: &MapStyle,
) -> Canvas {
    let (h, w) = classes.dim();
    let factor = magnification(w, h, style.min_side);
    let map = colorize_classes(classes, entries);
    compose(&map, factor, style, Some(&class_legend(entries)))
}

/// A picture of an 8-bit RGB array `(3, row, col)` with title and scale bar.
///
/// # Panics
/// When the first axis is not of length 3.
pub fn rgb_map(rgb: ArrayView3<'_, u8>, style: &MapStyle) -> Canvas {
    let (b, h, w) = rgb.dim();
    assert_eq!(b, 3, "rgb_map needs 3 bands, got {b}");
    let mut map = Canvas::new(w, h, BACKGROUND);
    for y in 0..h {
        for x in 0..w {
            map.set(x as i64, y as i64, [rgb[[0, y, x]], rgb[[1, y, x]], rgb[[2, y, x]], 255]);
        }
    }
    let factor = magnification(w, h, style.min_side);
    compose(&map, factor, style, None)
}

/// Block-averaging thumbnail of a continuous raster, fed window by window in any order.
/// Memory: two numbers per thumbnail pixel, independent of the source size.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    src_width: usize,
    src_height: usize,
    factor: usize,
    width: usize,
    height: usize,
    sum: Vec<f64>,
    count: Vec<u32>,
}

impl Thumbnail {
    /// A thumbnail of a `src_width` × `src_height` raster whose longer side is at most
    /// `max_side` pixels: each thumbnail pixel averages a `factor` × `factor` block.
    pub fn new(src_width: usize, src_height: usize, max_side: usize) -> Self {
        let factor = src_width.max(src_height).div_ceil(max_side.max(1)).max(1);
        let width = src_width.div_ceil(factor).max(1);
        let height = src_height.div_ceil(factor).max(1);
        Thumbnail {
            src_width,
            src_height,
            factor,
            width,
            height,
            sum: vec![0.0; width * height],
            count: vec![0; width * height],
        }
    }

    /// Source pixels per thumbnail pixel along each axis.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Thumbnail `(width, height)`.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Add the source window whose top-left pixel is `(row_off, col_off)`. NaN and `nodata`
    /// pixels are skipped; pixels outside the source are ignored.
    pub fn add(
        &mut self,
        row_off: usize,
        col_off: usize,
        data: ArrayView2<'_, f32>,
        nodata: Option<f32>,
    ) {
        for ((r, c), &v) in data.indexed_iter() {
            let (y, x) = (row_off + r, col_off + c);
            if v.is_nan() || nodata == Some(v) || y >= self.src_height || x >= self.src_width {
                continue;
            }
            let i = (y / self.factor) * self.width + x / self.factor;
            self.sum[i] += v as f64;
            self.count[i] += 1;
        }
    }

    /// Add another thumbnail of the same source (e.g. from another thread).
    ///
    /// # Panics
    /// When the two thumbnails have different layouts.
    pub fn merge(&mut self, other: &Thumbnail) {
        assert_eq!(
            (self.width, self.height, self.factor),
            (other.width, other.height, other.factor)
        );
        for i in 0..self.sum.len() {
            self.sum[i] += other.sum[i];
            self.count[i] += other.count[i];
        }
    }

    /// The block means, `(row, col)`; NaN where a block had no valid pixel.
    pub fn finish(&self) -> Array2<f32> {
        Array2::from_shape_fn((self.height, self.width), |(y, x)| {
            let i = y * self.width + x;
            if self.count[i] == 0 { f32::NAN } else { (self.sum[i] / self.count[i] as f64) as f32 }
        })
    }
}

/// Nearest-pixel thumbnail of a class raster: each thumbnail pixel takes the source pixel at the
/// centre of its block. Memory: one value per thumbnail pixel.
#[derive(Debug, Clone)]
pub struct ClassThumbnail<T> {
    src_width: usize,
    src_height: usize,
    factor: usize,
    width: usize,
    height: usize,
    values: Vec<T>,
}

impl<T: Copy> ClassThumbnail<T> {
    /// As [`Thumbnail::new`]; pixels never fed keep `fill`.
    pub fn new(src_width: usize, src_height: usize, max_side: usize, fill: T) -> Self {
        let factor = src_width.max(src_height).div_ceil(max_side.max(1)).max(1);
        let width = src_width.div_ceil(factor).max(1);
        let height = src_height.div_ceil(factor).max(1);
        ClassThumbnail {
            src_width,
            src_height,
            factor,
            width,
            height,
            values: vec![fill; width * height],
        }
    }

    /// Source pixels per thumbnail pixel along each axis.
    pub fn factor(&self) -> usize {
        self.factor
    }

    fn sample_pos(&self, t: usize, src: usize) -> usize {
        (t * self.factor + self.factor / 2).min(src - 1)
    }

    /// Add the source window whose top-left pixel is `(row_off, col_off)`.
    pub fn add(&mut self, row_off: usize, col_off: usize, data: ArrayView2<'_, T>) {
        let (h, w) = data.dim();
        if h == 0 || w == 0 {
            return;
        }
        let ty0 = row_off / self.factor;
        let ty1 = ((row_off + h - 1) / self.factor).min(self.height - 1);
        let tx0 = col_off / self.factor;
        let tx1 = ((col_off + w - 1) / self.factor).min(self.width - 1);
        for ty in ty0..=ty1 {
            let sy = self.sample_pos(ty, self.src_height);
            if sy < row_off || sy >= row_off + h {
                continue;
            }
            for tx in tx0..=tx1 {
                let sx = self.sample_pos(tx, self.src_width);
                if sx < col_off || sx >= col_off + w {
                    continue;
                }
                self.values[ty * self.width + tx] = data[[sy - row_off, sx - col_off]];
            }
        }
    }

    /// The sampled classes, `(row, col)`.
    pub fn finish(&self) -> Array2<T> {
        Array2::from_shape_vec((self.height, self.width), self.values.clone())
            .expect("the buffer has height × width values")
    }
}

/// Put pictures side by side, top-aligned, with `gap` pixels between them.
pub fn hstack(parts: &[&Canvas], gap: usize) -> Canvas {
    let w = parts.iter().map(|p| p.width()).sum::<usize>() + gap * parts.len().saturating_sub(1);
    let h = parts.iter().map(|p| p.height()).max().unwrap_or(1);
    let mut c = Canvas::new(w.max(1), h, BACKGROUND);
    let mut x = 0;
    for p in parts {
        c.blit(p, x as i64, 0);
        x += p.width() + gap;
    }
    c
}

/// Put pictures one above the other, left-aligned, with `gap` pixels between them.
pub fn vstack(parts: &[&Canvas], gap: usize) -> Canvas {
    let h = parts.iter().map(|p| p.height()).sum::<usize>() + gap * parts.len().saturating_sub(1);
    let w = parts.iter().map(|p| p.width()).max().unwrap_or(1);
    let mut c = Canvas::new(w, h.max(1), BACKGROUND);
    let mut y = 0;
    for p in parts {
        c.blit(p, 0, y as i64);
        y += p.height() + gap;
    }
    c
}

/// Draw `text` centred horizontally at the top of a new canvas `width` wide: a caption strip.
pub fn caption(text: &str, width: usize, scale: usize) -> Canvas {
    let h = font::text_height(scale) + 8;
    let mut c = Canvas::new(width.max(1), h, BACKGROUND);
    c.text_aligned(width as i64 / 2, 4, text, scale, INK, Align::Center);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn percentiles_match_numpy_linear_interpolation() {
        // numpy.percentile([1, 2, 3, 4], 25) = 1.75; 50 -> 2.5; NaN ignored.
        let v = [4.0, f32::NAN, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 25.0), Some(1.75));
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&[f32::NAN], 50.0), None);
        assert_eq!(resolve_range(&[1.0, -3.0], ValueRange::Symmetric(100.0)), (-3.0, 3.0));
        assert_eq!(resolve_range(&[2.0, 2.0], ValueRange::Percentiles(0.0, 100.0)), (1.5, 2.5));
    }

    #[test]
    fn thumbnail_block_means_skip_nodata_and_accept_any_window_order() {
        // A 5 × 3 source, factor 2 (max side 3): thumbnail 3 × 2.
        // rows: [1 2 3 4 5], [6 7 8 9 10], [11 12 13 14 -1(nodata)]
        let mut t = Thumbnail::new(5, 3, 3);
        assert_eq!((t.factor(), t.size()), (2, (3, 2)));
        let src = array![
            [1.0f32, 2.0, 3.0, 4.0, 5.0],
            [6.0, 7.0, 8.0, 9.0, 10.0],
            [11.0, 12.0, 13.0, 14.0, -1.0]
        ];
        // Feed bottom row first, then the top two rows in two column windows.
        t.add(2, 0, src.slice(ndarray::s![2..3, ..]), Some(-1.0));
        t.add(0, 3, src.slice(ndarray::s![0..2, 3..5]), Some(-1.0));
        t.add(0, 0, src.slice(ndarray::s![0..2, 0..3]), Some(-1.0));
        let m = t.finish();
        // Block (0,0) = mean(1,2,6,7) = 4; (0,1) = mean(3,4,8,9) = 6; (0,2) = mean(5,10) = 7.5;
        // (1,0) = mean(11,12) = 11.5; (1,1) = 13.5; (1,2) = nodata only -> NaN.
        assert_eq!(m.row(0).to_vec(), vec![4.0, 6.0, 7.5]);
        assert_eq!(m[[1, 0]], 11.5);
        assert_eq!(m[[1, 1]], 13.5);
        assert!(m[[1, 2]].is_nan());
    }

    #[test]
    fn class_thumbnail_samples_block_centres() {
        // 4 × 4 source, max side 2 -> factor 2; centres at (1, 1), (1, 3), (3, 1), (3, 3).
        let src = Array2::from_shape_fn((4, 4), |(r, c)| (r * 4 + c) as u8);
        let mut t = ClassThumbnail::new(4, 4, 2, 255u8);
        t.add(0, 0, src.slice(ndarray::s![0..2, ..]));
        t.add(2, 0, src.slice(ndarray::s![2..4, ..]));
        assert_eq!(t.finish(), array![[5u8, 7], [13, 15]]);
        let mut partial = ClassThumbnail::new(4, 4, 2, 255u8);
        partial.add(0, 0, src.slice(ndarray::s![0..1, ..]));
        assert_eq!(partial.finish(), array![[255u8, 255], [255, 255]]);
    }

    #[test]
    fn maps_have_the_data_pixels_and_decorations() {
        let v = array![[0.0f32, 1.0], [f32::NAN, 0.5]];
        let style = MapStyle {
            title: Some("t".into()),
            units: Some("m".into()),
            pixel_size_m: Some(1.0),
            min_side: 100,
        };
        let c = continuous_map(
            v.view(),
            None,
            &Colormap::viridis(),
            ValueRange::Fixed(0.0, 1.0),
            &style,
        );
        // Magnified 50×; the map starts below the title at (PAD, PAD + title height).
        let top = (PAD + font::text_height(2) as i64 + 10) as usize;
        let px = |x: usize, y: usize| c.get(PAD as usize + x * 50 + 25, top + y * 50 + 25);
        assert_eq!(px(0, 0), Colormap::viridis().at(0.0));
        assert_eq!(px(1, 0), Colormap::viridis().at(1.0));
        assert_eq!(px(0, 1), NODATA);
        let classes = array![[1u8, 2], [0, 2]];
        let entries = vec![
            ClassEntry { value: 1, name: "tree".into(), color: [0, 128, 0, 255] },
            ClassEntry { value: 2, name: "water".into(), color: [0, 0, 255, 255] },
        ];
        let c =
            class_map(classes.view(), &entries, &MapStyle { min_side: 2, ..Default::default() });
        assert_eq!(c.get(PAD as usize, PAD as usize), [0, 128, 0, 255]);
        assert_eq!(c.get(PAD as usize, PAD as usize + 1), NODATA);
    }
}
