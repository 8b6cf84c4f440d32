"""GDAL as the oracle for geodino-tiff's reader tests.

Usage: /usr/bin/python3 gdal_oracle.py FILE [RAW_OUT]
       /usr/bin/python3 gdal_oracle.py --batch LIST_JSON   (a list of [FILE, RAW_OUT] pairs;
                                                            prints a JSON list)

Prints one JSON object: size, data type, geotransform, CRS (EPSG code of the outermost
authority and WKT), per-band sums (NaN skipped), nodata, colour interpretation, description,
scale/offset, colour table, overview sizes and sums, and mask flags and sums, as GDAL reads
them. With RAW_OUT, also writes every band's pixels (band-major, little-endian, GDAL's data
type) to that file, and the mask (uint8) after them when the dataset has a per-dataset mask.
"""
import json
import math
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()


def band_sum(a):
    """Sum skipping NaN; None when it overflows (garbage-looking float data)."""
    a = a.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = float(np.nansum(a))
    return (s if math.isfinite(s) else None), int(np.isnan(a).sum())


def describe(path, raw):
    ds = gdal.Open(path)
    out = {
        "width": ds.RasterXSize,
        "height": ds.RasterYSize,
        "band_count": ds.RasterCount,
        "geotransform": list(ds.GetGeoTransform(can_return_null=True) or []) or None,
        "metadata": ds.GetMetadata() or {},
    }
    wkt = ds.GetProjection()
    out["wkt"] = wkt or None
    out["epsg"] = None
    if wkt:
        srs = osr.SpatialReference(wkt=wkt)
        code = srs.GetAuthorityCode(None)
        name = srs.GetAuthorityName(None)
        if name == "EPSG" and code:
            out["epsg"] = int(code)
    bands = []
    chunks = []
    for i in range(1, ds.RasterCount + 1):
        b = ds.GetRasterBand(i)
        a = b.ReadAsArray()
        s, nans = band_sum(a)
        ct = b.GetColorTable()
        table = None
        if ct is not None:
            table = [list(ct.GetColorEntry(k)) for k in range(ct.GetCount())]
        nd = b.GetNoDataValue()
        bands.append({
            "dtype": gdal.GetDataTypeName(b.DataType),
            "sum": s,
            "nan_count": nans,
            "nodata": None if nd is None else ("nan" if math.isnan(nd) else nd),
            "color_interp": gdal.GetColorInterpretationName(b.GetColorInterpretation()).lower(),
            "description": b.GetDescription() or None,
            "scale": b.GetScale(),
            "offset": b.GetOffset(),
            "color_table": table,
            "block": b.GetBlockSize(),
            "mask_flags": b.GetMaskFlags(),
            "overviews": [
                {"width": o.XSize, "height": o.YSize, "sum": band_sum(o.ReadAsArray())[0]}
                for o in (b.GetOverview(k) for k in range(b.GetOverviewCount()))
            ],
        })
        if raw:
            chunks.append(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
    out["bands"] = bands
    m = ds.GetRasterBand(1).GetMaskBand() if ds.RasterCount else None
    flags = ds.GetRasterBand(1).GetMaskFlags() if ds.RasterCount else 0
    if m is not None and flags & gdal.GMF_PER_DATASET:
        ma = m.ReadAsArray()
        out["mask"] = {
            "flags": flags,
            "sum": float(ma.astype(np.float64).sum()),
            "overviews": [
                {"width": o.XSize, "height": o.YSize, "sum": float(o.ReadAsArray().astype(np.float64).sum())}
                for o in (m.GetOverview(k) for k in range(m.GetOverviewCount()))
            ],
        }
        if raw:
            chunks.append(np.ascontiguousarray(ma).astype(np.uint8).tobytes())
    else:
        out["mask"] = None
    if raw:
        with open(raw, "wb") as f:
            for c in chunks:
                f.write(c)
    return out


def main():
    if sys.argv[1] == "--batch":
        with open(sys.argv[2]) as f:
            pairs = json.load(f)
        print(json.dumps([describe(p, r) for p, r in pairs]))
    else:
        print(json.dumps(describe(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))


if __name__ == "__main__":
    main()
