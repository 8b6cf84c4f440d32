//! # geodino-core
//!
//! The vocabulary every geodino crate agrees on, with no IO and no libtorch:
//!
//! * [`GeoTransform`]: the affine pixel → map transform, in GDAL's coefficient order and
//!   pixel-corner (PixelIsArea) convention;
//! * [`Crs`]: a coordinate reference system as an EPSG code and/or WKT;
//! * [`Window`] and [`ChipGrid`]: pixel-space rectangles and overlapping chip layouts;
//! * [`DataType`], [`RasterBuffer`]: typed `(band, row, col)` pixel arrays;
//! * [`RasterMeta`]: what a reader knows about a dataset;
//! * [`RasterRead`] / [`RasterWrite`]: the traits the GeoTIFF, Zarr and GDAL backends implement.
//!
//! Conventions are written down in `docs/conventions.md`.

mod buffer;
mod crs;
mod dtype;
mod error;
mod geotransform;
mod grid;
mod meta;
mod traits;
mod window;

pub use buffer::{RasterBuffer, RasterElement};
pub use crs::Crs;
pub use dtype::DataType;
pub use error::{Error, Result};
pub use geotransform::GeoTransform;
pub use grid::{ChipGrid, GridAxis};
pub use meta::{BandMeta, ColorEntry, Compression, NoData, RasterMeta};
pub use traits::{RasterRead, RasterWrite, SharedReader};
pub use window::{BlockSize, Window};
