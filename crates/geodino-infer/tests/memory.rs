//! Bounded memory: streaming a scene 8 times wider (in half the height), or 4 times taller, through
//! the engine into a real COG raises the peak resident memory by (almost) nothing. Each scene runs in a fresh child
//! process (this test binary run again with `GEODINO_MEMORY_CHILD` set), so its peak is not
//! masked by memory the allocator kept from an earlier run. (`benches/scene.rs` measures the
//! same at 4 000² and 16 000².)

mod common;

use std::path::{Path, PathBuf};

use geodino_core::{DataType, RasterBuffer, RasterMeta, RasterRead, Window};
use geodino_infer::TileModel;
use geodino_infer::engine::{self, EngineOptions};
use geodino_infer::input::{InputSpec, Scaling};
use geodino_infer::memory::peak_rss_bytes;
use geodino_infer::output::{HeightDtype, Product, RasterSink, SinkOptions};
use ndarray::Array3;
use tch::{Kind, Tensor};

/// A procedural RGB scene of any size (nothing on disk, nothing held in memory).
#[derive(Debug)]
struct Procedural {
    path: PathBuf,
    meta: RasterMeta,
}

impl RasterRead for Procedural {
    fn path(&self) -> &Path {
        &self.path
    }
    fn meta(&self) -> &RasterMeta {
        &self.meta
    }
    fn read_window(&self, bands: &[usize], w: Window) -> geodino_core::Result<RasterBuffer> {
        self.check_request(bands, &w)?;
        Ok(RasterBuffer::Uint8(Array3::from_shape_fn(
            (bands.len(), w.height, w.width),
            |(b, y, x)| {
                let (x, y) = (x as i64 + w.col_off, y as i64 + w.row_off);
                ((x * 3 + y * 5 + b as i64 * 40) % 251) as u8
            },
        )))
    }
}

/// A cheap per-pixel model (mean of the channels).
struct MeanModel;

impl TileModel for MeanModel {
    fn in_channels(&self) -> usize {
        3
    }
    fn out_channels(&self) -> usize {
        1
    }
    fn stride(&self) -> usize {
        1
    }
    fn patch_size(&self) -> usize {
        16
    }
    fn forward(&self, x: &Tensor) -> geodino_infer::Result<Tensor> {
        Ok(x.mean_dim(1, true, Kind::Float).abs().contiguous())
    }
}

/// What a child process measured.
#[derive(Debug)]
struct Run {
    peak: u64,
    band_bytes: u64,
    strips: u64,
    carry_peak_bytes: u64,
}

fn run(width: usize, height: usize, dir: &Path) -> Run {
    let mut meta = common::scene_meta(width, height, 3, DataType::Uint8, 0.6);
    meta.block = geodino_core::BlockSize::new(256, 256);
    let reader = Procedural { path: format!("procedural-{width}x{height}").into(), meta };
    let spec =
        InputSpec::new(&reader, vec![0, 1, 2], Scaling::divide(255.0), vec![0.4; 3], vec![0.2; 3])
            .unwrap();
    let out = dir.join(format!("out-{width}x{height}.tif"));
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    let mut sink =
        RasterSink::create(&out, product, reader.meta(), 1, &SinkOptions::default()).unwrap();
    // column strips of 1024 pixels (2 COG tiles of 512)
    let opts =
        EngineOptions { tile: 256, overlap: 64, batch: 4, strip: 1024, ..EngineOptions::default() };
    let stats = engine::run(&reader, &spec, &MeanModel, &opts, &mut sink, &|_| {}).unwrap();
    sink.finish().unwrap();
    assert!(out.is_file());
    std::fs::remove_file(&out).unwrap();
    Run {
        peak: peak_rss_bytes().unwrap(),
        band_bytes: stats.band_bytes as u64,
        strips: stats.strips as u64,
        carry_peak_bytes: stats.carry_peak_bytes,
    }
}

const CHILD: &str = "GEODINO_MEMORY_CHILD";

/// Entry point of the child processes (does nothing unless `GEODINO_MEMORY_CHILD` is set):
/// one run, the measurements printed on a line starting with `MEMORY`.
#[test]
fn child_process_entry() {
    let Ok(job) = std::env::var(CHILD) else { return };
    let mut it = job.splitn(3, ',');
    let mut next = || it.next().unwrap().to_string();
    let (w, h, dir) = (next().parse().unwrap(), next().parse().unwrap(), PathBuf::from(next()));
    let r = run(w, h, &dir);
    println!("MEMORY {} {} {} {}", r.peak, r.band_bytes, r.strips, r.carry_peak_bytes);
}

/// Run `width` × `height` in a fresh process.
fn run_child(width: usize, height: usize, dir: &Path) -> Run {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_process_entry", "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, format!("{width},{height},{}", dir.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let line =
        text.lines().find_map(|l| l.split_once("MEMORY ").map(|x| x.1)).expect("a MEMORY line");
    let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    Run { peak: v[0], band_bytes: v[1], strips: v[2], carry_peak_bytes: v[3] }
}

#[test]
fn peak_memory_grows_with_neither_the_width_nor_the_height() {
    let dir = geodino_testutil::tempdir();
    let base = run_child(2048, 2048, dir.path());
    let wide = run_child(16384, 1024, dir.path());
    let tall = run_child(2048, 8192, dir.path());
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "peak RSS: 2048x2048 {:.1} MiB, 16384x1024 {:.1} MiB ({} strips, carry {:.1} MiB per \
         strip edge, in the scratch file), 2048x8192 {:.1} MiB (4x the pixels: 12 vs 48 MiB of \
         RGB, 16 vs 64 MiB of float32 output); row band {:.1} MiB",
        mib(base.peak),
        mib(wide.peak),
        wide.strips,
        mib(wide.carry_peak_bytes),
        mib(tall.peak),
        mib(wide.band_bytes),
    );
    assert_eq!((base.strips, wide.strips, tall.strips), (2, 16, 2));
    assert_eq!(base.band_bytes, wide.band_bytes);
    assert_eq!(base.band_bytes, tall.band_bytes);
    // Run to run, the same scene's peak varies by a few MiB and different scene shapes by up to
    // ~10 MiB (thread timing, allocator arenas; measured 170-196 MiB over shapes from 2048 x 1024
    // to 16384 x 1024 and 2048 x 16384). A band spanning the width would add ~60 MiB at 16384
    // wide (the row band 256 x 16384 x 9 B = 36 MiB, its finished rows and their conversion).
    for (what, r) in [("16384 x 1024", &wide), ("2048 x 8192", &tall)] {
        assert!(
            r.peak < base.peak + (12 << 20),
            "{what}: peak grew from {:.1} to {:.1} MiB",
            mib(base.peak),
            mib(r.peak)
        );
    }
}
