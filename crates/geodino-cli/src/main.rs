//! `geodino`: the toolkit's command-line front end. One subcommand per job; `geodino <cmd> --help`
//! documents each. The analyst's main job also has its own binary, `canopy-height`.

use clap::{Parser, Subcommand};

mod cmd;

/// DINOv3 for satellite and aerial rasters.
#[derive(Debug, Parser)]
#[command(name = "geodino", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // ---- raster IO (issue 3) ----
    /// Print what geodino knows about a raster (like gdalinfo / rio info).
    Info(cmd::info::Args),
    /// Copy a raster into another format (GeoTIFF/COG <-> Zarr), streamed by blocks.
    Convert(cmd::convert::Args),
    // ---- backbones (issue 4) ----

    // ---- heads and whole-scene inference (issue 5) ----

    // ---- pretraining (issue 6) ----
    /// DINOv3 self-supervised pretraining (with Gram anchoring) on a raster archive.
    #[cfg(feature = "torch")]
    Pretrain(cmd::pretrain::Args),
    /// Export a pretraining run's backbone in the official DINOv3 layout (.safetensors or .pth).
    #[cfg(feature = "torch")]
    ExportBackbone(cmd::export_backbone::Args),
    // ---- head training, evaluation, synthetic scenes (issue 7) ----
    /// Generate a synthetic aerial scene with aligned canopy-height and land-cover labels.
    SynthScene(cmd::synth_scene::Args),
    /// Compare a prediction raster with labels: canopy-height or land-cover metrics.
    Eval(cmd::eval::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // ---- raster IO (issue 3) ----
        Command::Info(a) => cmd::info::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        // ---- backbones (issue 4) ----

        // ---- heads and whole-scene inference (issue 5) ----

        // ---- pretraining (issue 6) ----
        #[cfg(feature = "torch")]
        Command::Pretrain(a) => cmd::pretrain::run(a),
        #[cfg(feature = "torch")]
        Command::ExportBackbone(a) => cmd::export_backbone::run(a),
        // ---- head training, evaluation, synthetic scenes (issue 7) ----
        Command::SynthScene(a) => cmd::synth_scene::run(a),
        Command::Eval(a) => cmd::eval::run(a),
    }
}
