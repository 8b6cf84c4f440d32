//! Open any raster by path (GeoTIFF, Zarr, GDAL), chip grids, statistics and parallel window reads.
