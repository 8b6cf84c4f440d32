"""Write the GDAL-made GeoTIFFs of geodino-tiff's reader matrix test into OUTDIR.

Usage: /usr/bin/python3 make_tiffs.py OUTDIR

Prints a JSON list of {"file", "lossy"} objects ("lossy": the largest per-pixel difference that
is tolerated against GDAL's decoding, 0 for lossless). Rasters are small (tens of pixels) with odd
sizes so that edge tiles and short last strips are exercised; pixel values are pseudo-random
but smooth enough to compress, and cover each type's range (negative values, fractions, NaN).
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

OUT = sys.argv[1]
W, H, NB = 67, 45, 3
RNG = np.random.default_rng(20250826)
files = []

TYPES = {
    "u8": (gdal.GDT_Byte, np.uint8),
    "i8": (gdal.GDT_Byte, np.int8),  # GDAL 3.6: Byte + PIXELTYPE=SIGNEDBYTE
    "u16": (gdal.GDT_UInt16, np.uint16),
    "i16": (gdal.GDT_Int16, np.int16),
    "u32": (gdal.GDT_UInt32, np.uint32),
    "i32": (gdal.GDT_Int32, np.int32),
    "f32": (gdal.GDT_Float32, np.float32),
    "f64": (gdal.GDT_Float64, np.float64),
}


def pixels(kind, nb=NB, w=W, h=H):
    """Smooth ramps plus noise over most of the type's range."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for b in range(nb):
        base = np.sin(x / (7.0 + b)) + np.cos(y / (5.0 + b)) + RNG.normal(0, 0.1, (h, w))
        base = (base + 2.2) / 4.4  # ~0..1
        if kind.startswith("f"):
            a = (base - 0.5) * 2000.0 + RNG.normal(0, 1e-3, (h, w))
            a[3, 5 + b] = np.nan
        else:
            info = np.iinfo(TYPES[kind][1])
            lo, hi = max(info.min, -(2**31)), min(info.max, 2**31 - 1)
            a = lo + base.clip(0, 1) * (hi - lo)
        out.append(a.astype(TYPES[kind][1]))
    return np.stack(out)


def mem(kind, data=None, gt=(500000.0, 10.0, 0.0, 4100000.0, 0.0, -10.0), epsg=32633):
    data = pixels(kind) if data is None else data
    nb, h, w = data.shape
    ds = gdal.GetDriverByName("MEM").Create("", w, h, nb, TYPES[kind][0])
    if gt is not None:
        ds.SetGeoTransform(gt)
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for b in range(nb):
        arr = data[b].view(np.uint8) if kind == "i8" else data[b]
        ds.GetRasterBand(b + 1).WriteArray(arr)
    return ds


def add(name, src, options, lossy=0, driver="GTiff", kind=None):
    path = os.path.join(OUT, name + ".tif")
    opts = list(options)
    if kind == "i8":
        opts.append("PIXELTYPE=SIGNEDBYTE")
    gdal.GetDriverByName(driver).CreateCopy(path, src, options=opts)
    files.append({"file": path, "lossy": lossy})
    return path


# ---- dtype x compression x predictor x layout x BigTIFF x byte order ----
i = 0
for kind in TYPES:
    src = mem(kind)
    for comp in ["NONE", "LZW", "DEFLATE", "ZSTD", "PACKBITS"]:
        for tiled in [True, False]:
            for interleave in ["PIXEL", "BAND"]:
                preds = [1]
                if comp in ("LZW", "DEFLATE", "ZSTD"):
                    preds = [1, 2, 3] if kind.startswith("f") else [1, 2]
                pred = preds[i % len(preds)]
                opts = [f"COMPRESS={comp}", f"INTERLEAVE={interleave}", f"PREDICTOR={pred}"]
                opts += ["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=32"] if tiled else ["BLOCKYSIZE=7"]
                if i % 3 == 0:
                    opts.append("BIGTIFF=YES")
                if i % 4 == 1:
                    opts.append("ENDIANNESS=BIG")
                lay = ("tile" if tiled else "strip") + "_" + interleave.lower()
                add(f"m_{kind}_{comp.lower()}_p{pred}_{lay}", src, opts, kind=kind)
                i += 1
    # every predictor with every predictor-capable codec, tiled and chunky
    for comp in ["LZW", "DEFLATE", "ZSTD"]:
        for pred in ([2, 3] if kind.startswith("f") else [2]):
            for endian in ["LITTLE", "BIG"]:
                add(f"p_{kind}_{comp.lower()}_p{pred}_{endian.lower()}", src,
                    [f"COMPRESS={comp}", f"PREDICTOR={pred}", "TILED=YES", "BLOCKXSIZE=32",
                     "BLOCKYSIZE=16", f"ENDIANNESS={endian}"], kind=kind)

# ---- overviews (internal), tiled and striped, and a COG with overviews and a mask ----
for kind in ["u8", "i16", "f32"]:
    big = pixels(kind, nb=2, w=301, h=203)
    p = add(f"ovr_{kind}_tiled", mem(kind, big), ["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64",
                                                 "COMPRESS=DEFLATE"], kind=kind)
    ds = gdal.Open(p, gdal.GA_Update)
    ds.BuildOverviews("AVERAGE" if kind == "f32" else "NEAREST", [2, 4, 8])
    ds = None
    p = add(f"ovr_{kind}_striped", mem(kind, big), ["COMPRESS=LZW", "BLOCKYSIZE=10"], kind=kind)
    ds = gdal.Open(p, gdal.GA_Update)
    ds.BuildOverviews("NEAREST", [3, 9])
    ds = None

gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
for kind in ["u8", "u16"]:
    data = pixels(kind, nb=3, w=300, h=250)
    src = mem(kind, data)
    mk = src.CreateMaskBand(gdal.GMF_PER_DATASET)
    m = np.full((250, 300), 255, np.uint8)
    m[40:120, 30:200] = 0
    m[:, 290:] = 0
    src.GetRasterBand(1).GetMaskBand().WriteArray(m)
    add(f"cog_{kind}_zstd_mask", src, ["COMPRESS=ZSTD", "PREDICTOR=YES", "BLOCKSIZE=128",
                                      "OVERVIEWS=AUTO", "OVERVIEW_RESAMPLING=NEAREST"],
        driver="COG")
    p = add(f"gtiff_{kind}_mask_ovr", src, ["TILED=YES", "COMPRESS=DEFLATE", "BLOCKXSIZE=32",
                                           "BLOCKYSIZE=32"])
    ds = gdal.Open(p, gdal.GA_Update)
    ds.BuildOverviews("NEAREST", [2, 4])
    ds = None
gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
add("cog_f64_lzw_bigtiff", mem("f64", pixels("f64", nb=1, w=520, h=300)),
    ["COMPRESS=LZW", "PREDICTOR=YES", "BIGTIFF=YES", "BLOCKSIZE=128"], driver="COG")

# ---- lossy codecs ----
rgb = pixels("u8", nb=3, w=203, h=157)
add("jpeg_ycbcr_tiled", mem("u8", rgb), ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "TILED=YES"], lossy=4)
add("jpeg_ycbcr_strips", mem("u8", rgb), ["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "BLOCKYSIZE=32"],
    lossy=4)
add("jpeg_rgb_tiled", mem("u8", rgb), ["COMPRESS=JPEG", "PHOTOMETRIC=RGB", "TILED=YES",
                                       "BLOCKXSIZE=64", "BLOCKYSIZE=64"], lossy=4)
add("jpeg_gray_strips", mem("u8", rgb[:1]), ["COMPRESS=JPEG", "BLOCKYSIZE=16"], lossy=4)
add("jpeg_planar_tiled", mem("u8", rgb), ["COMPRESS=JPEG", "INTERLEAVE=BAND", "TILED=YES"], lossy=4)
add("webp_rgb", mem("u8", rgb), ["COMPRESS=WEBP", "TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64"],
    lossy=4)
rgba = np.concatenate([rgb, np.full((1, 157, 203), 255, np.uint8)])
rgba[3, 10:50, 20:90] = 0
src = mem("u8", rgba)
src.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
add("webp_rgba_lossless", src, ["COMPRESS=WEBP", "WEBP_LOSSLESS=YES", "TILED=YES"], lossy=0)
add("cog_jpeg_rgb", mem("u8", rgb), ["COMPRESS=JPEG", "OVERVIEWS=AUTO", "BLOCKSIZE=128"], lossy=4,
    driver="COG")

# ---- nodata, NaN, sparse blocks ----
f = pixels("f32", nb=2)
f[:, 10:14, 10:30] = np.nan
src = mem("f32", f)
for b in (1, 2):
    src.GetRasterBand(b).SetNoDataValue(float("nan"))
add("nodata_nan_f32", src, ["COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=YES", "BLOCKXSIZE=16",
                            "BLOCKYSIZE=16"])
src = mem("i16")
for b in (1, 2, 3):
    src.GetRasterBand(b).SetNoDataValue(-9999)
add("nodata_i16", src, ["COMPRESS=ZSTD"])
src = mem("u8")
for b in (1, 2, 3):
    src.GetRasterBand(b).SetNoDataValue(0)
add("nodata_u8", src, ["COMPRESS=LZW", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"])
# sparse: blocks that are entirely nodata are not written at all
d = pixels("u16", nb=1, w=96, h=64)
d[:, :32, :] = 7
src = mem("u16", d)
src.GetRasterBand(1).SetNoDataValue(7)
add("sparse_u16", src, ["SPARSE_OK=TRUE", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16",
                        "COMPRESS=DEFLATE"])

# ---- odd bit depths and half floats ----
for nbits, kind in [(1, "u8"), (2, "u8"), (4, "u8"), (12, "u16"), (20, "u32")]:
    d = pixels(kind, nb=1) >> (np.iinfo(TYPES[kind][1]).bits - nbits)
    add(f"nbits{nbits}", mem(kind, d.astype(TYPES[kind][1])), [f"NBITS={nbits}", "COMPRESS=DEFLATE"])
    add(f"nbits{nbits}_tiled_planar", mem(kind, np.repeat(d, 2, axis=0).astype(TYPES[kind][1])),
        [f"NBITS={nbits}", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "INTERLEAVE=BAND"])
half = pixels("f32", nb=2)
add("float16_deflate", mem("f32", half), ["NBITS=16", "COMPRESS=DEFLATE"])
add("float16_pred3", mem("f32", half), ["NBITS=16", "COMPRESS=ZSTD", "PREDICTOR=3", "TILED=YES",
                                        "BLOCKXSIZE=16", "BLOCKYSIZE=16"])

# ---- georeferencing ----
add("point_geo", mem("u8"), ["COMPRESS=DEFLATE", "TILED=YES"])
gdal.Translate(os.path.join(OUT, "point.tif"), os.path.join(OUT, "point_geo.tif"),
               metadataOptions=["AREA_OR_POINT=Point"])
files.append({"file": os.path.join(OUT, "point.tif"), "lossy": 0})
add("rotated", mem("u8", gt=(300000.0, 8.0, 2.0, 5000000.0, 1.5, -9.0)), ["COMPRESS=LZW"])
gdal.Translate(os.path.join(OUT, "rotated_point.tif"), os.path.join(OUT, "rotated.tif"),
               metadataOptions=["AREA_OR_POINT=Point"])
files.append({"file": os.path.join(OUT, "rotated_point.tif"), "lossy": 0})
# ground control points only: GDAL reports no geotransform
gdal.Translate(os.path.join(OUT, "gcps.tif"), mem("u8", gt=None), outputSRS="EPSG:4326",
               GCPs=[gdal.GCP(10.0, 50.0, 0, 0, 0), gdal.GCP(10.5, 50.0, 0, 66, 0),
                     gdal.GCP(10.0, 49.7, 0, 0, 44)])
files.append({"file": os.path.join(OUT, "gcps.tif"), "lossy": 0})
add("geographic_4326", mem("u8", gt=(-10.0, 0.01, 0.0, 50.0, 0.0, -0.01), epsg=4326), [])
add("no_georef", mem("u8", gt=None, epsg=None), [])
USER_CRS = {
    "utm25s_intl": "+proj=utm +zone=25 +south +ellps=intl +towgs84=0,0,0 +units=m +no_defs",
    "tmerc_grs80": "+proj=tmerc +lat_0=0 +lon_0=-33 +k=0.9996 +x_0=500000 +y_0=10000000 "
                   "+ellps=GRS80 +units=m +no_defs",
    "lcc2sp": "+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 "
              "+units=m +no_defs",
    "aea": "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +datum=WGS84 "
           "+units=m +no_defs",
    "laea": "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
    "polar_stere": "+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +datum=WGS84 "
                   "+units=m",
    "merc_sphere": "+proj=merc +lon_0=0 +k=1 +x_0=0 +y_0=0 +a=6371000 +b=6371000 +units=m",
    "custom_ellps_ft": "+proj=tmerc +lat_0=31 +lon_0=-110.1666667 +k=0.9999 +x_0=213360 +y_0=0 "
                       "+a=6378300 +rf=296 +units=us-ft +no_defs",
    "sinu": "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs",
    "geog_custom": "+proj=longlat +a=6378000 +rf=299 +no_defs",
    "eqc": "+proj=eqc +lat_ts=30 +lat_0=0 +lon_0=20 +x_0=0 +y_0=0 +datum=WGS84 +units=m",
    "omerc": "+proj=omerc +lat_0=4 +lonc=102.25 +alpha=323.0257905 +k=0.99984 +x_0=804671 "
             "+y_0=0 +no_uoff +gamma=323.1301023611111 +ellps=GRS80 +units=m",
}
for name, proj in USER_CRS.items():
    ds = mem("u8", epsg=None)
    srs = osr.SpatialReference()
    srs.ImportFromProj4(proj)
    ds.SetProjection(srs.ExportToWkt())
    add(f"crs_{name}", ds, [])

# ---- metadata: palette, descriptions, scale/offset, items ----
cls = (pixels("u8", nb=1) // 32).astype(np.uint8)
src = mem("u8", cls)
ct = gdal.ColorTable()
for k in range(8):
    ct.SetColorEntry(k, (k * 30, 255 - k * 20, (k * 77) % 256, 255))
src.GetRasterBand(1).SetColorTable(ct)
add("palette", src, ["COMPRESS=DEFLATE"])
src = mem("u16")
for b, (d, sc, off) in enumerate([("red", 0.0001, -0.1), ("green", 0.5, 0.0), ("nir & <x>", 2.0, 3.0)]):
    band = src.GetRasterBand(b + 1)
    band.SetDescription(d)
    band.SetScale(sc)
    band.SetOffset(off)
src.SetMetadataItem("SENSOR", "synthetic")
src.SetMetadataItem("ACQ", "2016-06-20", "IMAGERY")
add("band_metadata", src, ["COMPRESS=ZSTD"])

print(json.dumps(files))
