//! Whole-scene jobs end to end: open the input, choose bands and scaling, optionally resample to
//! the model's ground sample distance, run the engine, finish the output atomically, draw the
//! preview. What `canopy-height`, `geodino landcover` and `geodino embed` run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{RasterMeta, SharedReader};
use serde::Serialize;

use crate::engine::{self, EngineOptions, Progress, RunStats};
use crate::input::{InputSpec, Scaling, default_bands};
use crate::model::{EmbedModel, HeadModel, TileModel};
use crate::output::{OutputStats, Preview, Product, RasterSink, SinkOptions};
use crate::resample::Resampled;
use crate::{Error, Result};

/// Options of a whole-scene job.
#[derive(Debug, Clone, Default)]
pub struct SceneOptions {
    /// Bands to feed the model, 0-based (default: see [`default_bands`]).
    pub bands: Option<Vec<usize>>,
    /// Digital numbers → `[0, 1]` (default: see [`Scaling::default_for`]).
    pub scaling: Option<Scaling>,
    /// Resample the input to square pixels of this size (map units, metres) first; the output
    /// is then on the resampled grid.
    pub target_gsd: Option<f64>,
    /// Tiling, batching, blending.
    pub engine: EngineOptions,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Write a PNG preview here (canopy height and land cover).
    pub preview: Option<PathBuf>,
    /// Title of the preview (default: the output's file name).
    pub title: Option<String>,
}

/// What a job did.
#[derive(Debug, Clone, Serialize)]
pub struct SceneReport {
    /// The input raster.
    pub input: PathBuf,
    /// The output raster.
    pub output: PathBuf,
    /// Input bands used, 1-based.
    pub bands: Vec<usize>,
    /// Scaling applied to digital numbers.
    pub scaling: (f32, f32),
    /// Input grid size the model saw (after resampling).
    pub grid_size: (usize, usize),
    /// Output size.
    pub output_size: (usize, usize),
    /// Ground sample distance the model saw (map units per pixel), if georeferenced.
    pub gsd: Option<f64>,
    /// Engine statistics.
    pub run: RunStats,
    /// Output statistics.
    pub stats: OutputStats,
}

/// The ground sample distance of a north-up raster (mean of the two axes), if georeferenced.
pub fn gsd(meta: &RasterMeta) -> Option<f64> {
    let g = meta.geotransform?;
    g.is_north_up().then(|| (g.0[1].abs() + g.0[5].abs()) / 2.0)
}

/// An opened input, with bands and scaling chosen and resampling applied.
pub struct PreparedInput {
    /// The reader the engine streams (the resampled view with `--target-gsd`).
    pub reader: SharedReader,
    /// Bands, scaling, normalisation, nodata.
    pub spec: InputSpec,
}

impl std::fmt::Debug for PreparedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedInput")
            .field("reader", &self.reader.path())
            .field("spec", &self.spec)
            .finish()
    }
}

/// Open `path` for a model of `channels` bands normalised with `mean` / `std`; `byte_scale` is
/// the model's divisor for 8-bit inputs.
///
/// # Errors
/// Unreadable inputs, wrong band counts, integer inputs without a scaling, a `target_gsd` on a
/// raster that cannot be resampled; every message names the file.
pub fn prepare_input(
    path: &Path,
    channels: usize,
    mean: &[f32],
    std: &[f32],
    byte_scale: f32,
    opts: &SceneOptions,
) -> Result<PreparedInput> {
    let src = geodino_raster::open(path)?;
    let bands = match &opts.bands {
        Some(b) => {
            if b.len() != channels {
                return Err(Error::input(
                    path,
                    format!("--bands names {} band(s); the model takes {channels}", b.len()),
                ));
            }
            b.clone()
        }
        None => default_bands(src.as_ref(), channels)?,
    };
    let scaling = match opts.scaling {
        Some(s) => s,
        None => Scaling::default_for(src.meta().dtype, byte_scale, path)?,
    };
    let reader: SharedReader = match opts.target_gsd {
        Some(g) => Arc::new(Resampled::new(src, g)?),
        None => src,
    };
    let spec = InputSpec::new(reader.as_ref(), bands, scaling, mean.to_vec(), std.to_vec())?;
    Ok(PreparedInput { reader, spec })
}

fn check_output_not_input(input: &Path, output: &Path) -> Result<()> {
    let same = match (input.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::Config(format!(
            "{}: the output would overwrite the input",
            output.display()
        )));
    }
    Ok(())
}

fn run_job(
    prepared: PreparedInput,
    input: &Path,
    output: &Path,
    model: &dyn TileModel,
    product: Product,
    opts: &SceneOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(SceneReport, Preview)> {
    check_output_not_input(input, output)?;
    if product.channels() != model.out_channels() {
        return Err(Error::Mismatch(format!(
            "the model produces {} channel(s), the output needs {}",
            model.out_channels(),
            product.channels()
        )));
    }
    let PreparedInput { reader, spec } = prepared;
    let grid = reader.meta().clone();
    let sink_opts = SinkOptions {
        overwrite: opts.overwrite,
        preview_side: if opts.preview.is_some() { 1024 } else { 0 },
    };
    let mut sink = RasterSink::create(output, product, &grid, model.stride(), &sink_opts)?;
    let output_size = (sink.meta().width, sink.meta().height);
    let run = engine::run(reader.as_ref(), &spec, model, &opts.engine, &mut sink, progress)?;
    let (stats, preview) = sink.finish()?;
    let report = SceneReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        bands: spec.bands.iter().map(|b| b + 1).collect(),
        scaling: (spec.scaling.offset, spec.scaling.scale),
        grid_size: (grid.width, grid.height),
        output_size,
        gsd: gsd(&grid),
        run,
        stats,
    };
    if let Some(p) = &opts.preview {
        let title = opts.title.clone().unwrap_or_else(|| {
            output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        });
        preview.save(p, &title)?;
    }
    Ok((report, preview))
}

/// Canopy height or land cover over the scene `input` with `model`, written to `output`.
/// `product` must match the head's task (see [`product_for`]).
///
/// # Errors
/// As [`prepare_input`], [`engine::run`] and [`RasterSink::create`]; nothing is left at
/// `output` on error.
pub fn predict_scene(
    input: &Path,
    output: &Path,
    model: &HeadModel,
    product: Product,
    opts: &SceneOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SceneReport> {
    let n = &model.spec().normalization;
    let prepared = prepare_input(input, model.in_channels(), &n.mean, &n.std, n.scale, opts)?;
    Ok(run_job(prepared, input, output, model, product, opts, progress)?.0)
}

/// The product a head's task writes: canopy heights in `dtype` or land cover with the head's
/// classes.
pub fn product_for(model: &HeadModel, dtype: crate::HeightDtype) -> Product {
    match model.spec().task {
        geodino_heads::Task::CanopyHeight => Product::CanopyHeight { dtype },
        geodino_heads::Task::LandCover => {
            Product::LandCover { classes: model.spec().classes.clone() }
        }
    }
}

/// Dense patch features of the scene `input`, normalised with `mean` / `std` (after dividing
/// 8-bit inputs by `byte_scale`), written to `output` at `1 / patch` resolution.
///
/// # Errors
/// As [`predict_scene`].
pub fn embed_scene(
    input: &Path,
    output: &Path,
    model: &EmbedModel,
    mean: &[f32],
    std: &[f32],
    byte_scale: f32,
    opts: &SceneOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SceneReport> {
    let prepared = prepare_input(input, model.in_channels(), mean, std, byte_scale, opts)?;
    let product = Product::Features { channels: model.out_channels() };
    Ok(run_job(prepared, input, output, model, product, opts, progress)?.0)
}
