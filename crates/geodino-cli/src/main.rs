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
    /// Run a DINOv3 backbone on normalised images from a safetensors file; write every output.
    #[cfg(feature = "torch")]
    BackboneRun(cmd::backbone_run::Args),
    /// Convert a DINOv3 checkpoint (.pth, training, HF) to geodino safetensors [bf16/f16].
    #[cfg(feature = "torch")]
    ConvertWeights(cmd::convert_weights::Args),
    /// Dense DINOv3 patch features over a whole raster (1/16 resolution, georeferenced).
    #[cfg(feature = "torch")]
    Embed(cmd::embed::Args),
    /// The first three principal components of a feature raster as an RGB picture.
    #[cfg(feature = "torch")]
    Pca(cmd::pca::Args),
    // ---- heads and whole-scene inference (issue 5) ----
    /// Run a backbone and a dense head on the images of a safetensors file (verification).
    #[cfg(feature = "torch")]
    HeadRun(cmd::head_run::Args),
    /// Land-cover classes over a whole scene (uint8 COG with colour table and class names).
    #[cfg(feature = "torch")]
    Landcover(cmd::landcover::Args),
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
    /// Train a canopy-height or land-cover head on a frozen backbone (cached features).
    #[cfg(feature = "torch")]
    TrainHead(cmd::train_head::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // ---- raster IO (issue 3) ----
        Command::Info(a) => cmd::info::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        // ---- backbones (issue 4) ----
        #[cfg(feature = "torch")]
        Command::BackboneRun(a) => cmd::backbone_run::run(a),
        #[cfg(feature = "torch")]
        Command::ConvertWeights(a) => cmd::convert_weights::run(a),
        #[cfg(feature = "torch")]
        Command::Embed(a) => cmd::embed::run(a),
        #[cfg(feature = "torch")]
        Command::Pca(a) => cmd::pca::run(a),
        // ---- heads and whole-scene inference (issue 5) ----
        #[cfg(feature = "torch")]
        Command::HeadRun(a) => cmd::head_run::run(a),
        #[cfg(feature = "torch")]
        Command::Landcover(a) => cmd::landcover::run(a),
        // ---- pretraining (issue 6) ----
        #[cfg(feature = "torch")]
        Command::Pretrain(a) => cmd::pretrain::run(a),
        #[cfg(feature = "torch")]
        Command::ExportBackbone(a) => cmd::export_backbone::run(a),
        // ---- head training, evaluation, synthetic scenes (issue 7) ----
        Command::SynthScene(a) => cmd::synth_scene::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        #[cfg(feature = "torch")]
        Command::TrainHead(a) => cmd::train_head::run(a),
    }
}
