//! `geodino pca FEATURES OUT.png|OUT.tif`: the first three principal components of a feature
//! raster (from `geodino embed`) as red, green and blue — the picture DINO users look at first.
//! Streamed: a covariance pass, a stretch pass (1st–99th percentiles), a projection pass. See
//! docs/inference.md.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use geodino_core::{NoData, RasterBuffer, RasterMeta, RasterWrite, Window};
use geodino_infer::pca::{Pca, PcaOptions};
use geodino_viz::preview::{self, MapStyle};

/// Arguments of `geodino pca`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Feature raster (one band per feature), e.g. from `geodino embed`.
    pub input: PathBuf,
    /// Output: `*.png` (picture with title and scale bar) or `*.tif` (georeferenced RGB COG).
    pub output: PathBuf,
    /// At most this many pixels enter the covariance (a regular subsample).
    #[arg(long, default_value_t = 4_000_000, value_name = "N")]
    pub max_samples: u64,
    /// Lower and upper percentiles of each component mapped to 0 and 255.
    #[arg(long, default_value = "1,99", value_name = "LO,HI")]
    pub percentiles: String,
    /// Title of the PNG (default: the input's file name).
    #[arg(long)]
    pub title: Option<String>,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
}

/// Run `geodino pca`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (lo, hi) = match args
        .percentiles
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .as_deref()
    {
        Some(&[a, b]) if (0.0..b).contains(&a) && b <= 100.0 => (a, b),
        _ => bail!("--percentiles {:?}: expected LO,HI with 0 <= LO < HI <= 100", args.percentiles),
    };
    let out_lower = args.output.to_string_lossy().to_ascii_lowercase();
    let png = out_lower.ends_with(".png");
    if !(png || out_lower.ends_with(".tif") || out_lower.ends_with(".tiff")) {
        bail!("{}: write .png or .tif", args.output.display());
    }
    if args.output.exists() && !args.overwrite {
        bail!("{}: already exists (use --overwrite)", args.output.display());
    }
    let reader = geodino_raster::open(&args.input)?;
    let m = reader.meta().clone();
    let bar = super::scene_args::tile_bar(false, "pca");
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} rows",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_length(3 * m.height as u64);
    let step = |pass: u64| {
        let bar = bar.clone();
        move |done: usize, _total: usize| bar.set_position(pass * m.height as u64 + done as u64)
    };
    let opts = PcaOptions { max_samples: args.max_samples, ..PcaOptions::default() };
    let pca = Pca::fit(reader.as_ref(), &opts, &step(0))
        .with_context(|| format!("{}: covariance pass", args.input.display()))?;
    let stretch = pca.stretch(reader.as_ref(), lo, hi, opts.window_bytes, &step(1))?;
    let rows = (opts.window_bytes / (m.width * m.band_count() * 4).max(1)).max(1);
    let windows: Vec<Window> = (0..m.height)
        .step_by(rows)
        .map(|r| Window::new(0, r as i64, m.width, rows.min(m.height - r)))
        .collect();
    let pass3 = step(2);
    if png {
        let mut rgb = ndarray::Array3::<u8>::zeros((3, m.height, m.width));
        for w in &windows {
            let (part, _) = pca.render_rows(reader.as_ref(), *w, &stretch)?;
            let r0 = w.row_off as usize;
            rgb.slice_mut(ndarray::s![.., r0..r0 + w.height, ..]).assign(&part);
            pass3(r0 + w.height, m.height);
        }
        let title = args.title.clone().unwrap_or_else(|| {
            format!(
                "PCA of {} ({} features)",
                args.input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                m.band_count()
            )
        });
        let style = MapStyle {
            title: Some(title),
            pixel_size_m: m.geotransform.map(|g| g.pixel_size().0),
            ..MapStyle::default()
        };
        preview::rgb_map(rgb.view(), &style).save_png(&args.output)?;
    } else {
        let mut om = RasterMeta::new(m.width, m.height, 3, geodino_core::DataType::Uint8);
        om.geotransform = m.geotransform;
        om.crs = m.crs.clone();
        for (b, ci) in om.bands.iter_mut().zip(["red", "green", "blue"]) {
            b.color_interp = Some(ci.into());
            b.nodata = Some(NoData(0.0));
        }
        om.metadata.insert("PCA_SOURCE".into(), args.input.display().to_string());
        let mut w: Box<dyn RasterWrite> = Box::new(geodino_tiff::write::GeoTiffWriter::create(
            &args.output,
            &om,
            &geodino_tiff::write::TiffWriteOptions::cog(),
        )?);
        for win in &windows {
            let (mut part, valid) = pca.render_rows(reader.as_ref(), *win, &stretch)?;
            // 0 is nodata: valid pixels are at least 1
            for ((c, y, x), v) in part.indexed_iter_mut() {
                let _ = c;
                if valid[[y, x]] != 0 {
                    *v = (*v).max(1);
                }
            }
            w.write_window(*win, &RasterBuffer::Uint8(part))?;
            pass3(win.row_off as usize + win.height, m.height);
        }
        w.finish()?;
    }
    bar.finish_and_clear();
    let ex = pca.explained();
    eprintln!(
        "wrote {} ({}x{}): components explain {:.1}%, {:.1}%, {:.1}% of the variance ({} pixels sampled)",
        args.output.display(),
        m.width,
        m.height,
        100.0 * ex[0],
        100.0 * ex[1],
        100.0 * ex[2],
        pca.samples
    );
    Ok(())
}
