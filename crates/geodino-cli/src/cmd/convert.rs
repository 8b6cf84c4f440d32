//! `geodino convert`: copy a raster into another format (GeoTIFF/COG ↔ Zarr), optionally a
//! subset of bands and a window, streamed block by block in bounded memory, written atomically.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use geodino_core::{Compression, RasterMeta, Window};
use geodino_raster::CreateOptions;

use crate::cmd::info::{open_raster, progress_bar};

/// Arguments of `geodino convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input raster (GeoTIFF/COG, Zarr store, or anything GDAL opens with the `gdal` feature).
    pub input: PathBuf,
    /// Output: `*.tif`/`*.tiff` (tiled GeoTIFF, or COG with --cog) or `*.zarr` (Zarr v3 sharded,
    /// or v2 with --zarr-v2).
    pub output: PathBuf,
    /// Write a Cloud-Optimized GeoTIFF (internal overviews).
    #[arg(long)]
    pub cog: bool,
    /// Compression: zstd, deflate, lzw (GeoTIFF only) or none.
    #[arg(long, value_name = "CODEC")]
    pub compress: Option<String>,
    /// 1-based bands to keep, in order, e.g. `3,2,1`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub bands: Option<Vec<usize>>,
    /// Pixel window `x,y,width,height` to copy.
    #[arg(long, value_name = "X,Y,W,H")]
    pub window: Option<String>,
    /// Write Zarr v2 in GDAL's layout (readable by GDAL 3.6) instead of v3.
    #[arg(long)]
    pub zarr_v2: bool,
    /// Block edge (GeoTIFF tile, Zarr chunk) in pixels.
    #[arg(long, value_name = "PIXELS")]
    pub block: Option<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// The array to read from a Zarr store holding several.
    #[arg(long, value_name = "NAME")]
    pub variable: Option<String>,
}

fn parse_window(s: &str) -> anyhow::Result<Window> {
    let v: Vec<i64> = s
        .split(',')
        .map(|t| t.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--window {s:?}: expected four integers x,y,width,height"))?;
    match v.as_slice() {
        [x, y, w, h] if *w > 0 && *h > 0 => Ok(Window::new(*x, *y, *w as usize, *h as usize)),
        _ => bail!("--window {s:?}: expected x,y,width,height with positive width and height"),
    }
}

fn parse_compress(s: &str) -> anyhow::Result<Compression> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "zstd" => Compression::Zstd,
        "deflate" => Compression::Deflate,
        "lzw" => Compression::Lzw,
        "none" => Compression::None,
        other => bail!("--compress {other:?}: expected zstd, deflate, lzw or none"),
    })
}

/// Run `geodino convert`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let src = open_raster(&args.input, args.variable.clone(), false)?;
    let m = src.meta();
    let bands: Vec<usize> = match &args.bands {
        None => (0..m.band_count()).collect(),
        Some(list) => {
            if let Some(b) = list.iter().find(|&&b| b == 0 || b > m.band_count()) {
                bail!(
                    "{}: --bands {b}: the raster has bands 1 to {}",
                    args.input.display(),
                    m.band_count()
                );
            }
            list.iter().map(|b| b - 1).collect()
        }
    };
    let window = match &args.window {
        None => Window::full(m.width, m.height),
        Some(s) => {
            let w = parse_window(s)?;
            if !w.is_inside(m.width, m.height) {
                bail!(
                    "{}: --window {w} is not inside the {}x{} raster",
                    args.input.display(),
                    m.width,
                    m.height
                );
            }
            w
        }
    };
    let compress = args.compress.as_deref().map(parse_compress).transpose()?;
    let mut out_meta = RasterMeta {
        width: window.width,
        height: window.height,
        bands: bands.iter().map(|&b| m.bands[b].clone()).collect(),
        geotransform: m.geotransform.map(|g| g.for_window(&window)),
        overviews: Vec::new(),
        has_mask: false,
        ..m.clone()
    };
    out_meta.metadata.retain(|k, _| !k.starts_with("ZARR_") && k != "GDAL_DRIVER");
    let opts = CreateOptions {
        cog: args.cog,
        compress,
        zarr_v2: args.zarr_v2,
        block: args.block,
        overwrite: args.overwrite,
    };
    let mut dst = geodino_raster::create(&args.output, &out_meta, &opts)?;
    // Output-aligned windows of 4 x 4 blocks (whole output tiles and Zarr shards).
    let step = args.block.unwrap_or(256) * 4;
    let n = window.width.div_ceil(step) * window.height.div_ceil(step);
    let bar = progress_bar(n as u64, "convert");
    geodino_raster::copy_into(src.as_ref(), &bands, window, dst.as_mut(), step, &|done, _| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("converting {} to {}", args.input.display(), args.output.display()))?;
    dst.finish().with_context(|| format!("{}: finishing", args.output.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} ({}x{}, {} band(s) of {})",
        args.output.display(),
        window.width,
        window.height,
        bands.len(),
        m.dtype
    );
    Ok(())
}
