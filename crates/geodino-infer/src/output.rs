//! From blended strips to rasters: canopy heights (float32 metres or uint16 decimetres), land
//! cover (uint8 classes with the head's colour table and class names) or patch features
//! (float32, one band per feature), written atomically as COG / GeoTIFF / Zarr, with preview
//! thumbnails and summary statistics gathered on the way.

use std::path::{Path, PathBuf};

use geodino_core::{
    BandMeta, ColorEntry, DataType, NoData, RasterBuffer, RasterMeta, RasterWrite, Window,
};
use geodino_heads::ClassInfo;
use geodino_tiff::write::{GeoTiffWriter, Layout, Overviews, TiffWriteOptions};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{ClassEntry, ClassThumbnail, Colormap, Thumbnail};
use ndarray::{Array3, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::accumulate::Strip;
use crate::{Error, Result};

/// Data type of a canopy-height raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HeightDtype {
    /// float32 metres, nodata NaN. Default.
    #[default]
    Float32,
    /// uint16 decimetres (`scale = 0.1`, GDAL applies it with `-unscale`), nodata 65535.
    Uint16,
}

impl std::str::FromStr for HeightDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<HeightDtype> {
        match s.trim().to_ascii_lowercase().as_str() {
            "float32" | "f32" => Ok(HeightDtype::Float32),
            "uint16" | "u16" => Ok(HeightDtype::Uint16),
            other => Err(Error::Config(format!("--dtype {other:?}: expected float32 or uint16"))),
        }
    }
}

/// The nodata value of uint16 decimetre heights.
pub const HEIGHT_U16_NODATA: u16 = u16::MAX;
/// The nodata value of land-cover rasters.
pub const CLASS_NODATA: u8 = 255;

/// What the engine produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Product {
    /// Canopy height in metres (one channel).
    CanopyHeight {
        /// Output data type.
        dtype: HeightDtype,
    },
    /// Land cover: the argmax of the blended class probabilities, written as the class's
    /// raster value.
    LandCover {
        /// Classes in channel order.
        classes: Vec<ClassInfo>,
    },
    /// Dense patch features (`channels` bands, float32, nodata NaN).
    Features {
        /// Feature width.
        channels: usize,
    },
}

impl Product {
    /// Channels the model must produce.
    pub fn channels(&self) -> usize {
        match self {
            Product::CanopyHeight { .. } => 1,
            Product::LandCover { classes } => classes.len(),
            Product::Features { channels } => *channels,
        }
    }

    /// Raster value of each class (its `value`, else its index).
    fn class_values(classes: &[ClassInfo]) -> Result<Vec<u8>> {
        classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let v = c.value.unwrap_or(i as i64);
                if (0..CLASS_NODATA as i64).contains(&v) {
                    Ok(v as u8)
                } else {
                    Err(Error::Config(format!(
                        "class {:?} has raster value {v}; uint8 land cover takes 0..254 (255 is nodata)",
                        c.name
                    )))
                }
            })
            .collect()
    }

    /// The output raster's description on `grid` seen at `stride` (1: the same pixels; `p`:
    /// one output pixel per `p` × `p` input pixels, `⌈width / p⌉` × `⌈height / p⌉`, the
    /// geotransform scaled by `p`): this product's type, bands, nodata, colour table and names.
    ///
    /// # Errors
    /// Class values that do not fit uint8.
    pub fn meta(&self, grid: &RasterMeta, stride: usize) -> Result<RasterMeta> {
        let stride = stride.max(1);
        let (width, height) = (grid.width.div_ceil(stride), grid.height.div_ceil(stride));
        let (bands, dtype) = match self {
            Product::CanopyHeight { dtype: HeightDtype::Float32 } => (1, DataType::Float32),
            Product::CanopyHeight { dtype: HeightDtype::Uint16 } => (1, DataType::Uint16),
            Product::LandCover { .. } => (1, DataType::Uint8),
            Product::Features { channels } => (*channels, DataType::Float32),
        };
        let mut m = RasterMeta::new(width, height, bands, dtype);
        m.crs = grid.crs.clone();
        m.pixel_is_point = stride == 1 && grid.pixel_is_point;
        m.geotransform = grid
            .geotransform
            .map(|g| if stride == 1 { g } else { g.scaled(stride as f64, stride as f64) });
        match self {
            Product::CanopyHeight { dtype } => {
                let b = &mut m.bands[0];
                match dtype {
                    HeightDtype::Float32 => {
                        b.nodata = Some(NoData(f64::NAN));
                        b.description = Some("canopy height (m)".into());
                    }
                    HeightDtype::Uint16 => {
                        b.nodata = Some(NoData(HEIGHT_U16_NODATA as f64));
                        b.scale = Some(0.1);
                        b.offset = Some(0.0);
                        b.description = Some("canopy height (dm; metres = value x 0.1)".into());
                    }
                }
                m.metadata.insert("UNITS".into(), "m".into());
            }
            Product::LandCover { classes } => {
                let values = Product::class_values(classes)?;
                let max = *values.iter().max().unwrap_or(&0) as usize;
                let mut table = vec![ColorEntry { r: 0, g: 0, b: 0, a: 0 }; max + 1];
                let mut names = vec![String::new(); max + 1];
                for (c, &v) in classes.iter().zip(&values) {
                    let [r, g, b] = c.color;
                    table[v as usize] = ColorEntry { r, g, b, a: 255 };
                    names[v as usize] = c.name.clone();
                    m.metadata.insert(format!("CLASS_{v}"), c.name.clone());
                }
                let b = &mut m.bands[0];
                b.nodata = Some(NoData(CLASS_NODATA as f64));
                b.color_table = Some(table);
                b.category_names = Some(names);
                b.color_interp = Some("palette".into());
                b.description = Some("land cover class".into());
            }
            Product::Features { .. } => {
                for (i, b) in m.bands.iter_mut().enumerate() {
                    *b = BandMeta {
                        nodata: Some(NoData(f64::NAN)),
                        description: Some(format!("feature {i}")),
                        ..BandMeta::default()
                    };
                }
            }
        }
        Ok(m)
    }
}

/// Where finished strips go (runs on the engine's writer thread).
pub trait StripSink: Send {
    /// Take the next block of finished pixels. The engine works in vertical column strips, left
    /// to right; within a column strip, blocks arrive top to bottom; every pixel arrives once.
    ///
    /// # Errors
    /// Writing failed.
    fn write_strip(&mut self, strip: &Strip) -> Result<()>;

    /// Column strips start at multiples of this many output columns (the width of the
    /// output's tiles or chunks, so that they complete inside a strip). Default 1.
    fn column_align(&self) -> usize {
        1
    }

    /// Directory for the engine's scratch files (the partial sums carried from one column
    /// strip to the next; unnamed, removed when the run ends). Default: the system's
    /// temporary directory.
    fn scratch_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// Summary of what was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutputStats {
    /// Pixels written with a value.
    pub valid_pixels: u64,
    /// Pixels written as nodata.
    pub nodata_pixels: u64,
    /// Canopy: smallest height (m).
    pub min: Option<f64>,
    /// Canopy: largest height (m).
    pub max: Option<f64>,
    /// Canopy: mean height (m).
    pub mean: Option<f64>,
    /// Land cover: pixels per class (channel order).
    pub class_pixels: Vec<u64>,
}

/// How a sink writes its raster.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Replace an existing output.
    pub overwrite: bool,
    /// Gather a preview thumbnail whose longer side is at most this many pixels (0 = none).
    pub preview_side: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions { overwrite: false, preview_side: 1024 }
    }
}

enum Thumb {
    None,
    Height(Thumbnail),
    Classes(ClassThumbnail<u8>),
}

impl std::fmt::Debug for Thumb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Thumb::None => "none",
            Thumb::Height(_) => "height thumbnail",
            Thumb::Classes(_) => "class thumbnail",
        })
    }
}

/// Converts strips to the product's type and writes them to a raster.
pub struct RasterSink {
    path: PathBuf,
    writer: Box<dyn RasterWrite>,
    meta: RasterMeta,
    product: Product,
    class_values: Vec<u8>,
    thumb: Thumb,
    stats: OutputStats,
    sum: f64,
    /// Width of the writer's tiles / shards.
    align: usize,
}

impl std::fmt::Debug for RasterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterSink")
            .field("path", &self.path)
            .field("product", &self.product)
            .field("thumb", &self.thumb)
            .finish_non_exhaustive()
    }
}

impl RasterSink {
    /// Create the output `path` for `product` on `grid` seen at `stride` (see [`Product::meta`]).
    ///
    /// `.tif`/`.tiff`: canopy and land cover as a COG (512 tiles, deflate, overviews: average
    /// for heights, mode for classes); features as a tiled GeoTIFF with tiles small enough for
    /// hundreds of bands. `.zarr`: Zarr v3. Nothing appears at `path` before [`RasterSink::finish`].
    ///
    /// # Errors
    /// An existing output without `overwrite`, an unknown extension, a destination that cannot
    /// be written.
    pub fn create(
        path: &Path,
        product: Product,
        grid: &RasterMeta,
        stride: usize,
        opts: &SinkOptions,
    ) -> Result<RasterSink> {
        let meta = product.meta(grid, stride)?;
        let (width, height) = (meta.width, meta.height);
        if path.exists() && !opts.overwrite {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists (use --overwrite)",
                ),
            });
        }
        let name = path.to_string_lossy().to_ascii_lowercase();
        let name = name.trim_end_matches('/');
        let align;
        let writer: Box<dyn RasterWrite> = if name.ends_with(".tif") || name.ends_with(".tiff") {
            if path.exists() && path.is_dir() {
                return Err(Error::Config(format!("{}: is a directory", path.display())));
            }
            let to = match &product {
                Product::Features { channels } => TiffWriteOptions {
                    layout: Layout::Tiled,
                    overviews: Overviews::None,
                    tile_size: feature_tile(*channels),
                    ..TiffWriteOptions::default()
                },
                _ => TiffWriteOptions::cog(),
            };
            align = to.tile_size;
            Box::new(GeoTiffWriter::create(path, &meta, &to)?)
        } else if name.ends_with(".zarr") {
            let (chunk, shard) = match &product {
                Product::Features { .. } => {
                    // shards of 256 x 32 pixels per band: a column strip completes its shards
                    let cw = 256.min(width.max(1));
                    ((cw, 32), (cw, 32))
                }
                _ => ((256, 256), (1024, 1024)),
            };
            // the shard width the Zarr writer settles on (a multiple of the chunk width, no
            // wider than the raster needs)
            let cw = chunk.0.min(width.max(1));
            align = shard.0.div_ceil(cw).max(1).min(width.div_ceil(cw)) * cw;
            let zo = geodino_zarr::ZarrWriteOptions {
                chunk,
                shard,
                overwrite: opts.overwrite,
                ..geodino_zarr::ZarrWriteOptions::default()
            };
            Box::new(geodino_zarr::ZarrWriter::create(path, &meta, &zo)?)
        } else {
            return Err(Error::Config(format!(
                "{}: unknown output format; write .tif (Cloud-Optimized GeoTIFF) or .zarr",
                path.display()
            )));
        };
        let class_values = match &product {
            Product::LandCover { classes } => Product::class_values(classes)?,
            _ => Vec::new(),
        };
        let thumb = match (&product, opts.preview_side) {
            (_, 0) | (Product::Features { .. }, _) => Thumb::None,
            (Product::CanopyHeight { .. }, s) => Thumb::Height(Thumbnail::new(width, height, s)),
            (Product::LandCover { .. }, s) => {
                Thumb::Classes(ClassThumbnail::new(width, height, s, CLASS_NODATA))
            }
        };
        let stats =
            OutputStats { class_pixels: vec![0; class_values.len()], ..OutputStats::default() };
        Ok(RasterSink {
            path: path.to_path_buf(),
            writer,
            meta,
            product,
            class_values,
            thumb,
            stats,
            sum: 0.0,
            align,
        })
    }

    /// The output's description.
    pub fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finish the raster (lay out the COG, rename into place; land cover also gets a GDAL PAM
    /// sidecar `OUT.aux.xml` with the class names) and return the statistics and the preview
    /// thumbnail.
    ///
    /// # Errors
    /// Writing or renaming failed (the destination is then untouched).
    pub fn finish(mut self) -> Result<(OutputStats, Preview)> {
        self.writer.finish()?;
        if let Product::LandCover { classes } = &self.product
            && self
                .path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
        {
            let names: Vec<String> = self.meta.bands[0].category_names.clone().unwrap_or_default();
            debug_assert!(names.len() >= classes.len());
            write_category_sidecar(&self.path, &names)?;
        }
        if self.stats.valid_pixels > 0 && matches!(self.product, Product::CanopyHeight { .. }) {
            self.stats.mean = Some(self.sum / self.stats.valid_pixels as f64);
        }
        let pixel_m = self.meta.geotransform.map(|g| g.pixel_size().0.abs());
        let preview = match self.thumb {
            Thumb::None => Preview::None,
            Thumb::Height(t) => Preview::Height { values: t.finish(), factor: t.factor(), pixel_m },
            Thumb::Classes(t) => {
                let classes = match &self.product {
                    Product::LandCover { classes } => classes.clone(),
                    _ => Vec::new(),
                };
                Preview::Classes {
                    values: t.finish(),
                    factor: t.factor(),
                    pixel_m,
                    entries: classes
                        .iter()
                        .zip(&self.class_values)
                        .map(|(c, &v)| ClassEntry {
                            value: v as u32,
                            name: c.name.clone(),
                            color: [c.color[0], c.color[1], c.color[2], 255],
                        })
                        .collect(),
                }
            }
        };
        Ok((self.stats, preview))
    }
}

/// GeoTIFF tile edge for `channels`-band features: at most about 4 MiB per tile, a multiple of
/// 16 and at least 16.
fn feature_tile(channels: usize) -> usize {
    let side = ((4usize << 20) as f64 / (channels.max(1) * 4) as f64).sqrt() as usize;
    (side / 16 * 16).clamp(16, 256)
}

impl StripSink for RasterSink {
    fn column_align(&self) -> usize {
        self.align
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => Some(p.to_path_buf()),
            _ => Some(PathBuf::from(".")),
        }
    }

    fn write_strip(&mut self, s: &Strip) -> Result<()> {
        let (rows, w) = (s.rows, s.width);
        let n = rows * w;
        let buf = match &self.product {
            Product::CanopyHeight { dtype } => {
                let mut h = Vec::with_capacity(n);
                for i in 0..n {
                    if s.valid[i] != 0 {
                        let v = s.values[i].max(0.0);
                        self.stats.valid_pixels += 1;
                        self.sum += v as f64;
                        self.stats.min = Some(self.stats.min.map_or(v as f64, |m| m.min(v as f64)));
                        self.stats.max = Some(self.stats.max.map_or(v as f64, |m| m.max(v as f64)));
                        h.push(v);
                    } else {
                        self.stats.nodata_pixels += 1;
                        h.push(f32::NAN);
                    }
                }
                if let Thumb::Height(t) = &mut self.thumb {
                    let view = ArrayView2::from_shape((rows, w), &h).expect("rows × width values");
                    t.add(s.row_off, s.col_off, view, None);
                }
                match dtype {
                    HeightDtype::Float32 => RasterBuffer::Float32(
                        Array3::from_shape_vec((1, rows, w), h).expect("rows × width values"),
                    ),
                    HeightDtype::Uint16 => RasterBuffer::Uint16(
                        Array3::from_shape_vec(
                            (1, rows, w),
                            h.iter()
                                .map(|&v| {
                                    if v.is_nan() {
                                        HEIGHT_U16_NODATA
                                    } else {
                                        (v * 10.0).round().min(HEIGHT_U16_NODATA as f32 - 1.0)
                                            as u16
                                    }
                                })
                                .collect(),
                        )
                        .expect("rows × width values"),
                    ),
                }
            }
            Product::LandCover { .. } => {
                let k = s.channels;
                let mut out = vec![CLASS_NODATA; n];
                for (i, o) in out.iter_mut().enumerate() {
                    if s.valid[i] == 0 {
                        self.stats.nodata_pixels += 1;
                        continue;
                    }
                    let mut best = 0;
                    let mut bv = f32::NEG_INFINITY;
                    for c in 0..k {
                        let v = s.values[c * n + i];
                        if v > bv {
                            bv = v;
                            best = c;
                        }
                    }
                    *o = self.class_values[best];
                    self.stats.valid_pixels += 1;
                    self.stats.class_pixels[best] += 1;
                }
                if let Thumb::Classes(t) = &mut self.thumb {
                    let view = ArrayView2::from_shape((rows, w), &out).expect("rows × width");
                    t.add(s.row_off, s.col_off, view);
                }
                RasterBuffer::Uint8(
                    Array3::from_shape_vec((1, rows, w), out).expect("rows × width"),
                )
            }
            Product::Features { .. } => {
                let k = s.channels;
                let mut v = s.values.clone();
                for i in 0..n {
                    if s.valid[i] == 0 {
                        self.stats.nodata_pixels += 1;
                        for c in 0..k {
                            v[c * n + i] = f32::NAN;
                        }
                    } else {
                        self.stats.valid_pixels += 1;
                    }
                }
                RasterBuffer::Float32(
                    Array3::from_shape_vec((k, rows, w), v).expect("k × rows × w"),
                )
            }
        };
        let window = Window::new(s.col_off as i64, s.row_off as i64, w, rows);
        self.writer.write_window(window, &buf)?;
        Ok(())
    }
}

/// A GDAL PAM sidecar (`OUT.aux.xml`) holding the class names, which GDAL's GeoTIFF driver
/// keeps there (`gdalinfo` lists them under "Categories"). Written atomically.
fn write_category_sidecar(path: &Path, names: &[String]) -> Result<()> {
    let mut xml = String::from("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n");
    for n in names {
        xml.push_str(&format!("      <Category>{}</Category>\n", xml_escape(n)));
    }
    xml.push_str("    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n");
    let mut side = path.as_os_str().to_owned();
    side.push(".aux.xml");
    let side = PathBuf::from(side);
    let mut tmp = side.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, xml).map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, &side).map_err(|e| Error::Io { path: side.clone(), source: e })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A whole-scene thumbnail gathered while writing, ready to draw.
#[derive(Debug, Clone)]
pub enum Preview {
    /// Nothing gathered.
    None,
    /// Block-averaged heights (NaN = nodata).
    Height {
        /// Thumbnail `(row, col)`.
        values: ndarray::Array2<f32>,
        /// Output pixels per thumbnail pixel.
        factor: usize,
        /// Output pixel size (m), if georeferenced.
        pixel_m: Option<f64>,
    },
    /// Sampled classes (255 = nodata).
    Classes {
        /// Thumbnail `(row, col)` of raster values.
        values: ndarray::Array2<u8>,
        /// Output pixels per thumbnail pixel.
        factor: usize,
        /// Output pixel size (m), if georeferenced.
        pixel_m: Option<f64>,
        /// Legend entries.
        entries: Vec<ClassEntry>,
    },
}

impl Preview {
    /// Draw the preview (colour-mapped heights with a colour bar, or classes with a legend;
    /// title; scale bar) and save it as PNG (atomically).
    ///
    /// # Errors
    /// Nothing was gathered, or writing the PNG failed.
    pub fn save(&self, path: &Path, title: &str) -> Result<()> {
        let style = |pixel_m: &Option<f64>, factor: usize, units: Option<&str>| MapStyle {
            title: Some(title.to_string()),
            units: units.map(str::to_string),
            pixel_size_m: pixel_m.map(|p| p * factor as f64),
            ..MapStyle::default()
        };
        let canvas = match self {
            Preview::None => {
                return Err(Error::Config("no preview was gathered for this product".into()));
            }
            Preview::Height { values, factor, pixel_m } => preview::continuous_map(
                values.view(),
                None,
                &Colormap::viridis(),
                ValueRange::Percentiles(0.0, 99.5),
                &style(pixel_m, *factor, Some("height (m)")),
            ),
            Preview::Classes { values, factor, pixel_m, entries } => {
                preview::class_map(values.view(), entries, &style(pixel_m, *factor, None))
            }
        };
        canvas.save_png(path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geodino_core::GeoTransform;

    #[test]
    fn metadata_per_product() {
        let mut grid = RasterMeta::new(100, 80, 3, DataType::Uint8);
        grid.geotransform = Some(GeoTransform::north_up(500.0, 0.5, 900.0, -0.5));
        let m = Product::CanopyHeight { dtype: HeightDtype::Uint16 }.meta(&grid, 1).unwrap();
        assert_eq!(m.dtype, DataType::Uint16);
        assert_eq!(m.bands[0].scale, Some(0.1));
        assert_eq!(m.geotransform, grid.geotransform);
        let f = Product::Features { channels: 8 }.meta(&grid, 16).unwrap();
        assert_eq!((f.width, f.height), (7, 5));
        assert_eq!(f.geotransform.unwrap().0, [500.0, 8.0, 0.0, 900.0, 0.0, -8.0]);
        let classes = vec![
            ClassInfo::new("water", [0, 0, 255]),
            ClassInfo { value: Some(10), ..ClassInfo::new("trees", [0, 128, 0]) },
        ];
        let l = Product::LandCover { classes }.meta(&grid, 1).unwrap();
        let t = l.bands[0].color_table.as_ref().unwrap();
        assert_eq!(t.len(), 11);
        assert_eq!(t[10], ColorEntry { r: 0, g: 128, b: 0, a: 255 });
        assert_eq!(l.bands[0].category_names.as_ref().unwrap()[10], "trees");
        let bad = vec![ClassInfo { value: Some(255), ..ClassInfo::new("x", [0, 0, 0]) }];
        assert!(Product::LandCover { classes: bad }.meta(&grid, 1).is_err());
        assert_eq!(feature_tile(1024), 32);
        assert_eq!(feature_tile(384), 48);
    }
}
