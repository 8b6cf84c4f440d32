//! `geodino synth-scene`: a procedural aerial scene with aligned canopy-height and land-cover
//! labels, streamed to three GeoTIFFs (see `docs/synthetic-scenes.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use geodino_core::{RasterBuffer, RasterElement, RasterMeta, RasterWrite, Window};
use geodino_data::synth::{Class, SceneGenerator, StreamOptions, SynthConfig};
use geodino_tiff::write::{GeoTiffWriter, Layout, Overviews, TiffCompression, TiffWriteOptions};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{ClassEntry, ClassThumbnail, Colormap, Thumbnail};

/// Arguments of `geodino synth-scene`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image GeoTIFF to write (`*.tif`); the labels go beside it as `<stem>.chm.tif`
    /// (canopy height, float32 m) and `<stem>.landcover.tif` (uint8 classes).
    pub output: PathBuf,
    /// Scene width and height in pixels.
    #[arg(long, default_value_t = 2048, value_name = "PIXELS")]
    pub size: usize,
    /// Width in pixels (overrides --size).
    #[arg(long, value_name = "PIXELS")]
    pub width: Option<usize>,
    /// Height in pixels (overrides --size).
    #[arg(long, value_name = "PIXELS")]
    pub height: Option<usize>,
    /// Ground sample distance in metres per pixel.
    #[arg(long, value_name = "M")]
    pub gsd: Option<f64>,
    /// Seed: the same seed gives the same scene.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Add a near-infrared band (band 4).
    #[arg(long)]
    pub nir: bool,
    /// Landscape preset: mixed, forest, farmland, village, lakes.
    #[arg(long, default_value = "mixed")]
    pub preset: String,
    /// A JSON or TOML file holding a `SynthConfig` (flags given on the command line win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sun azimuth in degrees clockwise from north (default 135).
    #[arg(long, value_name = "DEG")]
    pub sun_azimuth: Option<f64>,
    /// Sun elevation in degrees (default 50).
    #[arg(long, value_name = "DEG")]
    pub sun_elevation: Option<f64>,
    /// Sensor noise standard deviation in digital numbers (default 1.5).
    #[arg(long, value_name = "DN")]
    pub noise: Option<f64>,
    /// EPSG code of the projected CRS (default 32632, UTM zone 32N).
    #[arg(long)]
    pub epsg: Option<u32>,
    /// GeoTIFF layout: `cog` (tiled with overviews, Cloud-Optimized) or `tiled`.
    #[arg(long, default_value = "cog")]
    pub layout: String,
    /// Compression: deflate, zstd, lzw or none.
    #[arg(long, default_value = "deflate")]
    pub compress: String,
    /// Rows rendered per band (memory is set by this and the scene width).
    #[arg(long, default_value_t = 256, value_name = "ROWS")]
    pub band_rows: usize,
    /// Rendering threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write a PNG preview (image, canopy height, land cover side by side).
    #[arg(long, value_name = "PNG")]
    pub preview: Option<PathBuf>,
    /// Replace existing outputs.
    #[arg(long)]
    pub overwrite: bool,
}

/// The three output paths for an image path `OUT.tif`.
pub fn output_paths(image: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let name = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let stem = if let Some(s) = lower.strip_suffix(".tiff") {
        &name[..s.len()]
    } else if let Some(s) = lower.strip_suffix(".tif") {
        &name[..s.len()]
    } else {
        bail!("{}: the output must be a GeoTIFF named *.tif or *.tiff", image.display());
    };
    if stem.is_empty() {
        bail!("{}: the output needs a file name", image.display());
    }
    let dir = image.parent().unwrap_or(Path::new(""));
    Ok((dir.join(format!("{stem}.chm.tif")), dir.join(format!("{stem}.landcover.tif"))))
}

fn load_config(path: &Path) -> anyhow::Result<SynthConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a synthetic-scene configuration", path.display()))
    } else {
        toml::from_str(&text)
            .with_context(|| format!("{}: not a synthetic-scene configuration", path.display()))
    }
}

/// The scene configuration from preset, file and flags (in that order of precedence).
pub fn config(a: &Args) -> anyhow::Result<SynthConfig> {
    let mut c = match &a.config {
        Some(p) => load_config(p)?,
        None => SynthConfig::preset(&a.preset).with_context(|| {
            format!("--preset {:?}: expected one of {}", a.preset, SynthConfig::PRESETS.join(", "))
        })?,
    };
    if a.config.is_none() || a.width.is_some() || a.height.is_some() || a.size != 2048 {
        c.width = a.width.unwrap_or(a.size);
        c.height = a.height.unwrap_or(a.size);
    }
    if let Some(v) = a.gsd {
        c.gsd = v;
    }
    if let Some(v) = a.seed {
        c.seed = v;
    }
    if a.nir {
        c.nir = true;
    }
    if let Some(v) = a.sun_azimuth {
        c.sun_azimuth_deg = v;
    }
    if let Some(v) = a.sun_elevation {
        c.sun_elevation_deg = v;
    }
    if let Some(v) = a.noise {
        c.noise_dn = v;
    }
    if let Some(v) = a.epsg {
        c.epsg = v;
    }
    Ok(c)
}

fn write_options(a: &Args) -> anyhow::Result<TiffWriteOptions> {
    let compression = match a.compress.to_ascii_lowercase().as_str() {
        "deflate" => TiffCompression::Deflate,
        "zstd" => TiffCompression::Zstd,
        "lzw" => TiffCompression::Lzw,
        "none" => TiffCompression::None,
        other => bail!("--compress {other:?}: expected deflate, zstd, lzw or none"),
    };
    let (layout, overviews) = match a.layout.to_ascii_lowercase().as_str() {
        "cog" => (Layout::Cog, Overviews::Auto),
        "tiled" => (Layout::Tiled, Overviews::None),
        other => bail!("--layout {other:?}: expected cog or tiled"),
    };
    Ok(TiffWriteOptions { layout, overviews, compression, ..TiffWriteOptions::default() })
}

/// Statistics and thumbnails gathered while the scene streams past.
struct Tap<'a> {
    inner: &'a mut dyn RasterWrite,
    kind: TapKind,
}

enum TapKind {
    Image(Option<[Thumbnail; 3]>),
    Chm { thumb: Option<Thumbnail>, sum: f64, max: f32 },
    Classes { thumb: Option<ClassThumbnail<u8>>, counts: Box<[u64; 256]> },
}

impl RasterWrite for Tap<'_> {
    fn meta(&self) -> &RasterMeta {
        self.inner.meta()
    }

    fn write_window(&mut self, window: Window, data: &RasterBuffer) -> geodino_core::Result<()> {
        let (r, c) = (window.row_off as usize, window.col_off as usize);
        match &mut self.kind {
            TapKind::Image(Some(th)) => {
                if let Some(a) = u8::view(data) {
                    for (b, t) in th.iter_mut().enumerate() {
                        t.add(
                            r,
                            c,
                            a.index_axis(ndarray::Axis(0), b).mapv(|v| v as f32).view(),
                            None,
                        );
                    }
                }
            }
            TapKind::Image(None) => {}
            TapKind::Chm { thumb, sum, max } => {
                if let Some(a) = f32::view(data) {
                    let band = a.index_axis(ndarray::Axis(0), 0);
                    for &v in band.iter() {
                        *sum += v as f64;
                        *max = max.max(v);
                    }
                    if let Some(t) = thumb {
                        t.add(r, c, band, None);
                    }
                }
            }
            TapKind::Classes { thumb, counts } => {
                if let Some(a) = u8::view(data) {
                    let band = a.index_axis(ndarray::Axis(0), 0);
                    for &v in band.iter() {
                        counts[v as usize] += 1;
                    }
                    if let Some(t) = thumb {
                        t.add(r, c, band);
                    }
                }
            }
        }
        self.inner.write_window(window, data)
    }

    fn finish(self: Box<Self>) -> geodino_core::Result<()> {
        Ok(())
    }
}

/// GDAL keeps a GeoTIFF band's category names in a `.aux.xml` sidecar (PAM); write one so that
/// GDAL and QGIS show the class names beside the colour table.
fn write_category_names(raster: &Path) -> anyhow::Result<()> {
    let mut xml = String::from("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n");
    for c in Class::ALL {
        let name = c.name().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        xml.push_str(&format!("      <Category>{name}</Category>\n"));
    }
    xml.push_str("    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n");
    let mut aux = raster.as_os_str().to_owned();
    aux.push(".aux.xml");
    let aux = PathBuf::from(aux);
    let tmp = aux.with_extension("xml.tmp");
    std::fs::write(&tmp, xml).with_context(|| format!("{}: cannot write", aux.display()))?;
    std::fs::rename(&tmp, &aux).with_context(|| format!("{}: cannot write", aux.display()))
}

/// A progress bar over pixels on stderr with rate and ETA.
fn pixel_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "synth-scene [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} (ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Run `geodino synth-scene`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = config(&a)?;
    let g = SceneGenerator::new(&cfg)?;
    let (chm_path, lc_path) = output_paths(&a.output)?;
    for p in [&a.output, &chm_path, &lc_path] {
        if p.exists() && !a.overwrite {
            bail!("{}: exists (use --overwrite to replace it)", p.display());
        }
    }
    if a.band_rows == 0 {
        bail!("--band-rows must be at least 1");
    }
    let opts = write_options(&a)?;
    let mut image = GeoTiffWriter::create(&a.output, &g.image_meta(), &opts)?;
    let mut chm = GeoTiffWriter::create(&chm_path, &g.chm_meta(), &opts)?;
    let mut lc = GeoTiffWriter::create(&lc_path, &g.landcover_meta(), &opts)?;

    let (w, h) = (cfg.width, cfg.height);
    let side = 512;
    let want_preview = a.preview.is_some();
    let mut timg = Tap {
        inner: &mut image,
        kind: TapKind::Image(
            want_preview.then(|| std::array::from_fn(|_| Thumbnail::new(w, h, side))),
        ),
    };
    let mut tchm = Tap {
        inner: &mut chm,
        kind: TapKind::Chm {
            thumb: want_preview.then(|| Thumbnail::new(w, h, side)),
            sum: 0.0,
            max: 0.0,
        },
    };
    let mut tlc = Tap {
        inner: &mut lc,
        kind: TapKind::Classes {
            thumb: want_preview.then(|| ClassThumbnail::new(w, h, side, 0u8)),
            counts: Box::new([0; 256]),
        },
    };
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // Windows of at most 1024 columns, `threads` of them rendered at once.
    let stream = StreamOptions { band_rows: a.band_rows, window_cols: 1024, threads };
    let total = (w * h) as u64;
    let bar = pixel_bar(total);
    let t0 = std::time::Instant::now();
    g.write(&mut timg, &mut tchm, &mut tlc, &stream, &mut |done| {
        bar.set_position(done);
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{:.1}/{:.1} MPix, {:.1} MPix/s",
            done as f64 / 1e6,
            total as f64 / 1e6,
            done as f64 / secs / 1e6
        ));
    })
    .with_context(|| format!("{}: writing the synthetic scene", a.output.display()))?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();

    let TapKind::Image(img_thumbs) = timg.kind else { unreachable!("image tap") };
    let TapKind::Chm { thumb: chm_thumb, sum: chm_sum, max: chm_max } = tchm.kind else {
        unreachable!("chm tap")
    };
    let TapKind::Classes { thumb: lc_thumb, counts } = tlc.kind else { unreachable!("class tap") };
    image.finish()?;
    chm.finish()?;
    lc.finish()?;
    write_category_names(&lc_path)?;

    let gt = g.geotransform().0;
    println!(
        "{} ({}x{}, {} bands, EPSG:{}, origin {:.0} E {:.0} N, {} m pixels, seed {})",
        a.output.display(),
        w,
        h,
        g.band_count(),
        cfg.epsg,
        gt[0],
        gt[3],
        cfg.gsd,
        cfg.seed
    );
    println!(
        "{} (canopy height, mean {:.2} m, max {:.1} m)",
        chm_path.display(),
        chm_sum / total as f64,
        chm_max
    );
    println!("{} (land cover)", lc_path.display());
    for c in &Class::ALL[1..] {
        let n = counts[c.value() as usize];
        println!("  {:>2} {:<12} {:6.2} %", c.value(), c.name(), 100.0 * n as f64 / total as f64);
    }
    println!(
        "{:.1} MPix in {secs:.1} s ({:.2} MPix/s on {threads} thread(s))",
        total as f64 / 1e6,
        total as f64 / secs / 1e6
    );

    if let (Some(path), Some(th), Some(ct), Some(lt)) =
        (&a.preview, img_thumbs, chm_thumb, lc_thumb)
    {
        let px = cfg.gsd * th[0].factor() as f64;
        let rgb = th.map(|t| t.finish().mapv(|v| v.round().clamp(0.0, 255.0) as u8));
        let (th_h, th_w) = rgb[0].dim();
        let stack = ndarray::Array3::from_shape_fn((3, th_h, th_w), |(b, r, c)| rgb[b][[r, c]]);
        let style = |t: &str| MapStyle {
            title: Some(t.into()),
            pixel_size_m: Some(px),
            min_side: 256,
            units: None,
        };
        let p_img = preview::rgb_map(stack.view(), &style("image"));
        let chm_style = MapStyle { units: Some("m".into()), ..style("canopy height") };
        let p_chm = preview::continuous_map(
            ct.finish().view(),
            None,
            &Colormap::viridis(),
            ValueRange::Fixed(0.0, 35.0),
            &chm_style,
        );
        let entries: Vec<ClassEntry> = Class::ALL[1..]
            .iter()
            .map(|c| ClassEntry {
                value: c.value() as u32,
                name: c.name().into(),
                color: c.color(),
            })
            .collect();
        let p_lc = preview::class_map(lt.finish().view(), &entries, &style("land cover"));
        preview::hstack(&[&p_img, &p_chm, &p_lc], 8).save_png(path)?;
        println!("{} (preview)", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_paths_sit_beside_the_image() {
        let (c, l) = output_paths(Path::new("out/area.TIF")).unwrap();
        assert_eq!(c, Path::new("out/area.chm.tif"));
        assert_eq!(l, Path::new("out/area.landcover.tif"));
        let (c, _) = output_paths(Path::new("x.tiff")).unwrap();
        assert_eq!(c, Path::new("x.chm.tif"));
        assert!(output_paths(Path::new("x.png")).unwrap_err().to_string().contains("x.png"));
        assert!(output_paths(Path::new(".tif")).is_err());
    }
}
