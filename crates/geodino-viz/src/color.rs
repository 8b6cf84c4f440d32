//! Colours, continuous colour maps and categorical palettes.

/// An 8-bit RGBA colour (alpha 255 = opaque).
pub type Rgba = [u8; 4];

/// A continuous colour map: colours at evenly spaced anchors, linearly interpolated in RGB.
///
/// The anchors of [`Colormap::viridis`], [`Colormap::magma`], [`Colormap::blues`] and
/// [`Colormap::diverging`] are the published hex values of matplotlib's viridis and magma and of
/// ColorBrewer's Blues and RdBu (reversed) at nine evenly spaced positions, so the maps look
/// like the ones analysts know; between anchors they are interpolated.
#[derive(Debug, Clone, PartialEq)]
pub struct Colormap {
    name: &'static str,
    anchors: Vec<[u8; 3]>,
}

const fn hex(v: u32) -> [u8; 3] {
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

impl Colormap {
    /// A map through `anchors` (at least two), evenly spaced over `[0, 1]`.
    ///
    /// # Panics
    /// With fewer than two anchors.
    pub fn from_anchors(name: &'static str, anchors: Vec<[u8; 3]>) -> Self {
        assert!(anchors.len() >= 2, "a colour map needs at least two anchors");
        Colormap { name, anchors }
    }

    /// Perceptually uniform dark-violet → teal → yellow (viridis-like): heights, densities.
    pub fn viridis() -> Self {
        Self::from_anchors(
            "viridis",
            [
                0x440154, 0x482878, 0x3e4989, 0x31688e, 0x26828e, 0x1f9e89, 0x35b779, 0x6ece58,
                0xfde725,
            ]
            .map(hex)
            .to_vec(),
        )
    }

    /// Black → purple → orange → pale yellow (magma-like): density scatter plots.
    pub fn magma() -> Self {
        Self::from_anchors(
            "magma",
            [
                0x000004, 0x1c1044, 0x4f127b, 0x812581, 0xb5367a, 0xe55064, 0xfb8761, 0xfec287,
                0xfcfdbf,
            ]
            .map(hex)
            .to_vec(),
        )
    }

    /// White → dark blue: confusion matrices.
    pub fn blues() -> Self {
        Self::from_anchors(
            "blues",
            [
                0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6, 0x4292c6, 0x2171b5, 0x08519c,
                0x08306b,
            ]
            .map(hex)
            .to_vec(),
        )
    }

    /// Blue (negative) → near-white (zero) → red (positive): signed errors. Use a range
    /// symmetric about zero so that white means "no error".
    pub fn diverging() -> Self {
        Self::from_anchors(
            "blue-white-red",
            [
                0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7, 0xfddbc7, 0xf4a582, 0xd6604d,
                0xb2182b,
            ]
            .map(hex)
            .to_vec(),
        )
    }

    /// Black → white.
    pub fn gray() -> Self {
        Self::from_anchors("gray", vec![[0, 0, 0], [255, 255, 255]])
    }

    /// The map's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The colour at `t` in `[0, 1]` (clamped; NaN gives the lowest colour).
    pub fn at(&self, t: f64) -> Rgba {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let n = self.anchors.len() - 1;
        let x = t * n as f64;
        let i = (x.floor() as usize).min(n - 1);
        let f = x - i as f64;
        let a = self.anchors[i];
        let b = self.anchors[i + 1];
        let mix = |k: usize| (a[k] as f64 + (b[k] as f64 - a[k] as f64) * f).round() as u8;
        [mix(0), mix(1), mix(2), 255]
    }

    /// The colour of `v` on a linear scale from `vmin` (lowest colour) to `vmax` (highest).
    pub fn map(&self, v: f64, vmin: f64, vmax: f64) -> Rgba {
        let span = vmax - vmin;
        let t = if span.abs() > 0.0 { (v - vmin) / span } else { 0.5 };
        self.at(t)
    }

    /// A lookup table of `n` (≥ 2) colours from the low to the high end.
    pub fn lut(&self, n: usize) -> Vec<Rgba> {
        let n = n.max(2);
        (0..n).map(|i| self.at(i as f64 / (n - 1) as f64)).collect()
    }
}

/// Categorical palettes.
pub mod palette {
    use super::{Rgba, hex};

    /// Ten distinct colours (the tab10 hues) for plot series and unnamed classes.
    pub const TAB10: [Rgba; 10] = {
        let h = [
            0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
            0xbcbd22, 0x17becf,
        ];
        let mut out = [[0u8; 4]; 10];
        let mut i = 0;
        while i < 10 {
            let c = hex(h[i]);
            out[i] = [c[0], c[1], c[2], 255];
            i += 1;
        }
        out
    };

    /// The `i`-th categorical colour: the ten [`TAB10`] hues, then lighter and darker variants.
    pub fn categorical(i: usize) -> Rgba {
        let b = TAB10[i % 10];
        let f = |c: u8| match (i / 10) % 3 {
            0 => c,
            1 => ((c as u16 + 255) / 2) as u8,
            _ => (c as u16 * 6 / 10) as u8,
        };
        [f(b[0]), f(b[1]), f(b[2]), 255]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_midpoints_and_clamping() {
        let v = Colormap::viridis();
        assert_eq!(v.at(0.0), [0x44, 0x01, 0x54, 255]);
        assert_eq!(v.at(1.0), [0xfd, 0xe7, 0x25, 255]);
        assert_eq!(v.at(0.5), [0x26, 0x82, 0x8e, 255]);
        assert_eq!(v.at(-3.0), v.at(0.0));
        assert_eq!(v.at(7.0), v.at(1.0));
        assert_eq!(v.at(f64::NAN), v.at(0.0));
        // Halfway between the first two anchors (0x440154 and 0x482878): (70, 20.5, 102).
        assert_eq!(v.at(1.0 / 16.0), [70, 21, 102, 255]);
        let d = Colormap::diverging();
        assert_eq!(d.map(0.0, -5.0, 5.0), [0xf7, 0xf7, 0xf7, 255]);
        assert_eq!(d.map(5.0, -5.0, 5.0), [0xb2, 0x18, 0x2b, 255]);
        assert_eq!(v.lut(3)[1], v.at(0.5));
    }

    #[test]
    fn categorical_colours_are_distinct() {
        let cols: std::collections::HashSet<_> = (0..30).map(palette::categorical).collect();
        assert_eq!(cols.len(), 30);
        assert!(cols.iter().all(|c| c[3] == 255));
    }
}
