//! `geodino landcover IN OUT --weights W --head H`: land-cover classes over a whole scene, as a
//! uint8 Cloud-Optimized GeoTIFF with the head's colour table and class names (mode
//! overviews). Class probabilities are blended across tile overlaps, then the most probable
//! class is written. See docs/inference.md.

use std::path::PathBuf;

use geodino_heads::Task;

use super::scene_args::{self, SceneArgs};

/// Arguments of `geodino landcover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input raster (GeoTIFF/COG, Zarr).
    pub input: PathBuf,
    /// Output raster: `*.tif` (Cloud-Optimized GeoTIFF) or `*.zarr`.
    pub output: PathBuf,
    /// DINOv3 backbone weights (.pth or .safetensors); default: the bundled demo model.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Land-cover head (a geodino head file with classes and colours, or a .pth).
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Also write a PNG preview with the class legend.
    #[arg(long, value_name = "PNG")]
    pub preview: Option<PathBuf>,
    #[command(flatten)]
    pub scene: SceneArgs,
}

/// Run `geodino landcover`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (weights, head) = scene_args::resolve_model(
        args.weights.as_deref(),
        args.head.as_deref(),
        scene_args::DEMO_LANDCOVER_HEAD,
    )?;
    scene_args::run_head_job(
        &args.input,
        &args.output,
        &weights,
        &head,
        Task::LandCover,
        geodino_infer::HeightDtype::Float32,
        args.preview.clone(),
        &args.scene,
    )?;
    Ok(())
}
