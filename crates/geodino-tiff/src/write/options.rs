//! What to write: layout, codec, predictor, tiling, overviews, BigTIFF.

use serde::{Deserialize, Serialize};

use geodino_core::{Compression, DataType, Error, Result};

/// File organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Cloud-Optimized GeoTIFF as GDAL's COG driver writes it: GDAL's structural-metadata block
    /// after the header, every IFD (full resolution, then overviews by decreasing size) before
    /// any pixel data, tiles of the smallest overview first and full-resolution tiles last, each
    /// tile row-major, with a 4-byte size leader and a 4-byte trailer.
    #[default]
    Cog,
    /// A plain tiled GeoTIFF (IFDs still first, no structural metadata, no tile leaders);
    /// overviews only when asked for explicitly.
    Tiled,
}

/// Tile compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TiffCompression {
    /// Uncompressed (TIFF code 1).
    None,
    /// LZW (code 5).
    Lzw,
    /// Deflate / zlib (code 8, "Adobe Deflate") with libdeflate, as GDAL; level 0–12, default 6
    /// as GDAL's `ZLEVEL`.
    #[default]
    Deflate,
    /// Zstandard (code 50000); level 1–22, default 9 as in GDAL.
    Zstd,
}

impl TiffCompression {
    /// The TIFF `Compression` tag value.
    pub fn tiff_code(self) -> u16 {
        match self {
            TiffCompression::None => 1,
            TiffCompression::Lzw => 5,
            TiffCompression::Deflate => 8,
            TiffCompression::Zstd => 50000,
        }
    }

    /// The codec's default level (GDAL's `ZLEVEL` / `ZSTD_LEVEL` defaults); `None` for codecs
    /// without levels.
    pub fn default_level(self) -> Option<i32> {
        match self {
            TiffCompression::Deflate => Some(6),
            TiffCompression::Zstd => Some(9),
            TiffCompression::None | TiffCompression::Lzw => None,
        }
    }

    /// The shared vocabulary's name for this codec.
    pub fn to_core(self) -> Compression {
        match self {
            TiffCompression::None => Compression::None,
            TiffCompression::Lzw => Compression::Lzw,
            TiffCompression::Deflate => Compression::Deflate,
            TiffCompression::Zstd => Compression::Zstd,
        }
    }

    /// The writer's codec for a shared-vocabulary name, if it can write it.
    pub fn from_core(c: &Compression) -> Option<TiffCompression> {
        Some(match c {
            Compression::None => TiffCompression::None,
            Compression::Lzw => TiffCompression::Lzw,
            Compression::Deflate => TiffCompression::Deflate,
            Compression::Zstd => TiffCompression::Zstd,
            _ => return None,
        })
    }
}

/// Predictor applied before compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Predictor {
    /// Horizontal differencing (2) for integers, floating-point (3) for floats, none when the
    /// tiles are not compressed (GDAL's `PREDICTOR=YES`).
    #[default]
    Auto,
    /// No predictor (1).
    None,
    /// Horizontal differencing (2); integer data only.
    Horizontal,
    /// Floating-point byte-plane differencing (3); float data only.
    FloatingPoint,
}

impl Predictor {
    /// The TIFF `Predictor` tag value for `dtype` and `compression`, or an error for a predictor
    /// that does not fit the data.
    pub fn resolve(self, dtype: DataType, compression: TiffCompression) -> Result<u16> {
        let p = match self {
            Predictor::Auto if compression == TiffCompression::None => 1,
            Predictor::Auto => {
                if dtype.is_float() {
                    3
                } else {
                    2
                }
            }
            Predictor::None => 1,
            Predictor::Horizontal => {
                if dtype.is_float() {
                    return Err(Error::Invalid(format!(
                        "predictor 'horizontal' (2) is for integer data, the raster is {dtype}; \
                         use 'floatingpoint' or 'auto'"
                    )));
                }
                2
            }
            Predictor::FloatingPoint => {
                if !dtype.is_float() {
                    return Err(Error::Invalid(format!(
                        "predictor 'floatingpoint' (3) is for float data, the raster is {dtype}; \
                         use 'horizontal' or 'auto'"
                    )));
                }
                3
            }
        };
        if p != 1 && compression == TiffCompression::None {
            return Err(Error::Invalid(
                "a predictor needs a compression codec (deflate, zstd or lzw)".into(),
            ));
        }
        Ok(p)
    }
}

/// Which internal overviews to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Overviews {
    /// For [`Layout::Cog`], GDAL's COG rule: halve until the overview fits in one tile;
    /// for [`Layout::Tiled`], none.
    #[default]
    Auto,
    /// No overviews.
    None,
    /// Explicit decimation factors, powers of two in increasing order (e.g. `[2, 4, 8]`).
    /// Levels are computed by successive halving, so `[4]` still computes the factor-2 level
    /// internally (without writing it).
    Levels(Vec<u32>),
}

/// How overview pixels are computed from the level above (always by 2 × 2 blocks, each level
/// from the previous one, as GDAL does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Resampling {
    /// [`Resampling::Mode`] for class rasters (a colour table or category names on band 1),
    /// [`Resampling::Average`] otherwise.
    #[default]
    Auto,
    /// Mean of the valid pixels (nodata and NaN skipped); integers rounded half away from zero.
    Average,
    /// The top-left pixel of each 2 × 2 block (GDAL's `NEAREST`).
    Nearest,
    /// The most frequent valid value; ties go to the value that reached the winning count
    /// first in row-major order (GDAL's `MODE`).
    Mode,
}

/// Whether to write BigTIFF (64-bit offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BigTiff {
    /// Classic TIFF unless the finished file would pass 4 GiB. The writer lays the file out
    /// after compression, so it knows the exact size and the decision is exact.
    #[default]
    Auto,
    /// Always BigTIFF.
    Yes,
    /// Always classic TIFF; `finish` fails if the file would not fit.
    No,
}

impl BigTiff {
    /// The decision for a file whose classic-TIFF layout is `classic_size` bytes long.
    pub fn use_bigtiff(self, classic_size: u64) -> bool {
        match self {
            BigTiff::Yes => true,
            BigTiff::No => false,
            BigTiff::Auto => classic_size > u32::MAX as u64,
        }
    }
}

/// Options of [`crate::write::GeoTiffWriter`]. Serde form (TOML/JSON) uses the field names
/// below; every field has a default, so `{}` is a valid, GDAL-like COG configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiffWriteOptions {
    /// File organisation. Default: COG.
    pub layout: Layout,
    /// Tile compression. Default: deflate.
    pub compression: TiffCompression,
    /// Codec level (deflate 0–12, zstd 1–22); `None` for the codec's default (deflate 6, zstd 9).
    pub level: Option<i32>,
    /// Predictor. Default: auto (2 for integers, 3 for floats).
    pub predictor: Predictor,
    /// Tile width and height in pixels, a multiple of 16. Default: 512.
    pub tile_size: usize,
    /// Internal overviews. Default: auto.
    pub overviews: Overviews,
    /// Overview resampling. Default: auto (mode for class rasters, average otherwise).
    pub resampling: Resampling,
    /// BigTIFF. Default: auto.
    pub bigtiff: BigTiff,
    /// Threads compressing tiles: 0 uses rayon's global pool (all cores), 1 compresses on the
    /// calling thread, n > 1 a pool of n threads owned by the writer. Default: 0.
    pub threads: usize,
}

impl Default for TiffWriteOptions {
    fn default() -> Self {
        TiffWriteOptions {
            layout: Layout::Cog,
            compression: TiffCompression::Deflate,
            level: None,
            predictor: Predictor::Auto,
            tile_size: 512,
            overviews: Overviews::Auto,
            resampling: Resampling::Auto,
            bigtiff: BigTiff::Auto,
            threads: 0,
        }
    }
}

impl TiffWriteOptions {
    /// Names accepted by [`TiffWriteOptions::preset`].
    pub const PRESETS: [&'static str; 5] = ["cog", "cog-zstd", "cog-classes", "tiled", "raw"];

    /// A COG with deflate, the auto predictor, 512 tiles and auto overviews (the default).
    pub fn cog() -> Self {
        TiffWriteOptions::default()
    }

    /// A named preset:
    ///
    /// * `cog`: [`TiffWriteOptions::cog`];
    /// * `cog-zstd`: COG with ZSTD level 9 (smaller and faster than deflate; GDAL ≥ 2.3 reads it);
    /// * `cog-classes`: COG for land-cover classes: deflate, horizontal predictor, mode overviews;
    /// * `tiled`: tiled deflate GeoTIFF without overviews;
    /// * `raw`: tiled, uncompressed, no overviews (fast scratch output).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown name, listing the known ones.
    pub fn preset(name: &str) -> Result<Self> {
        let base = TiffWriteOptions::default();
        Ok(match name {
            "cog" => base,
            "cog-zstd" => TiffWriteOptions { compression: TiffCompression::Zstd, ..base },
            "cog-classes" => TiffWriteOptions { resampling: Resampling::Mode, ..base },
            "tiled" => {
                TiffWriteOptions { layout: Layout::Tiled, overviews: Overviews::None, ..base }
            }
            "raw" => TiffWriteOptions {
                layout: Layout::Tiled,
                compression: TiffCompression::None,
                overviews: Overviews::None,
                ..base
            },
            other => {
                return Err(Error::Invalid(format!(
                    "unknown GeoTIFF write preset '{other}'; known presets: {}",
                    Self::PRESETS.join(", ")
                )));
            }
        })
    }

    /// Check the options on their own (the data-dependent checks happen in
    /// [`crate::write::GeoTiffWriter::create`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad option.
    pub fn validate(&self) -> Result<()> {
        if self.tile_size < 16 || !self.tile_size.is_multiple_of(16) || self.tile_size > 65536 {
            return Err(Error::Invalid(format!(
                "tile_size {} is not a multiple of 16 between 16 and 65536 (TIFF requires tile \
                 sizes that are multiples of 16)",
                self.tile_size
            )));
        }
        if let Some(level) = self.level {
            let ok = match self.compression {
                TiffCompression::Deflate => (0..=12).contains(&level),
                TiffCompression::Zstd => (1..=22).contains(&level),
                TiffCompression::None | TiffCompression::Lzw => false,
            };
            if !ok {
                return Err(Error::Invalid(match self.compression {
                    TiffCompression::Deflate => format!("deflate level {level} is not in 0..=12"),
                    TiffCompression::Zstd => format!("zstd level {level} is not in 1..=22"),
                    c => format!("compression {c:?} takes no level (got {level})"),
                }));
            }
        }
        if let Overviews::Levels(f) = &self.overviews {
            let mut prev = 1;
            for &x in f {
                if x < 2 || !x.is_power_of_two() || x <= prev {
                    return Err(Error::Invalid(format!(
                        "overview factors {f:?} must be increasing powers of two from 2 on"
                    )));
                }
                prev = x;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictor_follows_the_data_type() {
        let d = TiffCompression::Deflate;
        assert_eq!(Predictor::Auto.resolve(DataType::Uint16, d).unwrap(), 2);
        assert_eq!(Predictor::Auto.resolve(DataType::Float32, d).unwrap(), 3);
        assert_eq!(Predictor::Auto.resolve(DataType::Float32, TiffCompression::None).unwrap(), 1);
        assert!(Predictor::Horizontal.resolve(DataType::Float64, d).is_err());
        assert!(Predictor::FloatingPoint.resolve(DataType::Int8, d).is_err());
        assert!(Predictor::Horizontal.resolve(DataType::Uint8, TiffCompression::None).is_err());
    }

    #[test]
    fn options_deserialise_strictly_with_defaults() {
        let o: TiffWriteOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, TiffWriteOptions::default());
        assert_eq!(o.tile_size, 512);
        let o: TiffWriteOptions = serde_json::from_str(
            r#"{"compression":"zstd","level":3,"overviews":{"levels":[2,4]},"bigtiff":"yes"}"#,
        )
        .unwrap();
        assert_eq!(o.compression, TiffCompression::Zstd);
        assert_eq!(o.overviews, Overviews::Levels(vec![2, 4]));
        o.validate().unwrap();
        assert!(serde_json::from_str::<TiffWriteOptions>(r#"{"tilesize":256}"#).is_err());
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = |o: TiffWriteOptions| o.validate().unwrap_err().to_string();
        assert!(bad(TiffWriteOptions { tile_size: 100, ..Default::default() }).contains("16"));
        assert!(bad(TiffWriteOptions { level: Some(13), ..Default::default() }).contains("0..=12"));
        assert!(
            bad(TiffWriteOptions {
                overviews: Overviews::Levels(vec![2, 3]),
                ..Default::default()
            })
            .contains("powers of two")
        );
        for p in TiffWriteOptions::PRESETS {
            TiffWriteOptions::preset(p).unwrap().validate().unwrap();
        }
        assert!(TiffWriteOptions::preset("jpeg").unwrap_err().to_string().contains("cog-zstd"));
    }

    #[test]
    fn bigtiff_decision_is_the_classic_offset_limit() {
        let limit = u32::MAX as u64;
        assert!(!BigTiff::Auto.use_bigtiff(limit));
        assert!(BigTiff::Auto.use_bigtiff(limit + 1));
        assert!(!BigTiff::Auto.use_bigtiff(1 << 20));
        assert!(BigTiff::Yes.use_bigtiff(100));
        assert!(!BigTiff::No.use_bigtiff(limit * 2));
    }
}
