//! The streaming pipeline: read → prepare → forward → blend → write, one thread per stage.
//!
//! ```text
//!  prepare thread          calling thread            writer thread
//!  ─────────────           ──────────────            ─────────────
//!  for each batch of       for each batch:           for each tile (grid order):
//!  tile windows:            stack (b, c, t, t)         add w·p, w to the row band
//!   read + scale +   ──►    model.forward      ──►   when a tile row is complete:
//!   normalise (rayon,      (libtorch threads,          divide, convert, write rows,
//!   one tile per task)     CPU or GPU)                 feed the preview thumbnail
//!        bounded channel (depth 2)   bounded channel (depth 2)
//! ```
//!
//! The channels are bounded, so no stage runs ahead by more than two batches: memory is set by
//! the tile size, the batch size and the scene **width** (the row band), never by the scene
//! height or area. The first error of any stage stops the others; the caller then drops the
//! sink without finishing it, so nothing is left at the destination.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use geodino_core::RasterRead;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::accumulate::RowBand;
use crate::input::{InputSpec, TileInput, prepare_tile};
use crate::model::TileModel;
use crate::output::StripSink;
use crate::plan::TilePlan;
use crate::{Blend, Error, Result};

/// Tiling, batching and blending options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineOptions {
    /// Tile edge in input pixels (a multiple of the patch size). Default 512.
    pub tile: usize,
    /// Overlap of neighbouring tiles in input pixels. Default 128.
    pub overlap: usize,
    /// Tiles per forward pass. Default 4.
    pub batch: usize,
    /// Blending window. Default cosine.
    pub blend: Blend,
    /// Batches prepared ahead of the model (channel depth). Default 2.
    pub prefetch: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { tile: 512, overlap: 128, batch: 4, blend: Blend::Cosine, prefetch: 2 }
    }
}

/// Progress of a run, reported after every tile written into the band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Tiles blended so far.
    pub tiles_done: usize,
    /// Tiles in the plan.
    pub tiles_total: usize,
    /// Output rows written so far.
    pub rows_written: usize,
    /// Output rows in all.
    pub rows_total: usize,
}

/// What a run did and where its time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// Tiles run through the model.
    pub tiles: usize,
    /// Forward passes.
    pub batches: usize,
    /// Input pixels of the scene.
    pub scene_pixels: u64,
    /// Wall-clock seconds of the whole run.
    pub wall_s: f64,
    /// Seconds spent in the model's forward passes.
    pub forward_s: f64,
    /// Seconds the model waited for prepared input (zero when reading keeps up).
    pub wait_input_s: f64,
    /// Seconds the model waited for the writer (zero when writing keeps up).
    pub wait_output_s: f64,
    /// Bytes of the row band (weighted sums, weights, validity).
    pub band_bytes: usize,
}

impl RunStats {
    /// Throughput in input megapixels per second.
    pub fn mpix_per_s(&self) -> f64 {
        self.scene_pixels as f64 / 1e6 / self.wall_s.max(1e-9)
    }
}

struct Batch {
    first: usize,
    tiles: Vec<TileInput>,
}

struct Predicted {
    first: usize,
    /// `(b, k, to, to)` f32.
    values: Vec<f32>,
    valid: Vec<Option<Vec<u8>>>,
}

/// Run `model` over the scene of `reader` and hand the blended output to `sink` row strip by
/// row strip, in order. The caller finishes the sink only when this returns `Ok`.
///
/// # Errors
/// Options that do not fit the model or the scene, read errors (naming the file), model
/// errors, write errors. The first error of any stage is returned.
pub fn run(
    reader: &dyn RasterRead,
    input: &InputSpec,
    model: &dyn TileModel,
    opts: &EngineOptions,
    sink: &mut dyn StripSink,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunStats> {
    let start = Instant::now();
    let meta = reader.meta();
    if input.channels() != model.in_channels() {
        return Err(Error::input(
            reader.path(),
            format!(
                "{} band(s) selected; the model takes {}",
                input.channels(),
                model.in_channels()
            ),
        ));
    }
    let p = model.patch_size();
    if !opts.tile.is_multiple_of(p) {
        return Err(Error::Config(format!(
            "--tile {} must be a multiple of the patch size {p}",
            opts.tile
        )));
    }
    if opts.batch == 0 {
        return Err(Error::Config("--batch must be at least 1".into()));
    }
    let plan = TilePlan::new(
        meta.width,
        meta.height,
        opts.tile,
        opts.overlap,
        model.stride(),
        opts.blend,
    )?;
    let k = model.out_channels();
    let to = plan.out_tile();
    let mut band = RowBand::new(plan.out_width, plan.out_height, k, to);
    let mut stats = RunStats {
        tiles: plan.len(),
        scene_pixels: (meta.width * meta.height) as u64,
        band_bytes: band.bytes(),
        ..RunStats::default()
    };
    let (in_tx, in_rx) = sync_channel::<Result<Batch>>(opts.prefetch.max(1));
    let (out_tx, out_rx) = sync_channel::<Predicted>(opts.prefetch.max(1));

    let outcome = std::thread::scope(|s| {
        let plan = &plan;
        let prep = s.spawn(move || prepare_batches(reader, input, plan, opts.batch, in_tx));
        let band = &mut band;
        let writer = s.spawn(move || blend_and_write(plan, band, k, out_rx, sink, progress));
        let fwd = forward_batches(model, plan, input.channels(), in_rx, out_tx);
        let prep_res =
            prep.join().map_err(|_| Error::Pipeline("the prepare thread panicked".into()));
        let write_res =
            writer.join().map_err(|_| Error::Pipeline("the writer thread panicked".into()));
        (fwd, prep_res, write_res)
    });
    let (fwd, prep_res, write_res) = outcome;
    prep_res?;
    // Report the root cause: a writer failure makes the forward stage stop with a pipeline
    // error, a forward (or prepare) failure makes the writer see the run end early.
    let f = match (fwd, write_res.and_then(|r| r)) {
        (Ok(f), Ok(())) => f,
        (Err(Error::Pipeline(_)), Err(e)) => return Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    };
    stats.batches = f.batches;
    stats.forward_s = f.forward.as_secs_f64();
    stats.wait_input_s = f.wait_input.as_secs_f64();
    stats.wait_output_s = f.wait_output.as_secs_f64();
    stats.wall_s = start.elapsed().as_secs_f64();
    Ok(stats)
}

fn prepare_batches(
    reader: &dyn RasterRead,
    input: &InputSpec,
    plan: &TilePlan,
    batch: usize,
    tx: SyncSender<Result<Batch>>,
) {
    let n = plan.len();
    let mut first = 0;
    while first < n {
        let last = (first + batch).min(n);
        let tiles: Result<Vec<TileInput>> = (first..last)
            .into_par_iter()
            .map(|i| prepare_tile(reader, input, plan.input_window(i), plan.stride))
            .collect();
        let failed = tiles.is_err();
        if tx.send(tiles.map(|tiles| Batch { first, tiles })).is_err() || failed {
            return; // the forward stage stopped, or we reported an error
        }
        first = last;
    }
}

struct ForwardTimes {
    batches: usize,
    forward: Duration,
    wait_input: Duration,
    wait_output: Duration,
}

fn forward_batches(
    model: &dyn TileModel,
    plan: &TilePlan,
    c: usize,
    rx: Receiver<Result<Batch>>,
    tx: SyncSender<Predicted>,
) -> Result<ForwardTimes> {
    let t = plan.tile as i64;
    let to = plan.out_tile() as i64;
    let k = model.out_channels() as i64;
    let mut times = ForwardTimes {
        batches: 0,
        forward: Duration::ZERO,
        wait_input: Duration::ZERO,
        wait_output: Duration::ZERO,
    };
    loop {
        let w0 = Instant::now();
        let Ok(batch) = rx.recv() else { break };
        times.wait_input += w0.elapsed();
        let batch = batch?;
        let b = batch.tiles.len() as i64;
        let f0 = Instant::now();
        let mut data = Vec::with_capacity((b * c as i64 * t * t) as usize);
        let mut valid = Vec::with_capacity(batch.tiles.len());
        for tile in batch.tiles {
            data.extend_from_slice(&tile.data);
            valid.push(tile.valid);
        }
        let x = Tensor::from_slice(&data).view([b, c as i64, t, t]);
        drop(data);
        let y = model.forward(&x)?;
        if y.size() != [b, k, to, to] {
            return Err(Error::Pipeline(format!(
                "the model returned shape {:?}, expected {:?}",
                y.size(),
                [b, k, to, to]
            )));
        }
        let values = Vec::<f32>::try_from(&y.view([-1]))?;
        times.forward += f0.elapsed();
        times.batches += 1;
        let w1 = Instant::now();
        if tx.send(Predicted { first: batch.first, values, valid }).is_err() {
            return Err(Error::Pipeline("the writer stopped".into()));
        }
        times.wait_output += w1.elapsed();
    }
    Ok(times)
}

fn blend_and_write(
    plan: &TilePlan,
    band: &mut RowBand,
    k: usize,
    rx: Receiver<Predicted>,
    sink: &mut dyn StripSink,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<()> {
    let to = plan.out_tile();
    let per_tile = k * to * to;
    let n_cols = plan.grid.n_cols();
    let mut next = 0usize;
    let mut rows_written = 0usize;
    for p in rx {
        if p.first != next {
            return Err(Error::Pipeline(format!(
                "batch starting at tile {} out of order",
                p.first
            )));
        }
        for (j, valid) in p.valid.iter().enumerate() {
            let i = p.first + j;
            let w = plan.output_window(i);
            let (rw, cw) = plan.weights(i);
            let pred = &p.values[j * per_tile..(j + 1) * per_tile];
            band.add(w.row_off as usize, w.col_off as usize, rw, cw, pred, valid.as_deref())?;
            if (i + 1) % n_cols == 0 {
                let r = i / n_cols;
                if let Some(strip) = band.emit(plan.rows_final_after(r)) {
                    sink.write_strip(&strip)?;
                    rows_written = strip.row_off + strip.rows;
                }
            }
            progress(Progress {
                tiles_done: i + 1,
                tiles_total: plan.len(),
                rows_written,
                rows_total: plan.out_height,
            });
        }
        next = p.first + p.valid.len();
    }
    if next != plan.len() || rows_written != plan.out_height {
        return Err(Error::Pipeline(format!(
            "the run stopped after {next} of {} tiles",
            plan.len()
        )));
    }
    Ok(())
}
