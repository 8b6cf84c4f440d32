"""Seed corpus for the read_tiff fuzz target: tiny GDAL-made TIFFs of every codec, data type,
predictor, layout and feature the reader handles. Usage: /usr/bin/python3 make_seeds.py DIR"""
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)
types = {"u8": gdal.GDT_Byte, "u16": gdal.GDT_UInt16, "i16": gdal.GDT_Int16,
         "i32": gdal.GDT_Int32, "f32": gdal.GDT_Float32, "f64": gdal.GDT_Float64}
srs = osr.SpatialReference()
srs.ImportFromEPSG(32633)


def src(t, nb=2, w=19, h=13):
    ds = gdal.GetDriverByName("MEM").Create("", w, h, nb, types[t])
    ds.SetGeoTransform((500000, 10, 0, 4100000, 0, -10))
    ds.SetProjection(srs.ExportToWkt())
    for b in range(nb):
        ds.GetRasterBand(b + 1).WriteArray((rng.random((h, w)) * 200).astype(np.float64))
        ds.GetRasterBand(b + 1).SetNoDataValue(3)
    return ds


n = 0
for t in types:
    for comp in ["NONE", "LZW", "DEFLATE", "ZSTD", "PACKBITS"]:
        for k, lay in enumerate([["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"], ["BLOCKYSIZE=5"]]):
            for il in ["PIXEL", "BAND"]:
                pred = "3" if t.startswith("f") and comp in ("LZW", "DEFLATE", "ZSTD") and k else (
                    "2" if comp in ("LZW", "DEFLATE", "ZSTD") else "1")
                opts = [f"COMPRESS={comp}", f"INTERLEAVE={il}", f"PREDICTOR={pred}"] + lay
                if n % 3 == 0:
                    opts.append("BIGTIFF=YES")
                if n % 4 == 1:
                    opts.append("ENDIANNESS=BIG")
                gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/s{n}.tif", src(t), options=opts)
                n += 1
rgb = src("u8", 3, 32, 32)
for comp in ["JPEG", "WEBP"]:
    gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/{comp}.tif", rgb, options=[
        f"COMPRESS={comp}", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"])
gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/ycbcr.tif", rgb, options=[
    "COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"])
gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
m = src("u8", 1, 40, 40)
m.CreateMaskBand(gdal.GMF_PER_DATASET)
m.GetRasterBand(1).GetMaskBand().WriteArray((rng.random((40, 40)) > 0.5).astype(np.uint8) * 255)
gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/mask_ovr.tif", m, options=[
    "COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"])
ds = gdal.Open(f"{out}/mask_ovr.tif", gdal.GA_Update)
ds.BuildOverviews("NEAREST", [2, 4])
ds = None
for nbits in (1, 4, 12):
    gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/nbits{nbits}.tif", src("u16" if nbits > 8 else "u8", 1),
                                             options=[f"NBITS={nbits}", "COMPRESS=LZW"])
gdal.GetDriverByName("GTiff").CreateCopy(f"{out}/f16.tif", src("f32", 1), options=["NBITS=16"])
