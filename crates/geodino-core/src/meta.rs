//! Dataset metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{BlockSize, Crs, DataType, GeoTransform};

/// A nodata value. NaN is a valid nodata value for float rasters and matches every NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoData(pub f64);

impl NoData {
    /// True when `v` is this nodata value (NaN matches NaN).
    #[inline]
    pub fn matches(&self, v: f64) -> bool {
        if self.0.is_nan() { v.is_nan() } else { v == self.0 }
    }

    /// GDAL's text form: `"nan"`, `"-9999"`, `"0"`, `"3.5"`.
    pub fn to_gdal_string(&self) -> String {
        if self.0.is_nan() {
            "nan".to_string()
        } else if self.0 == self.0.trunc() && self.0.abs() < 1e15 {
            format!("{}", self.0 as i64)
        } else {
            format!("{}", self.0)
        }
    }

    /// Parse GDAL's text form (the `GDAL_NODATA` TIFF tag): numbers, `nan`, `inf`, `-inf`.
    pub fn parse(s: &str) -> Option<NoData> {
        let t = s.trim().trim_end_matches('\0').trim();
        match t.to_ascii_lowercase().as_str() {
            "nan" | "-nan" => Some(NoData(f64::NAN)),
            "inf" | "+inf" => Some(NoData(f64::INFINITY)),
            "-inf" => Some(NoData(f64::NEG_INFINITY)),
            _ => t.parse::<f64>().ok().map(NoData),
        }
    }
}

/// One entry of a colour table (palette), RGBA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColorEntry {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha (255 = opaque).
    pub a: u8,
}

/// Per-band metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BandMeta {
    /// Band description (GDAL's `GetDescription`), e.g. `"red"` or `"canopy height (m)"`.
    pub description: Option<String>,
    /// Nodata value.
    pub nodata: Option<NoData>,
    /// Scale: physical value = raw · scale + offset.
    pub scale: Option<f64>,
    /// Offset: physical value = raw · scale + offset.
    pub offset: Option<f64>,
    /// Colour interpretation (`"red"`, `"green"`, `"blue"`, `"alpha"`, `"gray"`, `"palette"`,
    /// `"undefined"`).
    pub color_interp: Option<String>,
    /// Colour table for palette (class) rasters.
    pub color_table: Option<Vec<ColorEntry>>,
    /// Class names for categorical rasters (index = pixel value).
    pub category_names: Option<Vec<String>>,
}

/// Block compression of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// LZW.
    Lzw,
    /// Deflate / zlib.
    Deflate,
    /// Zstandard.
    Zstd,
    /// PackBits run-length.
    PackBits,
    /// JPEG (possibly YCbCr).
    Jpeg,
    /// WebP.
    Webp,
    /// LERC.
    Lerc,
    /// LZMA.
    Lzma,
    /// Blosc (Zarr).
    Blosc,
    /// Gzip (Zarr).
    Gzip,
    /// Anything else, by name.
    Other(String),
}

impl Compression {
    /// The name GDAL uses in `COMPRESSION=` (`"DEFLATE"`, `"ZSTD"`, ...), lower-cased.
    pub fn name(&self) -> String {
        match self {
            Compression::None => "none".into(),
            Compression::Lzw => "lzw".into(),
            Compression::Deflate => "deflate".into(),
            Compression::Zstd => "zstd".into(),
            Compression::PackBits => "packbits".into(),
            Compression::Jpeg => "jpeg".into(),
            Compression::Webp => "webp".into(),
            Compression::Lerc => "lerc".into(),
            Compression::Lzma => "lzma".into(),
            Compression::Blosc => "blosc".into(),
            Compression::Gzip => "gzip".into(),
            Compression::Other(s) => s.to_ascii_lowercase(),
        }
    }

    /// Parse a name as [`Compression::name`] writes it (any case).
    pub fn parse(s: &str) -> Compression {
        match s.to_ascii_lowercase().as_str() {
            "none" | "" => Compression::None,
            "lzw" => Compression::Lzw,
            "deflate" | "zlib" | "adobe_deflate" => Compression::Deflate,
            "zstd" => Compression::Zstd,
            "packbits" => Compression::PackBits,
            "jpeg" => Compression::Jpeg,
            "webp" => Compression::Webp,
            "lerc" => Compression::Lerc,
            "lzma" => Compression::Lzma,
            "blosc" => Compression::Blosc,
            "gzip" => Compression::Gzip,
            other => Compression::Other(other.to_string()),
        }
    }
}

/// What a reader knows about a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RasterMeta {
    /// Width in pixels (columns).
    pub width: usize,
    /// Height in pixels (rows).
    pub height: usize,
    /// Pixel data type (all bands share it).
    pub dtype: DataType,
    /// Per-band metadata; its length is the band count.
    pub bands: Vec<BandMeta>,
    /// Pixel → map transform (pixel-corner convention), if georeferenced.
    pub geotransform: Option<GeoTransform>,
    /// Coordinate reference system, if known.
    pub crs: Option<Crs>,
    /// Storage block size (tile, strip or chunk).
    pub block: BlockSize,
    /// Block compression.
    pub compression: Compression,
    /// Sizes `(width, height)` of the internal overviews, largest first.
    pub overviews: Vec<(usize, usize)>,
    /// True when the dataset carries a per-dataset validity mask (TIFF internal mask).
    pub has_mask: bool,
    /// True when the file declared `PixelIsPoint` (the geotransform above is already shifted to
    /// the pixel-corner convention, as GDAL does).
    pub pixel_is_point: bool,
    /// Free-form dataset metadata (e.g. GDAL metadata items).
    pub metadata: BTreeMap<String, String>,
}

impl RasterMeta {
    /// A minimal description of a `width` × `height` raster of `bands` bands of `dtype`, with no
    /// georeferencing, 256 × 256 blocks and no compression.
    pub fn new(width: usize, height: usize, bands: usize, dtype: DataType) -> Self {
        RasterMeta {
            width,
            height,
            dtype,
            bands: vec![BandMeta::default(); bands],
            geotransform: None,
            crs: None,
            block: BlockSize::new(256, 256),
            compression: Compression::None,
            overviews: Vec::new(),
            has_mask: false,
            pixel_is_point: false,
            metadata: BTreeMap::new(),
        }
    }

    /// Number of bands.
    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// The nodata value of band `band` (0-based), if any.
    pub fn nodata(&self, band: usize) -> Option<NoData> {
        self.bands.get(band).and_then(|b| b.nodata)
    }

    /// Set the same nodata value on every band.
    pub fn set_nodata(&mut self, nodata: Option<f64>) {
        for b in &mut self.bands {
            b.nodata = nodata.map(NoData);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_text_forms() {
        assert!(NoData::parse("nan").unwrap().matches(f64::NAN));
        assert_eq!(NoData::parse("-9999\0").unwrap().0, -9999.0);
        assert_eq!(NoData::parse(" 0 ").unwrap().to_gdal_string(), "0");
        assert_eq!(NoData(f64::NAN).to_gdal_string(), "nan");
        assert_eq!(NoData(0.5).to_gdal_string(), "0.5");
        assert!(!NoData(0.0).matches(f64::NAN));
        assert!(NoData::parse("abc").is_none());
    }

    #[test]
    fn compression_names_round_trip() {
        for c in [Compression::None, Compression::Deflate, Compression::Zstd, Compression::Lzw] {
            assert_eq!(Compression::parse(&c.name()), c);
        }
        assert_eq!(Compression::parse("ADOBE_DEFLATE"), Compression::Deflate);
    }
}
