"""GDAL oracle: GDAL's own overviews of the same pixels (run with /usr/bin/python3).

usage: gdal_overviews.py METHOD RESAMPLING BLOCKSIZE LEVELS OUT_DIR FILE...

For each FILE (index i), reads its full-resolution pixels (same nodata) and has GDAL build
overviews with RESAMPLING:

* METHOD `cog`: GDAL's COG driver (`OVERVIEW_RESAMPLING`, `BLOCKSIZE`), which picks the levels;
* METHOD `gdaladdo`: a tiled GTiff and `BuildOverviews` with factors 2, 4, ..., 2**LEVELS, what
  `gdaladdo -r RESAMPLING` does.

Writes each overview level to OUT_DIR/<i>.level<k>.bin (bands sequential, native type) and
prints one JSON line per file with the overview sizes.
"""
import json
import os
import sys

from osgeo import gdal

gdal.UseExceptions()
gdal.PushErrorHandler("CPLQuietErrorHandler")  # block sizes below 128 draw a warning
method, resampling, block, levels, out_dir = sys.argv[1:6]
for i, path in enumerate(sys.argv[6:]):
    src = gdal.Open(path)
    mem = gdal.GetDriverByName("MEM").CreateCopy("", src)  # full resolution only
    name = "/vsimem/gdal_ovr.tif"
    if method == "cog":
        dst = gdal.GetDriverByName("COG").CreateCopy(
            name, mem,
            options=["COMPRESS=NONE", "BLOCKSIZE=" + block, "OVERVIEW_RESAMPLING=" + resampling],
        )
    else:
        dst = gdal.GetDriverByName("GTiff").CreateCopy(
            name, mem, options=["TILED=YES", "BLOCKXSIZE=" + block, "BLOCKYSIZE=" + block]
        )
        dst.BuildOverviews(resampling, [2 ** k for k in range(1, int(levels) + 1)])
    b1 = dst.GetRasterBand(1)
    sizes = []
    for k in range(b1.GetOverviewCount()):
        sizes.append([b1.GetOverview(k).XSize, b1.GetOverview(k).YSize])
        with open(os.path.join(out_dir, "%d.level%d.bin" % (i, k + 1)), "wb") as f:
            for j in range(dst.RasterCount):
                f.write(dst.GetRasterBand(j + 1).GetOverview(k).ReadRaster())
    dst = None
    gdal.Unlink(name)
    print(json.dumps({"overviews": sizes}))
