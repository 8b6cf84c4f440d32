//! Raster IO throughput against GDAL and zarr-python, measured in the same run, and the peak
//! memory of a streamed write + statistics pass over a raster larger than the memory it uses.
//!
//! ```text
//! cargo bench -p geodino-raster --bench raster_io
//! ```
//!
//! Needs the shared data (`../shared/data`, or `GEODINO_SHARED_DATA`), GDAL's Python bindings
//! (Debian's `/usr/bin/python3`) and zarr-python (`.venv`, from `scripts/setup`). Every timing is
//! the best of 3; Python baselines are timed inside Python, so interpreter start-up is excluded.
//! Ratios are geodino time / baseline time (below 1: geodino is faster).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use geodino_core::{Crs, DataType, GeoTransform, RasterBuffer, RasterMeta, Window};
use geodino_raster::{CreateOptions, band_stats, copy_into, create, open};

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut t = f64::INFINITY;
    let mut out = None;
    for _ in 0..3 {
        let t0 = Instant::now();
        out = Some(f());
        t = t.min(t0.elapsed().as_secs_f64());
    }
    (t, out.expect("ran"))
}

fn python(py: &Path, args: &[&str]) -> (f64, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("baselines.py");
    let out = Command::new(py).arg(script).args(args).output().expect("run python");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let (t, rest) = s.trim().split_once(' ').expect("time and checksum");
    (t.parse().expect("seconds"), rest.to_string())
}

fn total(b: &RasterBuffer) -> i128 {
    b.to_f64().iter().map(|v| *v as i128).sum()
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn row(what: &str, ours: f64, base: f64, baseline: &str) {
    println!(
        "{what:<44} {:>9.1} ms {:>9.1} ms  {:>6.2}x  ({baseline})",
        ours * 1e3,
        base * 1e3,
        ours / base
    );
}

fn main() {
    let data = std::env::var_os("GEODINO_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let src = data.join("geotiff/cog.tif");
    assert!(src.is_file(), "shared data not found at {}", data.display());
    let gdal_py = Path::new("/usr/bin/python3");
    let zarr_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    println!(
        "raster IO benchmark on {} (2658 x 2667 uint16 COG), {} rayon threads",
        src.display(),
        rayon::current_num_threads()
    );
    println!("{:<44} {:>12} {:>12}  {:>7}", "task", "geodino", "baseline", "ratio");

    // 0. bounded memory: stream a 16384 x 16384 uint16 raster (512 MiB of pixels) into Zarr v3
    // and compute its statistics; report the peak resident memory of this process.
    let (w, h) = (16384usize, 16384usize);
    let mut m = RasterMeta::new(w, h, 1, DataType::Uint16);
    m.geotransform = Some(GeoTransform::north_up(500000.0, 1.0, 4000000.0, -1.0));
    m.crs = Some(Crs::from_epsg(32633));
    let big = d.join("big.zarr");
    let before = peak_rss_mib();
    let t0 = Instant::now();
    let mut wr = create(&big, &m, &CreateOptions::default()).expect("create big");
    for r0 in (0..h).step_by(1024) {
        for c0 in (0..w).step_by(1024) {
            let a = ndarray::Array3::from_shape_fn((1, 1024, 1024), |(_, y, x)| {
                (((r0 + y) * 31 + (c0 + x) * 17) % 65521) as u16
            });
            wr.write_window(
                Window::new(c0 as i64, r0 as i64, 1024, 1024),
                &RasterBuffer::Uint16(a),
            )
            .expect("write");
        }
    }
    wr.finish().expect("finish big");
    let t_write = t0.elapsed().as_secs_f64();
    let zb = open(&big).expect("open big");
    let t0 = Instant::now();
    let s = band_stats(zb.as_ref(), &[0], &|_, _| {}).expect("stats big");
    let t_stats = t0.elapsed().as_secs_f64();
    let expect: u64 =
        (0..h as u64).map(|y| (0..w as u64).map(|x| (y * 31 + x * 17) % 65521).sum::<u64>()).sum();
    assert_eq!(s[0].sum, expect as f64, "streamed raster round-trips");
    println!(
        "streamed 16384 x 16384 uint16 (512 MiB of pixels): write {:.2} s, stats {:.2} s, peak RSS {:.0} MiB (before: {:.0} MiB)",
        t_write,
        t_stats,
        peak_rss_mib(),
        before
    );

    let r = open(&src).expect("open cog.tif");
    // 1. GeoTIFF -> Zarr v2 (zstd, 256x256 chunks)
    let ours_v2 = d.join("ours_v2.zarr");
    let (t_ours, _) = best(|| {
        let _ = std::fs::remove_dir_all(&ours_v2);
        let opts = CreateOptions { zarr_v2: true, ..Default::default() };
        let m = r.meta();
        let mut w = create(&ours_v2, m, &opts).expect("create");
        copy_into(r.as_ref(), &[0], Window::full(m.width, m.height), w.as_mut(), 1024, &|_, _| {})
            .expect("copy");
        w.finish().expect("finish");
    });
    let gdal_v2 = d.join("gdal_v2.zarr");
    let (t_base, _) =
        python(gdal_py, &["gdal-translate-zarr", src.to_str().unwrap(), gdal_v2.to_str().unwrap()]);
    row("GeoTIFF -> Zarr v2 zstd (convert)", t_ours, t_base, "gdal.Translate -of Zarr");

    // 2. read all of a Zarr v2 store written by GDAL
    let z = open(&gdal_v2).expect("open GDAL's zarr");
    let (t_ours, all) = best(|| z.read_all().expect("read"));
    let s_ours = total(&all);
    let (t_base, s_base) = python(gdal_py, &["gdal-read", gdal_v2.to_str().unwrap()]);
    assert_eq!(s_ours.to_string(), s_base, "same pixels");
    row("read Zarr v2 (GDAL-written), whole", t_ours, t_base, "GDAL ReadAsArray");

    // 3. read all of our Zarr v3 sharded store
    let ours_v3 = d.join("ours_v3.zarr");
    {
        let m = r.meta();
        let mut w = create(&ours_v3, m, &CreateOptions::default()).expect("create v3");
        copy_into(r.as_ref(), &[0], Window::full(m.width, m.height), w.as_mut(), 1024, &|_, _| {})
            .expect("copy");
        w.finish().expect("finish");
    }
    let z3 = open(&ours_v3).expect("open v3");
    let (t_ours, all) = best(|| z3.read_all().expect("read"));
    let s_ours = total(&all);
    let (t_base, s_base) = python(&zarr_py, &["zarr-read", ours_v3.to_str().unwrap(), "data"]);
    assert_eq!(s_ours.to_string(), s_base, "same pixels");
    row("read Zarr v3 sharded zstd, whole", t_ours, t_base, "zarr-python 3 a[...]");

    // 4. exact statistics of the GeoTIFF
    let (t_ours, s) = best(|| band_stats(r.as_ref(), &[0], &|_, _| {}).expect("stats"));
    let (t_base, _) = python(gdal_py, &["gdal-stats", src.to_str().unwrap()]);
    row("exact band statistics, GeoTIFF", t_ours, t_base, "GDAL ComputeStatistics");
    println!("  (sum {} over {} valid pixels)", s[0].sum, s[0].valid_count);
}
