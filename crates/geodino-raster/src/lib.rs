//! # geodino-raster
//!
//! One entry point for every raster geodino reads or writes:
//!
//! * [`open`] / [`open_with`] → a [`SharedReader`](geodino_core::SharedReader), dispatching on
//!   directory layout, magic bytes and name: Zarr stores through `geodino-zarr`, GeoTIFFs through
//!   `geodino-tiff`'s pure-Rust reader, anything else through GDAL with the `gdal` feature
//!   (VRT mosaics, `/vsicurl/` paths, every GDAL format); otherwise a clear error naming the file
//!   and the formats this build supports;
//! * [`create`] → a [`RasterWrite`](geodino_core::RasterWrite) chosen by extension (`.zarr`:
//!   Zarr v3 sharded zstd or v2; `.tif`: `geodino-tiff`'s tiled GeoTIFF or COG writer);
//! * [`band_stats`]: exact per-band statistics over valid pixels, block by block in parallel;
//! * [`block_windows`], [`processing_windows`], [`read_windows_par`]: block-aligned iteration
//!   and parallel window reads; [`copy_into`]: a streamed, bounded-memory copy into a writer;
//! * [`GdalReader`] / [`GdalWriter`] (feature `gdal`): the GDAL backend (the writer is an
//!   alternative GeoTIFF/COG writer through GDAL's drivers, not used by [`create`]). GDAL 3.6 datasets are
//!   not thread-safe, so the reader keeps a pool of datasets, one per concurrent reader.
//!
//! Errors are [`geodino_core::Error`], the raster error every backend shares.

mod copy;
#[cfg(feature = "gdal")]
mod gdal_backend;
mod open;
mod stats;
mod windows;

pub use copy::copy_into;
#[cfg(feature = "gdal")]
pub use gdal_backend::{GdalReader, GdalWriter};
pub use open::{
    Backend, CreateOptions, Format, OpenOptions, create, detect, open, open_with, supported_formats,
};
pub use stats::{BandStats, band_stats};
pub use windows::{block_windows, processing_windows, read_windows_par};
