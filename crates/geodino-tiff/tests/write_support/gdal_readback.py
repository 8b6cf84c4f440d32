"""GDAL oracle for the GeoTIFF writer tests (run with Debian's /usr/bin/python3).

usage: gdal_readback.py OUT_DIR FILE...

For each FILE (index i), prints one JSON object per line describing what GDAL sees, and writes
the pixels of every level GDAL exposes to OUT_DIR/<i>.level<k>.bin: all bands, band-sequential,
in the file's data type, little-endian (GDAL's ReadRaster of the whole level).
"""
import json
import os
import sys

from osgeo import gdal

gdal.UseExceptions()


def describe(path, out_prefix):
    ds = gdal.Open(path)
    b1 = ds.GetRasterBand(1)
    srs = ds.GetSpatialRef()
    info = {
        "driver": ds.GetDriver().ShortName,
        "size": [ds.RasterXSize, ds.RasterYSize],
        "bands": ds.RasterCount,
        "dtype": gdal.GetDataTypeName(b1.DataType),
        "block": b1.GetBlockSize(),
        "geotransform": list(ds.GetGeoTransform(can_return_null=True) or []) or None,
        "epsg": int(srs.GetAuthorityCode(None)) if srs is not None and srs.GetAuthorityCode(None) else None,
        "wkt": srs.ExportToWkt() if srs is not None else None,
        "metadata": ds.GetMetadata() or {},
        "image_structure": ds.GetMetadata("IMAGE_STRUCTURE") or {},
        "band_image_structure": b1.GetMetadata("IMAGE_STRUCTURE") or {},
        "overviews": [[b1.GetOverview(i).XSize, b1.GetOverview(i).YSize] for i in range(b1.GetOverviewCount())],
        "files": ds.GetFileList(),
        "band": [],
    }
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        nd = b.GetNoDataValue()
        ct = b.GetColorTable()
        info["band"].append({
            "nodata": None if nd is None else ("nan" if nd != nd else nd),
            "description": b.GetDescription(),
            "scale": b.GetScale(),
            "offset": b.GetOffset(),
            "color_interp": gdal.GetColorInterpretationName(b.GetColorInterpretation()),
            "color_table": None if ct is None else [list(ct.GetColorEntry(k)) for k in range(ct.GetCount())],
        })
    with open(out_prefix + ".level0.bin", "wb") as f:
        f.write(ds.ReadRaster())
    for k in range(b1.GetOverviewCount()):
        with open(out_prefix + ".level%d.bin" % (k + 1), "wb") as f:
            for i in range(ds.RasterCount):
                f.write(ds.GetRasterBand(i + 1).GetOverview(k).ReadRaster())
    return info


out_dir = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    print(json.dumps(describe(path, os.path.join(out_dir, str(i)))))
