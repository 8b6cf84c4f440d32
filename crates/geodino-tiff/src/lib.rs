//! Pure-Rust GeoTIFF, BigTIFF and Cloud-Optimized GeoTIFF reader and writer with georeferencing.
//!
//! # Reading
//!
//! [`GeoTiffReader`] implements [`geodino_core::RasterRead`] with its own TIFF container parser
//! (classic and BigTIFF, both byte orders) and codec crates, no GDAL and no libtiff:
//!
//! * layouts: tiled or striped, chunky (`INTERLEAVE=PIXEL`) or planar (`INTERLEAVE=BAND`);
//! * samples: u8, i8, u16, i16, u32, i32, f32, f64, plus f16 (read as f32) and packed unsigned
//!   integers of 1–31 bits (read as the next byte-sized type);
//! * compression: none, LZW, Deflate (codes 8 and 32946), ZSTD, PackBits, JPEG (with
//!   `JPEGTables`; YCbCr converted to RGB as GDAL returns it) and WebP; predictors 2 and 3;
//! * every sample of a pixel is a band (extra samples such as NAIP's near-infrared are kept);
//! * internal overviews ([`GeoTiffReader::overview`]) and GDAL internal masks
//!   ([`geodino_core::RasterRead::read_mask`]);
//! * georeferencing: geotransform from `ModelTiepoint` + `ModelPixelScale` or
//!   `ModelTransformation` (PixelIsPoint shifted by half a pixel as GDAL does), CRS as an EPSG
//!   code or, for user-defined CRSs, WKT built from the GeoKeys; nodata (`GDAL_NODATA`),
//!   `GDAL_METADATA` (band descriptions, scale/offset, other items), colour tables.
//!
//! Windows are read with positioned reads (`pread`) of only the blocks they touch, decoded in
//! parallel with rayon; memory is bounded by the window, never by the file.
//!
//! LERC, LZMA, JPEG 2000, JPEG XL, old-style JPEG and CCITT compressions are refused with
//! [`geodino_core::Error::Unsupported`] naming the file. `docs/raster-io.md` has the details.

mod codec;
mod decode;
mod gdal_meta;
mod geokeys;
mod ifd;
mod layout;
mod reader;
mod source;
pub mod tags;
pub mod write;

pub use reader::{GeoTiffReader, TiffStructure};
