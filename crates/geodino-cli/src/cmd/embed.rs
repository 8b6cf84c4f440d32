//! `geodino embed --weights W IN OUT`: dense DINOv3 patch features over a whole raster, one band
//! per feature, on the input's grid at 1/16 resolution (one feature pixel per 16 × 16 input
//! pixels, georeferenced). Windows overlap and are **blended** with the same window as the
//! heads (cosine by default), so features have no seams at window borders. See
//! docs/inference.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use geodino_heads::NormalizationSpec;
use geodino_infer::{EmbedModel, load_backbone};

use super::scene_args::{self, SceneArgs};

/// Arguments of `geodino embed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input raster (GeoTIFF/COG, Zarr).
    pub input: PathBuf,
    /// Output feature raster: `*.zarr` (Zarr v3) or `*.tif` (tiled GeoTIFF, one band per
    /// feature).
    pub output: PathBuf,
    /// DINOv3 backbone weights (.pth or .safetensors).
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Block whose features to write (0-based; default the last), through the final norm.
    #[arg(long, value_name = "N")]
    pub layer: Option<usize>,
    /// Skip the backbone's final norm.
    #[arg(long)]
    pub no_norm: bool,
    /// Input normalisation preset: sat493m (SAT-493M weights), lvd1689m (web weights), chmv2.
    #[arg(long, default_value = "sat493m")]
    pub normalization: String,
    #[command(flatten)]
    pub scene: SceneArgs,
}

/// Run `geodino embed`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mo = args.scene.model_options()?;
    let t0 = Instant::now();
    let backbone = load_backbone(&args.weights, &mo)?;
    let model = EmbedModel::new(Box::new(backbone), args.layer, !args.no_norm)?;
    let load_s = t0.elapsed().as_secs_f64();
    let norm = NormalizationSpec::preset(&args.normalization)?;
    let c = geodino_infer::TileModel::in_channels(&model);
    let (mean, std) = if norm.mean.len() == c {
        (norm.mean.clone(), norm.std.clone())
    } else {
        anyhow::bail!(
            "--normalization {} has {} bands; the backbone takes {c}",
            args.normalization,
            norm.mean.len()
        );
    };
    let opts = args.scene.scene_options(mo.device, None)?;
    let bar = scene_args::tile_bar(args.scene.quiet, "embed");
    let report = geodino_infer::embed_scene(
        &args.input,
        &args.output,
        &model,
        &mean,
        &std,
        norm.scale,
        &opts,
        &scene_args::on_progress(&bar),
    )
    .with_context(|| format!("{} → {}", args.input.display(), args.output.display()))?;
    bar.finish_and_clear();
    scene_args::print_summary(&report, load_s, &mo, &opts, None);
    eprintln!(
        "features: {} bands of block {} at 1/{} resolution",
        geodino_infer::TileModel::out_channels(&model),
        model.layer(),
        geodino_infer::TileModel::stride(&model)
    );
    if args.scene.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
