//! From raster pixels to model inputs: band selection, scaling of digital numbers to `[0, 1]`,
//! the model's normalisation, and the validity mask (nodata, NaN, dataset masks, alpha).

use geodino_core::{DataType, NoData, RasterElement, RasterRead, Window, with_buffer};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How digital numbers become reflectance-like values in `[0, 1]`: `(DN − offset) / scale`,
/// clamped to `[0, 1]` when `clamp` is set (as an 8-bit product saturates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Subtracted first.
    pub offset: f32,
    /// Then divided by.
    pub scale: f32,
    /// Clamp the result to `[0, 1]`.
    pub clamp: bool,
}

/// Names accepted by [`Scaling::sensor`].
pub const SENSORS: &[&str] =
    &["uint8", "naip", "maxar", "sentinel2-l2a", "sentinel2-l1c", "landsat-c2-l2", "uint16"];

impl Scaling {
    /// Divide by `scale` (no offset), clamped.
    pub fn divide(scale: f32) -> Scaling {
        Scaling { offset: 0.0, scale, clamp: true }
    }

    /// The identity (float inputs already in `[0, 1]`), not clamped.
    pub fn identity() -> Scaling {
        Scaling { offset: 0.0, scale: 1.0, clamp: false }
    }

    /// A sensor preset mapping its digital numbers to the brightness range of the 8-bit
    /// imagery the released models were trained on (Maxar RGB, `DN / 255`):
    ///
    /// | name | mapping | why |
    /// |---|---|---|
    /// | `uint8`, `naip`, `maxar` | `DN / 255` | 8-bit products |
    /// | `sentinel2-l2a` | `(DN − 1000) / 3000` | L2A reflectance `(DN − 1000) / 10000` (processing baseline ≥ 04.00), true-colour stretch 0–0.3 |
    /// | `sentinel2-l1c` | `DN / 3000` | older baselines (no offset) |
    /// | `landsat-c2-l2` | `(DN · 2.75e-5 − 0.2) / 0.3` | Collection 2 surface reflectance, stretch 0–0.3 |
    /// | `uint16` | `DN / 65535` | full 16-bit range |
    ///
    /// All clamp to `[0, 1]`.
    ///
    /// # Errors
    /// An unknown name (the message lists the known ones).
    pub fn sensor(name: &str) -> Result<Scaling> {
        let s = |offset: f32, scale: f32| Scaling { offset, scale, clamp: true };
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "uint8" | "naip" | "maxar" => s(0.0, 255.0),
            "sentinel2-l2a" | "s2-l2a" => s(1000.0, 3000.0),
            "sentinel2-l1c" | "s2-l1c" | "sentinel2" => s(0.0, 3000.0),
            // (DN·2.75e-5 − 0.2)/0.3 = (DN − 0.2/2.75e-5) / (0.3/2.75e-5)
            "landsat-c2-l2" | "landsat" => s(0.2 / 2.75e-5, 0.3 / 2.75e-5),
            "uint16" => s(0.0, 65535.0),
            other => {
                return Err(Error::Config(format!(
                    "unknown sensor {other:?}; known: {} (or give --scale)",
                    SENSORS.join(", ")
                )));
            }
        })
    }

    /// The default for a data type: 8-bit → `DN / byte_scale` (the model's own scale, 255 for
    /// every released model), floats → identity (assumed in `[0, 1]`); other integer types have
    /// no safe default.
    ///
    /// # Errors
    /// Integer types wider than 8 bits: the message asks for `--sensor` or `--scale`.
    pub fn default_for(
        dtype: DataType,
        byte_scale: f32,
        path: &std::path::Path,
    ) -> Result<Scaling> {
        match dtype {
            DataType::Uint8 => Ok(Scaling::divide(byte_scale)),
            DataType::Float32 | DataType::Float64 => Ok(Scaling::identity()),
            other => Err(Error::input(
                path,
                format!(
                    "{} pixels need a scaling to [0, 1]: give --sensor ({}) or --scale N \
                     (e.g. --scale 10000 for reflectance × 10000)",
                    other.name(),
                    SENSORS.join(", ")
                ),
            )),
        }
    }

    #[inline]
    fn apply(&self, v: f32) -> f32 {
        let x = (v - self.offset) / self.scale;
        if self.clamp { x.clamp(0.0, 1.0) } else { x }
    }
}

/// What the engine feeds the model: which bands, how they are scaled and normalised, and which
/// pixels are valid.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// Bands to read, 0-based, in model channel order.
    pub bands: Vec<usize>,
    /// Digital numbers → `[0, 1]`.
    pub scaling: Scaling,
    /// Per-channel mean after scaling (the model's normalisation).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
    /// Per-channel nodata value of the source band (pixels equal to it are invalid).
    pub nodata: Vec<Option<NoData>>,
    /// Honour the raster's mask (GDAL per-dataset mask or alpha band): 0 = invalid.
    pub use_mask: bool,
}

impl InputSpec {
    /// Bands, nodata and mask from `reader`'s metadata with the given scaling and
    /// normalisation.
    ///
    /// # Errors
    /// A band out of range, or mean/std lengths that differ from the band count.
    pub fn new(
        reader: &dyn RasterRead,
        bands: Vec<usize>,
        scaling: Scaling,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Result<InputSpec> {
        let meta = reader.meta();
        if let Some(&b) = bands.iter().find(|&&b| b >= meta.band_count()) {
            return Err(Error::input(
                reader.path(),
                format!("band {} requested, the raster has {} band(s)", b + 1, meta.band_count()),
            ));
        }
        if mean.len() != bands.len() || std.len() != bands.len() {
            return Err(Error::input(
                reader.path(),
                format!(
                    "{} band(s) selected but the model normalises {} channel(s)",
                    bands.len(),
                    mean.len()
                ),
            ));
        }
        if !(scaling.scale.is_finite() && scaling.scale != 0.0 && scaling.offset.is_finite()) {
            return Err(Error::Config(format!(
                "scaling offset {} / scale {}: the scale must be finite and non-zero",
                scaling.offset, scaling.scale
            )));
        }
        let nodata = bands.iter().map(|&b| meta.nodata(b)).collect();
        Ok(InputSpec { bands, scaling, mean, std, nodata, use_mask: true })
    }

    /// Number of model channels.
    pub fn channels(&self) -> usize {
        self.bands.len()
    }
}

/// One tile ready for the model.
#[derive(Debug, Clone)]
pub struct TileInput {
    /// Normalised pixels `(c, tile, tile)`, row-major; invalid and out-of-scene pixels are 0
    /// (the mean colour, as the reference's zero padding).
    pub data: Vec<f32>,
    /// Validity on the output grid `(tile / stride)²`, 1 = valid; `None` when every pixel
    /// of the tile that lies in the scene is valid.
    pub valid: Option<Vec<u8>>,
}

/// Read and prepare the `tile` × `tile` input window `window` (may extend past the scene).
/// Output validity is per `stride` × `stride` block: valid when any of its pixels is.
///
/// # Errors
/// Read errors (naming the file).
pub fn prepare_tile(
    reader: &dyn RasterRead,
    spec: &InputSpec,
    window: Window,
    stride: usize,
) -> Result<TileInput> {
    let meta = reader.meta();
    let t = window.width;
    debug_assert_eq!(window.width, window.height);
    let c = spec.channels();
    let mut data = vec![0.0f32; c * t * t];
    let mut valid_px = vec![0u8; t * t]; // out-of-scene pixels stay 0 (they are never written)
    let mut all_valid = true;
    if let Some(inner) = window.intersection(&Window::full(meta.width, meta.height)) {
        let buf = reader.read_window(&spec.bands, inner)?;
        let mask = if spec.use_mask { reader.read_mask(inner)? } else { None };
        let rel = inner.relative_to(&window);
        let (r0, c0) = (rel.row_off as usize, rel.col_off as usize);
        let (h, w) = (inner.height, inner.width);
        // validity of the pixels inside the scene
        for y in 0..h {
            let row = &mut valid_px[(r0 + y) * t + c0..(r0 + y) * t + c0 + w];
            row.fill(1);
            if let Some(m) = &mask {
                for (x, v) in row.iter_mut().enumerate() {
                    if m[[y, x]] == 0 {
                        *v = 0;
                    }
                }
            }
        }
        with_buffer!(&buf, a => fill_channels(a.view(), spec, &mut data, &mut valid_px, t, r0, c0));
        // pixels invalid in any band are zeroed in every band
        for y in 0..h {
            for x in 0..w {
                let p = (r0 + y) * t + c0 + x;
                if valid_px[p] == 0 {
                    all_valid = false;
                    for ch in 0..c {
                        data[ch * t * t + p] = 0.0;
                    }
                }
            }
        }
    }
    let valid = if all_valid {
        None
    } else if stride == 1 {
        Some(valid_px)
    } else {
        let to = t / stride;
        let mut v = vec![0u8; to * to];
        for (y, row) in valid_px.chunks_exact(t).enumerate() {
            for (x, &p) in row.iter().enumerate() {
                if p != 0 {
                    v[(y / stride) * to + x / stride] = 1;
                }
            }
        }
        Some(v)
    };
    Ok(TileInput { data, valid })
}

/// Scale and normalise the `(c, h, w)` pixels `a` into `data` at `(r0, c0)`, clearing
/// `valid` where a band is nodata or NaN.
fn fill_channels<T: RasterElement>(
    a: ndarray::ArrayView3<'_, T>,
    spec: &InputSpec,
    data: &mut [f32],
    valid: &mut [u8],
    t: usize,
    r0: usize,
    c0: usize,
) {
    let (c, h, w) = a.dim();
    for ch in 0..c {
        let nd = spec.nodata[ch];
        let (mean, inv_std) = (spec.mean[ch], 1.0 / spec.std[ch]);
        let plane = &mut data[ch * t * t..(ch + 1) * t * t];
        for y in 0..h {
            let src = a.slice(ndarray::s![ch, y, ..]);
            let base = (r0 + y) * t + c0;
            for x in 0..w {
                let raw = src[x].to_f64();
                if raw.is_nan() || nd.is_some_and(|n| n.matches(raw)) {
                    valid[base + x] = 0;
                    continue;
                }
                plane[base + x] = (spec.scaling.apply(raw as f32) - mean) * inv_std;
            }
        }
    }
}

/// The raster's band indices to feed a model of `n` channels when the user named none: all
/// bands when there are exactly `n`; for `n = 3`, the bands whose colour interpretation is red,
/// green and blue (e.g. an RGBA or RGB+NIR image), else the first three of a 4-band image
/// (NAIP's R, G, B, NIR).
///
/// # Errors
/// Fewer bands than the model needs, or more without a way to pick: the message says which
/// band count the model takes and how to choose with `--bands`.
pub fn default_bands(reader: &dyn RasterRead, n: usize) -> Result<Vec<usize>> {
    let meta = reader.meta();
    let have = meta.band_count();
    if have == n {
        return Ok((0..n).collect());
    }
    if have < n {
        return Err(Error::input(
            reader.path(),
            format!("the raster has {have} band(s); the model takes {n} (RGB for released models)"),
        ));
    }
    if n == 3 {
        let find = |name: &str| {
            meta.bands.iter().position(|b| {
                b.color_interp.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name))
            })
        };
        if let (Some(r), Some(g), Some(b)) = (find("red"), find("green"), find("blue")) {
            return Ok(vec![r, g, b]);
        }
        if have == 4 {
            return Ok(vec![0, 1, 2]);
        }
    }
    Err(Error::input(
        reader.path(),
        format!(
            "the raster has {have} bands and the model takes {n}: choose them with --bands \
             (1-based, e.g. --bands {})",
            (1..=n).map(|b| b.to_string()).collect::<Vec<_>>().join(",")
        ),
    ))
}

/// Parse a 1-based band list (`"1,2,3"`) into 0-based indices.
///
/// # Errors
/// Empty items, zero, or non-numbers.
pub fn parse_bands(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|t| match t.trim().parse::<usize>() {
            Ok(b) if b >= 1 => Ok(b - 1),
            _ => Err(Error::Config(format!(
                "--bands {s:?}: expected 1-based band numbers separated by commas, e.g. 1,2,3"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_and_defaults() {
        let s2 = Scaling::sensor("sentinel2-l2a").unwrap();
        assert!((s2.apply(1000.0)).abs() < 1e-6);
        assert!((s2.apply(4000.0) - 1.0).abs() < 1e-6);
        assert_eq!(s2.apply(9000.0), 1.0);
        let ls = Scaling::sensor("landsat-c2-l2").unwrap();
        // DN 18181.8 is reflectance 0.3 -> 1.0
        assert!((ls.apply(18181.818) - 1.0).abs() < 1e-4);
        assert!(Scaling::sensor("modis").unwrap_err().to_string().contains("sentinel2-l2a"));
        let p = std::path::Path::new("x.tif");
        assert_eq!(Scaling::default_for(DataType::Uint8, 255.0, p).unwrap().scale, 255.0);
        let e = Scaling::default_for(DataType::Uint16, 255.0, p).unwrap_err().to_string();
        assert!(e.contains("x.tif") && e.contains("--sensor"), "{e}");
    }

    #[test]
    fn band_lists() {
        assert_eq!(parse_bands("1, 2,3").unwrap(), vec![0, 1, 2]);
        assert!(parse_bands("0,1").is_err());
        assert!(parse_bands("a").is_err());
    }
}
