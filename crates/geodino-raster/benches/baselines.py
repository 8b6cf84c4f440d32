"""Baselines for benches/raster_io.rs, timed inside Python (interpreter start-up excluded).

  /usr/bin/python3 baselines.py gdal-translate-zarr SRC DST   GeoTIFF -> Zarr v2 (zstd, 256x256)
  /usr/bin/python3 baselines.py gdal-read NAME                read every band with GDAL
  /usr/bin/python3 baselines.py gdal-stats NAME               exact statistics (ComputeStatistics)
  .venv/bin/python baselines.py zarr-read STORE ARRAY         read the whole array with zarr-python

Each prints one line: seconds (best of 3) and a checksum of what was read.
"""
import sys
import time


def best(f, n=3):
    out, t = None, float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        out = f()
        t = min(t, time.perf_counter() - t0)
    return t, out


def main():
    cmd = sys.argv[1]
    if cmd.startswith("gdal"):
        from osgeo import gdal

        gdal.UseExceptions()
        gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
    if cmd == "gdal-translate-zarr":
        import shutil

        src, dst = sys.argv[2], sys.argv[3]

        def run():
            shutil.rmtree(dst, ignore_errors=True)
            gdal.Translate(dst, src, format="Zarr", creationOptions=["COMPRESS=ZSTD", "BLOCKSIZE=256,256"])
            return 0

        t, s = best(run)
    elif cmd == "gdal-read":

        def run():
            ds = gdal.Open(sys.argv[2])
            return [ds.GetRasterBand(i).ReadAsArray() for i in range(1, ds.RasterCount + 1)]

        t, arrays = best(run)
        s = sum(int(a.astype("float64").sum()) for a in arrays)
    elif cmd == "gdal-stats":

        def run():
            ds = gdal.Open(sys.argv[2])
            return [ds.GetRasterBand(i).ComputeStatistics(False) for i in range(1, ds.RasterCount + 1)]

        t, s = best(run)
    elif cmd == "zarr-read":
        import zarr

        def run():
            return zarr.open_group(sys.argv[2], mode="r")[sys.argv[3]][...]

        t, a = best(run)
        s = int(a.astype("float64").sum())
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(f"{t:.6f} {s}")


if __name__ == "__main__":
    main()
