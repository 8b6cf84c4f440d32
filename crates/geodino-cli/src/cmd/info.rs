//! `geodino info`: describe a raster. (The raster IO work extends this with every backend,
//! `--json` and `--stats`.)

use std::path::PathBuf;

/// Arguments of `geodino info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raster to describe.
    pub file: PathBuf,
}

/// Run `geodino info`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("{}: no raster backend is built in yet", args.file.display())
}
