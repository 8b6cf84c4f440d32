//! `canopy-height IN OUT`: canopy height in metres over a whole scene, as a Cloud-Optimized
//! GeoTIFF with the input's CRS and transform. A DINOv3 backbone and a canopy-height head
//! (the released CHMv2 head, or one trained with `geodino train-head`); without `--weights` and
//! `--head`, the demo model bundled in `data-samples/`. See docs/inference.md.

use std::path::PathBuf;

use clap::Parser;
use geodino_heads::Task;

#[path = "../cmd/scene_args.rs"]
mod scene_args;

/// Canopy height (m) over a whole GeoTIFF / COG / Zarr scene, streamed in bounded memory.
#[derive(Debug, Parser)]
#[command(name = "canopy-height", version, about, long_about = None)]
struct Args {
    /// Input raster (GeoTIFF/COG, Zarr; RGB, 8-bit unless --sensor/--scale says otherwise).
    input: PathBuf,
    /// Output raster: `*.tif` (Cloud-Optimized GeoTIFF with overviews) or `*.zarr`.
    output: PathBuf,
    /// DINOv3 backbone weights (.pth or .safetensors), e.g. the SAT-493M ViT-L/16.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Canopy-height head (.pth, e.g. the CHMv2 DPT head, or a geodino head file).
    #[arg(long, value_name = "FILE")]
    head: Option<PathBuf>,
    /// Output data type: float32 (metres) or uint16 (decimetres, scale 0.1).
    #[arg(long, default_value = "float32")]
    dtype: String,
    /// Also write a colour-mapped PNG preview with a colour bar.
    #[arg(long, value_name = "PNG")]
    preview: Option<PathBuf>,
    #[command(flatten)]
    scene: scene_args::SceneArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dtype: geodino_infer::HeightDtype = args.dtype.parse()?;
    let (weights, head) = scene_args::resolve_model(
        args.weights.as_deref(),
        args.head.as_deref(),
        scene_args::DEMO_CANOPY_HEAD,
    )?;
    scene_args::run_head_job(
        &args.input,
        &args.output,
        &weights,
        &head,
        Task::CanopyHeight,
        dtype,
        args.preview.clone(),
        &args.scene,
    )?;
    Ok(())
}
