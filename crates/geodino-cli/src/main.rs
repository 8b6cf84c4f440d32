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
    /// Dense DINOv3 patch features over a whole raster (1/16 resolution, georeferenced).
    #[cfg(feature = "torch")]
    Embed(cmd::embed::Args),
    /// The first three principal components of a feature raster as an RGB picture.
    #[cfg(feature = "torch")]
    Pca(cmd::pca::Args),
    // ---- heads and whole-scene inference (issue 5) ----
    /// Land-cover classes over a whole scene (uint8 COG with colour table and class names).
    #[cfg(feature = "torch")]
    Landcover(cmd::landcover::Args),
    // ---- pretraining (issue 6) ----

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
        #[cfg(feature = "torch")]
        Command::Embed(a) => cmd::embed::run(a),
        #[cfg(feature = "torch")]
        Command::Pca(a) => cmd::pca::run(a),
        // ---- heads and whole-scene inference (issue 5) ----
        #[cfg(feature = "torch")]
        Command::Landcover(a) => cmd::landcover::run(a),
        // ---- pretraining (issue 6) ----

        // ---- head training, evaluation, synthetic scenes (issue 7) ----
        Command::SynthScene(a) => cmd::synth_scene::run(a),
        Command::Eval(a) => cmd::eval::run(a),
    }
}
