"""Reference readers for geodino-zarr's tests (GDAL via Debian's python3, zarr-python via .venv).

  python3 oracle.py gdal NAME [NAME ...]     one JSON object per GDAL dataset name
  python oracle.py zarr STORE ARRAY          a zarr-python view of one array of a store

Sums are math.fsum over valid pixels (not nodata, not NaN): exact to the last bit.
"""
import json
import math
import sys

import numpy as np


def nodata_json(v):
    if v is None:
        return None
    return "nan" if math.isnan(v) else v


def band_stats(a, nodata):
    a = np.asarray(a, dtype=np.float64)
    m = ~np.isnan(a)
    if nodata is not None and not math.isnan(nodata):
        m &= a != nodata
    v = a[m]
    return {
        "sum": math.fsum(v.ravel().tolist()),
        "valid_count": int(v.size),
        "min": float(v.min()) if v.size else None,
        "max": float(v.max()) if v.size else None,
    }


def gdal_main(names):
    from osgeo import gdal

    gdal.UseExceptions()
    out = []
    for name in names:
        ds = gdal.Open(name)
        srs = ds.GetSpatialRef()
        epsg = None
        if srs is not None:
            code = srs.GetAuthorityCode(None)
            epsg = int(code) if code else None
        bands = []
        for i in range(1, ds.RasterCount + 1):
            b = ds.GetRasterBand(i)
            nd = b.GetNoDataValue()
            s = band_stats(b.ReadAsArray(), nd)
            s["nodata"] = nodata_json(nd)
            s["dtype"] = gdal.GetDataTypeName(b.DataType)
            s["block"] = list(b.GetBlockSize())
            bands.append(s)
        out.append({
            "size": [ds.RasterXSize, ds.RasterYSize],
            "geotransform": ds.GetGeoTransform(can_return_null=True),
            "epsg": epsg,
            "bands": bands,
        })
    print(json.dumps(out))


def zarr_main(store, name):
    import zarr

    g = zarr.open_group(store, mode="r")
    a = g[name]
    attrs = dict(a.attrs)
    data = a[...]
    fill = attrs.get("_FillValue")
    nodata = None
    if isinstance(fill, str):
        import base64

        nodata = float(np.frombuffer(base64.b64decode(fill), dtype=a.dtype)[0])
    elif fill is not None:
        nodata = float(fill)
    if data.ndim == 2:
        data = data[None]
    info = {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "chunks": list(a.chunks),
        "shards": list(a.shards) if getattr(a, "shards", None) else None,
        "zarr_format": a.metadata.zarr_format,
        "attrs": {k: (v if not isinstance(v, float) or not math.isnan(v) else "nan") for k, v in attrs.items()},
        "bands": [band_stats(b, nodata) for b in data],
        "group": sorted(g.keys()),
        "first_row": [None if math.isnan(float(x)) else float(x) for x in np.asarray(data[0, 0, :8], dtype=np.float64)],
    }
    dims = getattr(a.metadata, "dimension_names", None) or attrs.get("_ARRAY_DIMENSIONS")
    info["dimension_names"] = list(dims) if dims else None
    coords = {}
    for k in g.keys():
        arr = g[k]
        if arr.ndim == 1 and k != name:
            coords[k] = [float(x) for x in arr[...]] if arr.dtype.kind in "fiu" else None
        if arr.ndim == 0:
            coords[k] = {"attrs": dict(arr.attrs)}
    info["others"] = coords
    print(json.dumps(info))


if __name__ == "__main__":
    if sys.argv[1] == "gdal":
        gdal_main(sys.argv[2:])
    else:
        zarr_main(sys.argv[2], sys.argv[3])
