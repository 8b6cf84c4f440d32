"""GDAL oracle: GDAL's own COG overviews of the same pixels (run with /usr/bin/python3).

usage: gdal_cog_overviews.py FILE RESAMPLING BLOCKSIZE OUT_PREFIX

Reads the full-resolution pixels of FILE (a writer output), has GDAL's COG driver write the same
pixels (same nodata, same block size) with OVERVIEW_RESAMPLING=RESAMPLING, and writes each of
GDAL's overview levels to OUT_PREFIX.level<k>.bin (bands sequential, native type). Prints the
overview sizes as JSON.
"""
import json
import sys

from osgeo import gdal

gdal.UseExceptions()
path, resampling, block, prefix = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
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
    with open(prefix + ".level%d.bin" % (k + 1), "wb") as f:
        for i in range(dst.RasterCount):
            f.write(dst.GetRasterBand(i + 1).GetOverview(k).ReadRaster())
print(json.dumps({"overviews": sizes}))
