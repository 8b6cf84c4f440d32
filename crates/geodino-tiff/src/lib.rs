//! Pure-Rust GeoTIFF, BigTIFF and Cloud-Optimized GeoTIFF reader and writer with georeferencing.

pub mod write;
