"""GDAL oracle: GDAL's own COG overviews of the same pixels (run with /usr/bin/python3).

usage: gdal_cog_overviews.py RESAMPLING BLOCKSIZE OUT_DIR FILE...

For each FILE (index i), reads its full-resolution pixels, has GDAL's COG driver write the same
pixels (same nodata, same block size) with OVERVIEW_RESAMPLING=RESAMPLING, and writes each of
GDAL's overview levels to OUT_DIR/<i>.level<k>.bin (bands sequential, native type). Prints one
JSON line per file with the overview sizes.
"""
import json
import os
import sys

from osgeo import gdal

gdal.UseExceptions()
gdal.PushErrorHandler("CPLQuietErrorHandler")  # block sizes below 128 draw a warning
resampling, block, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
for i, path in enumerate(sys.argv[4:]):
    src = gdal.Open(path)
    mem = gdal.GetDriverByName("MEM").CreateCopy("", src)  # full resolution only
    dst = gdal.GetDriverByName("COG").CreateCopy(
        "/vsimem/gdal_cog.tif", mem,
        options=["COMPRESS=NONE", "BLOCKSIZE=" + block, "OVERVIEW_RESAMPLING=" + resampling],
    )
    b1 = dst.GetRasterBand(1)
    sizes = []
    for k in range(b1.GetOverviewCount()):
        sizes.append([b1.GetOverview(k).XSize, b1.GetOverview(k).YSize])
        with open(os.path.join(out_dir, "%d.level%d.bin" % (i, k + 1)), "wb") as f:
            for j in range(dst.RasterCount):
                f.write(dst.GetRasterBand(j + 1).GetOverview(k).ReadRaster())
    dst = None
    gdal.Unlink("/vsimem/gdal_cog.tif")
    print(json.dumps({"overviews": sizes}))
