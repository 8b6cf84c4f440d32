//! Bounded memory: streaming a scene 8 times taller through the engine into a real COG raises
//! the peak resident memory by (almost) nothing. One test per binary, so no other test shares
//! the process's peak. (`benches/scene.rs` measures the same with a ViT at 4 000² and 16 000².)

mod common;

use std::path::{Path, PathBuf};

use geodino_core::{DataType, RasterBuffer, RasterMeta, RasterRead, Window};
use geodino_infer::TileModel;
use geodino_infer::engine::{self, EngineOptions};
use geodino_infer::input::{InputSpec, Scaling};
use geodino_infer::memory::{peak_rss_bytes, reset_peak_rss, rss_bytes};
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

fn run(width: usize, height: usize, dir: &Path) -> (u64, usize) {
    let mut meta = common::scene_meta(width, height, 3, DataType::Uint8, 0.6);
    meta.block = geodino_core::BlockSize::new(256, 256);
    let reader = Procedural { path: format!("procedural-{width}x{height}").into(), meta };
    let spec =
        InputSpec::new(&reader, vec![0, 1, 2], Scaling::divide(255.0), vec![0.4; 3], vec![0.2; 3])
            .unwrap();
    let out = dir.join(format!("out-{height}.tif"));
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    let mut sink =
        RasterSink::create(&out, product, reader.meta(), 1, &SinkOptions::default()).unwrap();
    let opts = EngineOptions { tile: 256, overlap: 64, batch: 4, ..EngineOptions::default() };
    assert!(reset_peak_rss(), "cannot reset the peak RSS (/proc/self/clear_refs)");
    let stats = engine::run(&reader, &spec, &MeanModel, &opts, &mut sink, &|_| {}).unwrap();
    sink.finish().unwrap();
    let peak = peak_rss_bytes().unwrap();
    assert!(out.is_file());
    (peak, stats.band_bytes)
}

#[test]
fn peak_memory_does_not_grow_with_the_scene() {
    let dir = geodino_testutil::tempdir();
    // warm up allocator pools and libtorch so both measurements start from the same state
    run(2048, 512, dir.path());
    let base = rss_bytes().unwrap();
    let (small, band_s) = run(2048, 1024, dir.path());
    let (large, band_l) = run(2048, 8192, dir.path());
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "peak RSS: 2048x1024 {:.1} MiB, 2048x8192 {:.1} MiB (8x the pixels: 24 vs 192 MiB of RGB, \
         32 vs 256 MiB of float32 output); resident before {:.1} MiB; row band {:.1} MiB",
        mib(small),
        mib(large),
        mib(base),
        band_l as f64 / (1 << 20) as f64
    );
    assert_eq!(band_s, band_l);
    // The output alone is 256 MiB at 2048 x 8192: holding it, or the input, would show.
    assert!(
        large < small + (24 << 20),
        "peak grew from {:.1} to {:.1} MiB",
        mib(small),
        mib(large)
    );
}
