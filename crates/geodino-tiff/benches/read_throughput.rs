//! Window-read throughput of geodino-tiff's reader against GDAL (the `gdal` crate over the system
//! libgdal), on the same tiled Deflate and ZSTD GeoTIFFs, measured in one run; and peak memory
//! while reading windows across a 20000 × 20000 file.
//!
//! ```text
//! cargo bench -p geodino-tiff --features bench-gdal --bench read_throughput -- [--size 8000]
//!     [--window 1024] [--threads N] [--rss-size 20000] [--no-rss] [--keep DIR]
//! ```
//!
//! Files (RGB u8, 256 × 256 tiles, pixel-interleaved) are generated in a temporary directory:
//! a synthetic textured scene written through GDAL, then `gdal_translate -co COMPRESS=...`.
//! Every configuration reads all `window`-sized windows of the image, all three bands, five
//! times, alternating with GDAL; the best wall time and the best process CPU time are kept. On a
//! shared machine CPU time is the fairer single-thread measure (waiting for a core is not work). "1 thread": our reader in a one-thread rayon pool and GDAL
//! with one dataset (`GDAL_NUM_THREADS=1`). "N threads": windows read in parallel by N rayon
//! workers, sharing one of our readers, and with one GDAL dataset per worker. Ratios > 1 mean
//! geodino is faster. The checksums of both readers are compared, so both do the full work.
//!
//! The memory check runs in a child process (a fresh address space) and prints its peak RSS
//! (`VmHWM`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gdal::Dataset;
use gdal::raster::Buffer;
use geodino_core::{RasterBuffer, RasterRead, Window};
use geodino_tiff::GeoTiffReader;
use rayon::prelude::*;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = arg(&args, "--rss-child") {
        let window: usize = arg(&args, "--window").map_or(Ok(1024), |v| v.parse())?;
        return rss_child(Path::new(&path), window);
    }
    let size: usize = arg(&args, "--size").map_or(Ok(8000), |v| v.parse())?;
    let win: usize = arg(&args, "--window").map_or(Ok(1024), |v| v.parse())?;
    let threads: usize = arg(&args, "--threads")
        .map_or(Ok(std::thread::available_parallelism().map_or(1, |n| n.get())), |v| v.parse())?;
    let rss_size: usize = arg(&args, "--rss-size").map_or(Ok(20000), |v| v.parse())?;
    let keep = arg(&args, "--keep").map(PathBuf::from);
    let dir = match &keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("geodino-bench-tiff-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    gdal::config::set_config_option("GDAL_NUM_THREADS", "1")?;

    println!(
        "# geodino-tiff read throughput vs GDAL {}",
        gdal::version::version_info("RELEASE_NAME")
    );
    println!(
        "# {size} x {size} RGB u8, 256x256 tiles, windows {win} x {win}, {threads} thread(s) max"
    );
    let base = dir.join("base.tif");
    if !base.exists() {
        let t = Instant::now();
        write_base(&base, size)?;
        println!("# wrote synthetic scene in {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut rows = Vec::new();
    for (name, co) in [
        ("deflate", vec!["COMPRESS=DEFLATE"]),
        ("deflate+pred2", vec!["COMPRESS=DEFLATE", "PREDICTOR=2"]),
        ("zstd", vec!["COMPRESS=ZSTD"]),
    ] {
        let path = dir.join(format!("{name}.tif"));
        if !path.exists() {
            translate(&base, &path, &co, &[])?;
        }
        let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
        for t in [1, threads] {
            // Interleaved runs (ours, GDAL, ours, ...) so that a burst of load on a shared
            // machine hits both; best of five.
            let (mut ours, mut theirs) = (Timing::worst(), Timing::worst());
            let (mut c1, mut c2) = (0, 0);
            for _ in 0..5 {
                let (tm, c) = timed(|| ours_read(&path, win, t))?;
                ours = ours.best(tm);
                c1 = c;
                let (tm, c) = timed(|| gdal_read(&path, win, t))?;
                theirs = theirs.best(tm);
                c2 = c;
            }
            anyhow::ensure!(c1 == c2, "{name}: checksums differ: ours {c1}, GDAL {c2}");
            let mpix = (size * size) as f64 / 1e6;
            rows.push((name, t, mpix / ours.wall, mpix / theirs.wall));
            println!(
                "{name:>14} ({mb:6.1} MB) {t:>2} thread(s): geodino {:7.1} MPix/s  GDAL {:7.1} MPix/s  \
                 ratio {:.2}x wall | CPU: geodino {:7.1} MPix/s  GDAL {:7.1} MPix/s  ratio {:.2}x",
                mpix / ours.wall,
                mpix / theirs.wall,
                theirs.wall / ours.wall,
                mpix / ours.cpu,
                mpix / theirs.cpu,
                theirs.cpu / ours.cpu,
            );
            if threads == 1 {
                break;
            }
        }
    }
    if threads > 1 {
        println!("# scaling 1 -> {threads} threads (ideal {threads}.0x):");
        for name in ["deflate", "deflate+pred2", "zstd"] {
            let one = rows.iter().find(|r| r.0 == name && r.1 == 1).expect("row");
            let n = rows.iter().find(|r| r.0 == name && r.1 == threads).expect("row");
            println!(
                "{name:>14}: geodino {:.2}x ({:.0}% of linear), GDAL {:.2}x",
                n.2 / one.2,
                100.0 * n.2 / one.2 / threads as f64,
                n.3 / one.3
            );
        }
    }
    if !args.iter().any(|a| a == "--no-rss") {
        let big = dir.join(format!("big_{rss_size}.tif"));
        if !big.exists() {
            let t = Instant::now();
            let s = rss_size.to_string();
            translate(&base, &big, &["COMPRESS=ZSTD"], &["-outsize", &s, &s, "-r", "bilinear"])?;
            println!(
                "# wrote {rss_size} x {rss_size} RGB file in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let exe = std::env::current_exe()?;
        let out = Command::new(exe)
            .arg("--rss-child")
            .arg(&big)
            .arg("--window")
            .arg(win.to_string())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "rss child: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    if keep.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Wall-clock and process CPU seconds of one run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

impl Timing {
    fn worst() -> Self {
        Timing { wall: f64::INFINITY, cpu: f64::INFINITY }
    }
    fn best(self, o: Timing) -> Self {
        Timing { wall: self.wall.min(o.wall), cpu: self.cpu.min(o.cpu) }
    }
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

fn timed(f: impl FnOnce() -> anyhow::Result<u64>) -> anyhow::Result<(Timing, u64)> {
    let (t, c) = (Instant::now(), cpu_seconds());
    let sum = f()?;
    Ok((Timing { wall: t.elapsed().as_secs_f64(), cpu: cpu_seconds() - c }, sum))
}

fn windows(w: usize, h: usize, win: usize) -> Vec<Window> {
    let mut v = Vec::new();
    for r in (0..h).step_by(win) {
        for c in (0..w).step_by(win) {
            v.push(Window::new(c as i64, r as i64, win.min(w - c), win.min(h - r)));
        }
    }
    v
}

/// A cheap checksum that depends on every pixel.
fn checksum(data: &[u8]) -> u64 {
    data.chunks(8).fold(0u64, |acc, c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        acc.wrapping_add(u64::from_le_bytes(b))
    })
}

fn ours_read(path: &Path, win: usize, threads: usize) -> anyhow::Result<u64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let r = GeoTiffReader::open(path)?;
    let m = r.meta();
    let ws = windows(m.width, m.height, win);
    pool.install(|| {
        ws.par_iter()
            .map(|w| -> anyhow::Result<u64> {
                let RasterBuffer::Uint8(a) = r.read_window(&[0, 1, 2], *w)? else {
                    anyhow::bail!("not u8")
                };
                Ok(checksum(a.as_slice().expect("standard layout")))
            })
            .try_reduce(|| 0, |a, b| Ok(a.wrapping_add(b)))
    })
}

fn gdal_read(path: &Path, win: usize, threads: usize) -> anyhow::Result<u64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let ds = Dataset::open(path)?;
    let (w, h) = ds.raster_size();
    drop(ds);
    let ws = windows(w, h, win);
    pool.install(|| {
        ws.par_iter()
            .map_init(
                || Dataset::open(path).expect("open with GDAL"),
                |ds, w| -> anyhow::Result<u64> {
                    // (band, row, col) like ours, one band after the other.
                    let mut out = vec![0u8; 3 * w.width * w.height];
                    for (b, chunk) in out.chunks_mut(w.width * w.height).enumerate() {
                        ds.rasterband(b + 1)?.read_into_slice(
                            (w.col_off as isize, w.row_off as isize),
                            (w.width, w.height),
                            (w.width, w.height),
                            chunk,
                            None,
                        )?;
                    }
                    Ok(checksum(&out))
                },
            )
            .try_reduce(|| 0, |a, b| Ok(a.wrapping_add(b)))
    })
}

/// A textured RGB scene (smooth structures plus sensor-like noise), uncompressed, via GDAL.
fn write_base(path: &Path, size: usize) -> anyhow::Result<()> {
    let drv = gdal::DriverManager::get_driver_by_name("GTiff")?;
    let opts = gdal::raster::RasterCreationOptions::from_iter(["TILED=YES", "BIGTIFF=IF_SAFER"]);
    let mut ds = drv.create_with_band_type_with_options::<u8, _>(path, size, size, 3, &opts)?;
    ds.set_geo_transform(&[500000.0, 0.5, 0.0, 4100000.0, 0.0, -0.5])?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let rows = 256;
    for r0 in (0..size).step_by(rows) {
        let n = rows.min(size - r0);
        for b in 0..3 {
            let mut data = vec![0u8; n * size];
            for y in 0..n {
                let yy = (r0 + y) as f64;
                for x in 0..size {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let xf = x as f64;
                    let v = 110.0
                        + 50.0 * (xf * 0.031 + b as f64).sin() * (yy * 0.023).cos()
                        + 30.0 * ((xf + yy) * 0.0071).sin()
                        + (state % 24) as f64;
                    data[y * size + x] = v.clamp(0.0, 255.0) as u8;
                }
            }
            let mut buf = Buffer::new((size, n), data);
            ds.rasterband(b + 1)?.write((0, r0 as isize), (size, n), &mut buf)?;
        }
    }
    Ok(())
}

fn translate(src: &Path, dst: &Path, co: &[&str], extra: &[&str]) -> anyhow::Result<()> {
    let mut c = Command::new("gdal_translate");
    c.args(["-q", "-co", "TILED=YES", "-co", "BLOCKXSIZE=256", "-co", "BLOCKYSIZE=256"]);
    c.args(["-co", "INTERLEAVE=PIXEL", "-co", "BIGTIFF=IF_SAFER"]);
    for o in co {
        c.args(["-co", o]);
    }
    c.args(extra).arg(src).arg(dst);
    let out = c.output()?;
    anyhow::ensure!(
        out.status.success(),
        "gdal_translate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Peak resident memory of this process, from `/proc/self/status` (`VmHWM`), in MB.
fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Read every window of `path` (all bands), first one window at a time, then with all workers
/// reading windows in parallel, and report the peak RSS.
fn rss_child(path: &Path, win: usize) -> anyhow::Result<()> {
    let before = peak_rss_mb();
    let r = GeoTiffReader::open(path)?;
    let m = r.meta();
    let ws = windows(m.width, m.height, win);
    let t = Instant::now();
    let mut sum = 0u64;
    for w in &ws {
        let RasterBuffer::Uint8(a) = r.read_window(&[0, 1, 2], *w)? else { anyhow::bail!("u8") };
        sum = sum.wrapping_add(checksum(a.as_slice().expect("standard layout")));
    }
    let seq = t.elapsed().as_secs_f64();
    let after_seq = peak_rss_mb();
    let t = Instant::now();
    let par: u64 = ws
        .par_iter()
        .map(|w| -> anyhow::Result<u64> {
            let RasterBuffer::Uint8(a) = r.read_window(&[0, 1, 2], *w)? else {
                anyhow::bail!("u8")
            };
            Ok(checksum(a.as_slice().expect("standard layout")))
        })
        .try_reduce(|| 0, |a, b| Ok(a.wrapping_add(b)))?;
    anyhow::ensure!(par == sum, "parallel and sequential reads differ");
    let partime = t.elapsed().as_secs_f64();
    let after_par = peak_rss_mb();
    let file_mb = std::fs::metadata(path)?.len() as f64 / 1e6;
    println!(
        "# memory: {} x {} x 3 file ({file_mb:.0} MB, {:.0} MB decoded), {} windows of {win} x {win}",
        m.width,
        m.height,
        (m.width * m.height * 3) as f64 / 1e6,
        ws.len()
    );
    println!(
        "peak RSS: {before:.1} MB at start, {after_seq:.1} MB after sequential windows ({seq:.1} s), \
         {after_par:.1} MB after {} parallel workers ({partime:.1} s); limit 200 MB: {}",
        rayon::current_num_threads(),
        if after_par < 200.0 { "OK" } else { "EXCEEDED" }
    );
    Ok(())
}
