//! The streaming pipeline: read → prepare → forward → blend → write, one thread per stage.
//!
//! ```text
//!  prepare thread          calling thread            writer thread
//!  ─────────────           ──────────────            ─────────────
//!  for each batch of       for each batch:           for each column strip, each tile row:
//!  tile windows (strip      stack (b, c, t, t)         add the pieces carried from the left
//!  order):           ──►    model.forward      ──►     add w·p, w of the strip's tiles
//!   read + scale +         (libtorch threads,          carry what reaches past the strip
//!   normalise (rayon,       CPU or GPU)                rows complete: divide, convert,
//!   one tile per task)                                 write the strip's rows
//!        bounded channel (depth 2)   bounded channel (depth 2)
//! ```
//!
//! The scene is processed in **vertical column strips** ([`EngineOptions::strip`] input pixels
//! wide, rounded up to the output's block width so the writer completes its tiles inside a
//! strip), each strip top to bottom with a row band as wide as the strip. The tiles stay on the
//! one global grid of the [`TilePlan`] and each is predicted once, in the strip where its left
//! edge lies; the right part of a tile that reaches into the next strip is carried there through
//! a scratch file ([`crate::carry`]) and added before that strip's own tiles of the same row,
//! so every pixel sums its contributions in the same order as with one strip: the output is
//! bit-identical whatever the strip width.
//!
//! The channels are bounded, so no stage runs ahead by more than two batches: memory is set by
//! the tile size, the batch size and the strip width, never by the scene's width, height or
//! area. The first error of any stage stops the others; the caller then drops the sink without
//! finishing it, so nothing is left at the destination.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use geodino_core::RasterRead;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::accumulate::RowBand;
use crate::carry::{Carry, Piece};
use crate::input::{InputSpec, TileInput, prepare_tile};
use crate::model::TileModel;
use crate::output::StripSink;
use crate::plan::{ColumnStrip, TilePlan};
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
    /// Width of the column strips in input pixels, rounded up to a multiple of the output's
    /// block width ([`StripSink::column_align`]); 0 = one strip over the whole width. Memory
    /// grows with this, not with the scene. Default 2048. The output does not depend on it.
    pub strip: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            tile: 512,
            overlap: 128,
            batch: 4,
            blend: Blend::Cosine,
            prefetch: 2,
            strip: 2048,
        }
    }
}

impl EngineOptions {
    /// Output columns per strip for a model of output stride `stride` writing blocks `align`
    /// columns wide into an output `out_width` columns wide.
    pub fn strip_columns(&self, stride: usize, align: usize, out_width: usize) -> usize {
        if self.strip == 0 {
            return out_width;
        }
        let align = align.max(1);
        self.strip.div_ceil(stride.max(1)).div_ceil(align).max(1) * align
    }
}

/// Progress of a run, reported after every tile written into the band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Tiles blended so far.
    pub tiles_done: usize,
    /// Tiles in the plan.
    pub tiles_total: usize,
    /// Output pixels written so far.
    pub pixels_written: u64,
    /// Output pixels in all.
    pub pixels_total: u64,
    /// The column strip being processed (0-based).
    pub strip: usize,
    /// Column strips in all.
    pub strips: usize,
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
    /// Bytes of the row band (weighted sums, weights, validity) of the widest strip.
    pub band_bytes: usize,
    /// Column strips.
    pub strips: usize,
    /// Output columns per strip (the last one may be narrower).
    pub strip_columns: usize,
    /// Bytes carried between strips through the scratch file, in all.
    pub carry_bytes: u64,
    /// Largest carry across one strip boundary, in bytes.
    pub carry_peak_bytes: u64,
}

impl RunStats {
    /// Throughput in input megapixels per second.
    pub fn mpix_per_s(&self) -> f64 {
        self.scene_pixels as f64 / 1e6 / self.wall_s.max(1e-9)
    }
}

struct Batch {
    /// Position of the first tile in the run order.
    first: usize,
    tiles: Vec<TileInput>,
}

struct Predicted {
    /// Position of the first tile in the run order.
    first: usize,
    /// `(b, k, to, to)` f32.
    values: Vec<f32>,
    valid: Vec<Option<Vec<u8>>>,
}

/// Run `model` over the scene of `reader` and hand the blended output to `sink`: column strip by
/// column strip, each top to bottom in row bands. The caller finishes the sink only when this
/// returns `Ok`.
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
    let columns = opts.strip_columns(plan.stride, sink.column_align(), plan.out_width);
    let strips = plan.column_strips(columns);
    let widest = strips.iter().map(|s| s.width).max().unwrap_or(1);
    let scratch_dir = sink.scratch_dir().unwrap_or_else(std::env::temp_dir);
    let mut stats = RunStats {
        tiles: plan.len(),
        scene_pixels: (meta.width * meta.height) as u64,
        band_bytes: RowBand::bytes_for(widest, plan.out_height, k, to),
        strips: strips.len(),
        strip_columns: columns.min(plan.out_width),
        ..RunStats::default()
    };
    let mut carry = Carry::new(&scratch_dir, k);
    let (in_tx, in_rx) = sync_channel::<Result<Batch>>(opts.prefetch.max(1));
    let (out_tx, out_rx) = sync_channel::<Predicted>(opts.prefetch.max(1));

    let outcome = std::thread::scope(|s| {
        let plan = &plan;
        let strips = &strips;
        let prep = s.spawn(move || prepare_batches(reader, input, plan, strips, opts.batch, in_tx));
        let carry = &mut carry;
        let writer = s.spawn(move || {
            let mut w = StripWriter { plan, k, rx: out_rx, current: None, pos: 0, next: 0 };
            w.run(strips, carry, sink, progress)
        });
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
    stats.carry_bytes = carry.bytes_written;
    stats.carry_peak_bytes = carry.peak_boundary_bytes;
    stats.wall_s = start.elapsed().as_secs_f64();
    Ok(stats)
}

fn prepare_batches(
    reader: &dyn RasterRead,
    input: &InputSpec,
    plan: &TilePlan,
    strips: &[ColumnStrip],
    batch: usize,
    tx: SyncSender<Result<Batch>>,
) {
    let mut order = TilePlan::strip_order(strips, plan.grid.n_rows(), plan.grid.n_cols());
    let mut first = 0;
    loop {
        let ids: Vec<usize> = order.by_ref().take(batch).collect();
        if ids.is_empty() {
            return;
        }
        let tiles: Result<Vec<TileInput>> = ids
            .par_iter()
            .map(|&i| prepare_tile(reader, input, plan.input_window(i), plan.stride))
            .collect();
        let failed = tiles.is_err();
        if tx.send(tiles.map(|tiles| Batch { first, tiles })).is_err() || failed {
            return; // the forward stage stopped, or we reported an error
        }
        first += ids.len();
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

/// The writer stage: blends the predictions strip by strip and hands finished rows to the sink.
struct StripWriter<'a> {
    plan: &'a TilePlan,
    k: usize,
    rx: Receiver<Predicted>,
    current: Option<Predicted>,
    /// Next tile of `current`.
    pos: usize,
    /// Position in the run order of the next tile expected.
    next: usize,
}

impl StripWriter<'_> {
    /// Make the next tile's prediction current, returning its position in the batch.
    fn advance(&mut self) -> Result<usize> {
        if self.current.as_ref().is_none_or(|p| self.pos >= p.valid.len()) {
            let Ok(p) = self.rx.recv() else {
                return Err(Error::Pipeline(format!(
                    "the run stopped after {} of {} tiles",
                    self.next,
                    self.plan.len()
                )));
            };
            if p.first != self.next {
                return Err(Error::Pipeline(format!(
                    "batch starting at tile {} out of order (expected {})",
                    p.first, self.next
                )));
            }
            self.current = Some(p);
            self.pos = 0;
        }
        self.next += 1;
        self.pos += 1;
        Ok(self.pos - 1)
    }

    fn run(
        &mut self,
        strips: &[ColumnStrip],
        carry: &mut Carry,
        sink: &mut dyn StripSink,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<()> {
        let plan = self.plan;
        let (k, to) = (self.k, plan.out_tile());
        let per_tile = k * to * to;
        let n_cols = plan.grid.n_cols();
        let mut piece = Piece::default();
        let mut pixels_written = 0u64;
        let pixels_total = (plan.out_width * plan.out_height) as u64;
        for (si, strip) in strips.iter().enumerate() {
            let (b0, b1) = (strip.col_off, strip.col_end());
            let last = si + 1 == strips.len();
            carry.begin_strip(!last)?;
            let mut band = RowBand::new(strip.width, plan.out_height, k, to);
            let carried_in = plan.crossing(b0);
            for (r, &row_off) in plan.grid.rows.starts.iter().enumerate() {
                let rows = to.min(plan.out_height - row_off);
                // the right parts of tiles of earlier strips, left to right
                for c in carried_in.clone() {
                    carry.take((r, c), &mut piece)?;
                    if piece.rows != rows || b0 + piece.width != plan.col_span(c).end {
                        return Err(Error::Pipeline(format!(
                            "carried piece of tile ({r}, {c}) has {}x{} pixels",
                            piece.width, piece.rows
                        )));
                    }
                    let from = b0 - plan.grid.cols.starts[c];
                    let (rw, cw) = plan.weights(r * n_cols + c);
                    let cw = &cw[from..from + piece.width];
                    let valid = piece.valid.as_deref();
                    band.add(row_off, 0, &rw[..rows], cw, &piece.values, valid)?;
                    if piece.width > strip.width {
                        let dims = (piece.rows, piece.width);
                        let rest = piece.width - strip.width;
                        carry.put((r, c), rows, dims, &piece.values, valid, strip.width, rest)?;
                    }
                }
                // this strip's own tiles, left to right
                for c in strip.grid_cols.clone() {
                    let j = self.advance()?;
                    let p = self.current.as_ref().expect("advance made a batch current");
                    let pred = &p.values[j * per_tile..(j + 1) * per_tile];
                    let valid = p.valid[j].as_deref();
                    let i = r * n_cols + c;
                    let (rw, cw) = plan.weights(i);
                    let span = plan.col_span(c);
                    band.add(row_off, span.start - b0, rw, cw, pred, valid)?;
                    if span.end > b1 {
                        let from = b1 - span.start;
                        carry.put((r, c), rows, (to, to), pred, valid, from, span.end - b1)?;
                    }
                    progress(Progress {
                        tiles_done: self.next,
                        tiles_total: plan.len(),
                        pixels_written,
                        pixels_total,
                        strip: si,
                        strips: strips.len(),
                    });
                }
                if let Some(mut s) = band.emit(plan.rows_final_after(r)) {
                    s.col_off = b0;
                    sink.write_strip(&s)?;
                    pixels_written += (s.rows * s.width) as u64;
                }
            }
            if band.top() != plan.out_height {
                return Err(Error::Pipeline(format!(
                    "strip {si} ended at row {} of {}",
                    band.top(),
                    plan.out_height
                )));
            }
        }
        if self.next != plan.len() || pixels_written != pixels_total {
            return Err(Error::Pipeline(format!(
                "the run stopped after {} of {} tiles",
                self.next,
                plan.len()
            )));
        }
        progress(Progress {
            tiles_done: self.next,
            tiles_total: plan.len(),
            pixels_written,
            pixels_total,
            strip: strips.len().saturating_sub(1),
            strips: strips.len(),
        });
        Ok(())
    }
}
