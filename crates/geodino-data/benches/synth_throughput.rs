//! Throughput of the synthetic-scene generator on one core, with a baseline measured in the
//! same run.
//!
//! `cargo bench -p geodino-data --bench synth_throughput -- [SIZE] [SEEDS]`
//!
//! 1. Rendering only (image + canopy height + land cover) of `SEEDS` scenes of `SIZE` × `SIZE`
//!    pixels (defaults 2048 and 3) in 256 × 1024 windows on one thread, RGB and RGB + NIR:
//!    MPix/s and the ratio to the 5 MPix/s target.
//! 2. The whole `synth-scene` job on one thread: rendering streamed into geodino-tiff's COG
//!    writer (deflate, compression on the calling thread) for the three rasters.
//! 3. Baseline: GDAL writing the same pixels (`gdal_translate -of COG -co COMPRESS=DEFLATE`
//!    from raw files, `GDAL_NUM_THREADS=1`) — what the job costs compared with only writing its
//!    output with GDAL.
//!
//! Times are CPU seconds of the working thread (or of the GDAL process): the machine is shared,
//! and wall time would measure the neighbours. Wall times are printed too.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use geodino_core::Window;
use geodino_data::synth::{SceneGenerator, StreamOptions, SynthConfig};
use geodino_tiff::write::{GeoTiffWriter, TiffWriteOptions};

/// CPU time of this thread (ns) from `/proc/thread-self/schedstat`.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

struct Timer {
    wall: Instant,
    cpu: Option<u64>,
}

impl Timer {
    fn start() -> Timer {
        Timer { wall: Instant::now(), cpu: cpu_ns() }
    }
    /// (cpu seconds, wall seconds); cpu falls back to wall when unavailable.
    fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => wall,
        };
        (cpu, wall)
    }
}

const TARGET: f64 = 5.0;

fn line(what: &str, mpix: f64, cpu: f64, wall: f64) {
    println!(
        "{what:<34} {:7.2} MPix/s per CPU-s  ({:6.2} MPix/s wall; {cpu:6.2} CPU-s, {wall:6.2} s wall)",
        mpix / cpu,
        mpix / wall
    );
}

/// Run `gdal_translate` under bash's `time`, returning (user + sys seconds, wall seconds).
fn gdal_cog(input: &Path, output: &Path) -> Option<(f64, f64)> {
    let cmd = format!(
        "TIMEFORMAT='%U %S'; time gdal_translate -q -of COG -co COMPRESS=DEFLATE -co NUM_THREADS=1 '{}' '{}'",
        input.display(),
        output.display()
    );
    let t = Instant::now();
    let out = Command::new("bash").args(["-c", &cmd]).env("GDAL_NUM_THREADS", "1").output().ok()?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("gdal_translate failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let v: Vec<f64> = err.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    (v.len() >= 2).then(|| (v[v.len() - 2] + v[v.len() - 1], wall))
}

/// Write `bytes` as a raw ENVI file GDAL can read (band-sequential).
fn envi(path: &Path, bytes: &[u8], w: usize, h: usize, bands: usize, dtype_code: u32) {
    std::fs::write(path, bytes).unwrap();
    let hdr = format!(
        "ENVI\nsamples = {w}\nlines = {h}\nbands = {bands}\nheader offset = 0\nfile type = ENVI Standard\ndata type = {dtype_code}\ninterleave = bsq\nbyte order = 0\n"
    );
    std::fs::write(path.with_extension("hdr"), hdr).unwrap();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let size: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2048);
    let seeds: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    println!("synthetic scenes {size}x{size} at 0.6 m, {seeds} seed(s), one thread");
    let mpix_scene = (size * size) as f64 / 1e6;

    // 1. Rendering only.
    for nir in [false, true] {
        let (mut cpu, mut wall) = (0.0, 0.0);
        for seed in 0..seeds {
            let cfg = SynthConfig { width: size, height: size, seed, nir, ..Default::default() };
            let g = SceneGenerator::new(&cfg)?;
            let t = Timer::start();
            for w in g.windows(&StreamOptions::default()) {
                std::hint::black_box(g.render(w)?);
            }
            let (c, wl) = t.stop();
            cpu += c;
            wall += wl;
        }
        let mpix = mpix_scene * seeds as f64;
        let what = if nir { "render RGB+NIR + labels" } else { "render RGB + labels" };
        line(what, mpix, cpu, wall);
        println!("{:<34} {:7.2}x the {TARGET} MPix/s target", "", mpix / cpu / TARGET);
    }

    // 2. The synth-scene job on one thread, and 3. GDAL writing the same pixels.
    let dir = tempfile::tempdir()?;
    let cfg = SynthConfig { width: size, height: size, seed: 0, ..Default::default() };
    let g = SceneGenerator::new(&cfg)?;
    let opts = TiffWriteOptions { threads: 1, ..TiffWriteOptions::cog() };
    let paths = ["s.tif", "s.chm.tif", "s.landcover.tif"].map(|n| dir.path().join(n));
    let t = Timer::start();
    let mut img = GeoTiffWriter::create(&paths[0], &g.image_meta(), &opts)?;
    let mut chm = GeoTiffWriter::create(&paths[1], &g.chm_meta(), &opts)?;
    let mut lc = GeoTiffWriter::create(&paths[2], &g.landcover_meta(), &opts)?;
    g.write(&mut img, &mut chm, &mut lc, &StreamOptions::default(), &mut |_| {})?;
    img.finish()?;
    chm.finish()?;
    lc.finish()?;
    let (job_cpu, job_wall) = t.stop();
    line("synth-scene job (render + 3 COGs)", mpix_scene, job_cpu, job_wall);

    // The same pixels as raw files for GDAL.
    let tile = g.render(Window::full(size, size))?;
    let raw: Vec<(std::path::PathBuf, Vec<u8>, usize, u32)> = vec![
        (dir.path().join("img.bin"), tile.image.iter().copied().collect(), 3, 1),
        (dir.path().join("chm.bin"), tile.chm.iter().flat_map(|v| v.to_le_bytes()).collect(), 1, 4),
        (dir.path().join("lc.bin"), tile.landcover.iter().copied().collect(), 1, 1),
    ];
    let (mut g_cpu, mut g_wall) = (0.0, 0.0);
    let mut ok = true;
    for (p, bytes, bands, code) in &raw {
        envi(p, bytes, size, size, *bands, *code);
        match gdal_cog(p, &p.with_extension("tif")) {
            Some((c, w)) => {
                g_cpu += c;
                g_wall += w;
            }
            None => ok = false,
        }
    }
    if ok {
        line("GDAL COG write of the same pixels", mpix_scene, g_cpu, g_wall);
        println!(
            "synth-scene job / GDAL write only:  {:.2}x the time (CPU), {:.2}x (wall)",
            job_cpu / g_cpu,
            job_wall / g_wall
        );
    } else {
        println!("GDAL baseline skipped (gdal_translate not available)");
    }
    Ok(())
}
