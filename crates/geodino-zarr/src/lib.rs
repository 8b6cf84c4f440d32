//! # geodino-zarr
//!
//! Zarr v2 and v3 (sharded too) rasters through [`zarrs`], behind geodino's
//! [`RasterRead`](geodino_core::RasterRead) / [`RasterWrite`](geodino_core::RasterWrite) traits.
//!
//! * [`ZarrReader`] reads `(band, y, x)` and 2-D arrays, GDAL's one-array-per-band groups
//!   (`Band1`, `Band2`, ...), xarray-written stores (dimension names from `dimension_names` or
//!   `_ARRAY_DIMENSIONS`; nodata from `_FillValue` / `missing_value`, including xarray's base64
//!   NaN) and zipped stores. Windowed reads touch only the chunks (or, for sharded arrays, the
//!   inner chunks) that intersect the window.
//! * Georeferencing is read leniently in the order GeoZarr (`proj:` / `spatial:`) → CF
//!   (`grid_mapping` → `spatial_ref` with `crs_wkt` and a GDAL-order `GeoTransform`) → GDAL's
//!   `_CRS` → X/Y coordinate arrays of pixel centres.
//! * [`ZarrWriter`] writes **Zarr v3, sharded, zstd** with all three conventions (GeoZarr,
//!   CF with `x`/`y` coordinates, GDAL `_CRS`), or **Zarr v2** in GDAL's own layout (one array per
//!   band, `X`/`Y` arrays, `_CRS`), which GDAL 3.6 reads. Writes are atomic (temporary directory
//!   beside the destination, renamed on [`finish`](geodino_core::RasterWrite::finish)) and
//!   memory is bounded by the tiles in progress.
//!
//! Errors are [`geodino_core::Error`] (the shared raster error of every backend), each naming
//! the store.

mod dtype;
mod georef;
mod reader;
mod store;
mod writer;

pub use georef::{PROJ_CONVENTION_UUID, SPATIAL_CONVENTION_UUID};
pub use reader::{ZarrOpenOptions, ZarrReader};
pub use writer::{ZarrCodec, ZarrVersion, ZarrWriteOptions, ZarrWriter};

use std::path::Path;

/// True when `path` looks like a Zarr store: a directory with Zarr metadata (or inside one), a
/// zip whose name ends in `.zarr.zip`, or GDAL's `ZARR:"..."` syntax.
pub fn is_zarr(path: &Path) -> bool {
    let text = path.to_string_lossy();
    if text.starts_with("ZARR:") {
        return true;
    }
    if path.is_dir() {
        return store::is_node_dir(path);
    }
    if path.is_file() {
        return text.to_ascii_lowercase().ends_with(".zarr.zip") && store::is_zip(path);
    }
    // store.zarr.zip/inner/array
    path.ancestors()
        .skip(1)
        .any(|a| a.is_file() && a.to_string_lossy().to_ascii_lowercase().ends_with(".zarr.zip"))
}
