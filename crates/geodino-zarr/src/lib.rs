//! Zarr v2 and v3 (sharded) raster reader and writer with GDAL, CF and GeoZarr georeferencing.
