//! `geodino eval`: compare a prediction raster with a label raster on the same grid, block by
//! block in bounded memory: canopy-height metrics (MAE, RMSE, bias, R², block R², tree-cover IoU)
//! or land-cover metrics (confusion matrix, IoU, mIoU, accuracy), printed as a table and
//! optionally written as JSON and a PNG report. Definitions: `docs/evaluation.md`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use geodino_core::{NoData, RasterMeta, SharedReader, Window};
use geodino_data::metrics::{
    BlockLayout, CanopyAccumulator, CanopyMetrics, CanopyMetricsConfig, LandCoverAccumulator,
    LandCoverMetrics, LandCoverMetricsConfig,
};
use geodino_viz::plot::{BarChart, ConfusionMatrixPlot, DensityPlot};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{Colormap, Thumbnail, palette};
use ndarray::Array2;
use rayon::prelude::*;
use serde_json::json;

use crate::cmd::info::open_raster;

/// What is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// Canopy height in metres (continuous).
    CanopyHeight,
    /// Land-cover classes.
    Landcover,
}

/// Arguments of `geodino eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the rasters hold.
    #[arg(long, value_enum)]
    pub task: Task,
    /// The prediction raster.
    pub pred: PathBuf,
    /// The label (reference) raster, on the same grid.
    pub labels: PathBuf,
    /// Write the metrics as JSON.
    #[arg(long, value_name = "JSON")]
    pub json: Option<PathBuf>,
    /// Write a PNG report (canopy: density scatter and error map; land cover: confusion matrix
    /// and IoU per class).
    #[arg(long, value_name = "PNG")]
    pub report: Option<PathBuf>,
    /// 1-based band of the prediction.
    #[arg(long, default_value_t = 1)]
    pub pred_band: usize,
    /// 1-based band of the labels.
    #[arg(long, default_value_t = 1)]
    pub label_band: usize,
    /// Canopy: tree-cover threshold in metres (tree = height above it).
    #[arg(long, default_value_t = 2.0, value_name = "M")]
    pub tree_threshold: f64,
    /// Canopy: cut the scene into crops of this size for block R², each with its own border, as
    /// Tolan et al. evaluate 256 × 256 crops (default: the whole scene as one crop).
    #[arg(long, value_name = "PIXELS")]
    pub block_crop: Option<usize>,
    /// Canopy: fraction of a 50 × 50 block's pixels that must be valid for it to count.
    #[arg(long, default_value_t = 1.0, value_name = "FRACTION")]
    pub block_min_valid: f64,
    /// Canopy: keep negative heights (by default both rasters are clamped at 0, as the
    /// reference evaluation does).
    #[arg(long)]
    pub no_clamp: bool,
    /// Land cover: class names by value, comma-separated (default: the label raster's category
    /// names, else the synthetic-scene classes).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Land cover: true classes to skip and leave out of mIoU (default 0).
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub ignore: Option<Vec<u32>>,
}

/// A reader, its 0-based band, and how to turn raw values into physical ones.
struct Input {
    path: PathBuf,
    reader: SharedReader,
    band: usize,
    nodata: Option<NoData>,
    scale: f64,
    offset: f64,
}

impl Input {
    fn open(path: &Path, band: usize) -> anyhow::Result<Input> {
        let reader = open_raster(path, None, false)?;
        let m = reader.meta();
        if band == 0 || band > m.band_count() {
            bail!(
                "{}: band {band} requested, the raster has {} band(s)",
                path.display(),
                m.band_count()
            );
        }
        let b = &m.bands[band - 1];
        Ok(Input {
            path: path.to_path_buf(),
            band: band - 1,
            nodata: b.nodata,
            scale: b.scale.unwrap_or(1.0),
            offset: b.offset.unwrap_or(0.0),
            reader,
        })
    }

    fn meta(&self) -> &RasterMeta {
        self.reader.meta()
    }

    /// Physical values of `w` as `f32`, NaN where the raw value is nodata or NaN.
    fn read_f32(&self, w: Window) -> anyhow::Result<Array2<f32>> {
        let buf = self
            .reader
            .read_window(&[self.band], w)
            .with_context(|| format!("{}: reading {w}", self.path.display()))?;
        let raw = buf.to_f64();
        let band = raw.index_axis(ndarray::Axis(0), 0);
        Ok(band.mapv(|v| {
            if v.is_nan() || self.nodata.is_some_and(|n| n.matches(v)) {
                f32::NAN
            } else {
                (v * self.scale + self.offset) as f32
            }
        }))
    }

    /// Raw values of `w` as `f64` (classes).
    fn read_raw(&self, w: Window) -> anyhow::Result<Array2<f64>> {
        let buf = self
            .reader
            .read_window(&[self.band], w)
            .with_context(|| format!("{}: reading {w}", self.path.display()))?;
        Ok(buf.to_f64().index_axis_move(ndarray::Axis(0), 0))
    }
}

/// Fail unless the two rasters share size, geotransform and CRS, naming both files.
fn check_same_grid(p: &Input, l: &Input) -> anyhow::Result<()> {
    let (a, b) = (p.meta(), l.meta());
    let names = format!("{} and {}", p.path.display(), l.path.display());
    if (a.width, a.height) != (b.width, b.height) {
        bail!(
            "{names} are not on the same grid: {}x{} vs {}x{} pixels",
            a.width,
            a.height,
            b.width,
            b.height
        );
    }
    if let (Some(ga), Some(gb)) = (&a.geotransform, &b.geotransform) {
        let tol = 1e-6 * ga.pixel_size().0.abs().max(1e-9);
        if !ga.approx_eq(gb, tol) {
            bail!("{names} are not on the same grid: geotransforms {:?} vs {:?}", ga.0, gb.0);
        }
    } else if a.geotransform.is_some() != b.geotransform.is_some() {
        bail!("{names}: one raster is georeferenced and the other is not");
    }
    if let (Some(ca), Some(cb)) = (&a.crs, &b.crs)
        && !ca.same_as(cb)
        && !(ca.epsg.is_none() && cb.epsg.is_none())
    {
        bail!(
            "{names} are not on the same grid: CRS {} vs {}",
            ca.epsg_string().unwrap_or_else(|| "(WKT)".into()),
            cb.epsg_string().unwrap_or_else(|| "(WKT)".into())
        );
    }
    Ok(())
}

/// Bands of `rows` rows, each cut into windows of `cols` columns, in row order.
fn bands_of_windows(m: &RasterMeta) -> Vec<Vec<Window>> {
    let rows = m.block.height.clamp(1, 1024).max(256.min(m.height.max(1)));
    let cols = (m.block.width.max(1) * (2048 / m.block.width.max(1)).max(1)).min(m.width.max(1));
    (0..m.height)
        .step_by(rows)
        .map(|r| {
            (0..m.width)
                .step_by(cols)
                .map(|c| {
                    Window::new(c as i64, r as i64, cols.min(m.width - c), rows.min(m.height - r))
                })
                .collect()
        })
        .collect()
}

/// A progress bar over bands of rows on stderr with ETA.
fn bar(bands: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(bands as u64);
    let style = indicatif::ProgressStyle::with_template(
        "eval [{elapsed_precise}] {wide_bar} {pos}/{len} bands of rows (ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn canopy(a: &Args, p: &Input, l: &Input) -> anyhow::Result<(CanopyMetrics, Array2<f32>, usize)> {
    let cfg = CanopyMetricsConfig {
        tree_threshold_m: a.tree_threshold,
        blocks: BlockLayout {
            crop: a.block_crop,
            min_valid_fraction: a.block_min_valid,
            ..BlockLayout::default()
        },
        clamp_negative: !a.no_clamp,
        ..CanopyMetricsConfig::default()
    };
    let m = l.meta();
    let (w, h) = (m.width, m.height);
    let mut total = CanopyAccumulator::new(&cfg, w, h, None, None)?;
    let mut err_thumb = Thumbnail::new(w, h, 320);
    let bands = bands_of_windows(m);
    let pb = bar(bands.len());
    let proto = total.clone();
    let empty = || (proto.clone(), Thumbnail::new(w, h, 320));
    for band in &bands {
        let (acc, th) = band
            .par_iter()
            .try_fold(empty, |(mut acc, mut th), &win| {
                let pred = p.read_f32(win)?;
                let truth = l.read_f32(win)?;
                acc.update(win, pred.view(), truth.view())?;
                let err = ndarray::Zip::from(&pred).and(&truth).map_collect(|&a, &b| a - b);
                th.add(win.row_off as usize, win.col_off as usize, err.view(), None);
                Ok((acc, th))
            })
            .try_reduce(empty, |(mut a1, mut t1), (a2, t2)| {
                a1.merge(a2)?;
                t1.merge(&t2);
                Ok::<_, anyhow::Error>((a1, t1))
            })?;
        total.merge(acc)?;
        err_thumb.merge(&th);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok((total.finish(), err_thumb.finish(), err_thumb.factor()))
}

fn class_config(a: &Args, l: &Input) -> LandCoverMetricsConfig {
    let d = LandCoverMetricsConfig::default();
    let m = l.meta();
    let from_meta = m
        .metadata
        .get(geodino_data::synth::CLASS_NAMES_KEY)
        .map(|s| s.split(',').map(|n| n.trim().to_string()).collect::<Vec<_>>());
    let names = a
        .classes
        .clone()
        .or_else(|| m.bands[l.band].category_names.clone().filter(|n| !n.is_empty()))
        .or(from_meta)
        .unwrap_or(d.class_names);
    LandCoverMetricsConfig {
        class_names: names,
        ignore_classes: a.ignore.clone().unwrap_or(d.ignore_classes),
    }
}

fn landcover(a: &Args, p: &Input, l: &Input) -> anyhow::Result<LandCoverMetrics> {
    let cfg = class_config(a, l);
    let mut total = LandCoverAccumulator::new(&cfg, p.nodata, l.nodata)?;
    let proto = total.clone();
    let empty = || proto.clone();
    let bands = bands_of_windows(l.meta());
    let pb = bar(bands.len());
    let names = format!("{} vs {}", p.path.display(), l.path.display());
    for band in &bands {
        let acc = band
            .par_iter()
            .try_fold(empty, |mut acc, &win| {
                let pred = p.read_raw(win)?;
                let truth = l.read_raw(win)?;
                acc.update(win, pred.view(), truth.view())
                    .with_context(|| format!("{names}, window {win}"))?;
                Ok(acc)
            })
            .try_reduce(empty, |mut a1, a2| {
                a1.merge(&a2)?;
                Ok::<_, anyhow::Error>(a1)
            })?;
        total.merge(&acc)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(total.finish())
}

fn fmt(v: f64, unit: &str) -> String {
    if v.is_finite() { format!("{v:.3}{unit}") } else { "n/a".into() }
}

fn print_canopy(a: &Args, m: &CanopyMetrics) {
    println!("canopy height: {} vs labels {}", a.pred.display(), a.labels.display());
    println!("  valid pixels        {}", m.pixels);
    println!("  MAE                 {}", fmt(m.mae, " m"));
    println!("  RMSE                {}", fmt(m.rmse, " m"));
    println!("  bias (pred - true)  {}", fmt(m.bias, " m"));
    println!("  R²                  {}", fmt(m.r2, ""));
    let b = &m.config.blocks;
    println!(
        "  block R²            {}   ({} blocks of {}x{} px, {} px border{}; {} dropped for nodata)",
        fmt(m.block_r2, ""),
        m.blocks,
        b.block,
        b.block,
        b.border,
        b.crop.map(|c| format!(", {c} px crops")).unwrap_or_default(),
        m.blocks_dropped
    );
    let t = &m.tree_cover;
    println!(
        "  tree-cover IoU      {}   (height > {} m; precision {}, recall {}, F1 {})",
        fmt(t.iou, ""),
        t.threshold_m,
        fmt(t.precision, ""),
        fmt(t.recall, ""),
        fmt(t.f1, "")
    );
    println!("  mean true / pred    {} / {}", fmt(m.mean_truth, " m"), fmt(m.mean_pred, " m"));
    println!("  by true height:      pixels        MAE       bias       RMSE");
    for hb in &m.by_height {
        let range = if hb.hi.is_finite() {
            format!("{}-{} m", hb.lo, hb.hi)
        } else {
            format!("≥ {} m", hb.lo)
        };
        println!(
            "    {range:<16} {:>10} {:>10} {:>10} {:>10}",
            hb.pixels,
            fmt(hb.mae, ""),
            fmt(hb.bias, ""),
            fmt(hb.rmse, "")
        );
    }
}

fn print_landcover(a: &Args, m: &LandCoverMetrics) {
    println!("land cover: {} vs labels {}", a.pred.display(), a.labels.display());
    println!("  pixels              {}", m.pixels);
    println!("  overall accuracy    {}", fmt(m.overall_accuracy, ""));
    println!("  mIoU                {}", fmt(m.miou, ""));
    println!("  Cohen's kappa       {}", fmt(m.kappa, ""));
    println!("  class                   IoU  precision     recall         F1      support");
    for c in &m.per_class {
        if c.ignored && c.support == 0 && c.predicted == 0 {
            continue;
        }
        println!(
            "  {:>3} {:<16} {:>8} {:>10} {:>10} {:>10} {:>12}{}",
            c.class,
            c.name,
            fmt(c.iou, ""),
            fmt(c.precision, ""),
            fmt(c.recall, ""),
            fmt(c.f1, ""),
            c.support,
            if c.ignored { "  (ignored)" } else { "" }
        );
    }
}

fn canopy_report(
    a: &Args,
    m: &CanopyMetrics,
    err: &Array2<f32>,
    factor: usize,
    px: Option<f64>,
) -> geodino_viz::Canvas {
    let h = &m.histogram;
    let notes = vec![
        format!("MAE   {}", fmt(m.mae, " m")),
        format!("RMSE  {}", fmt(m.rmse, " m")),
        format!("bias  {}", fmt(m.bias, " m")),
        format!("R²    {}", fmt(m.r2, "")),
        format!("block R² {}", fmt(m.block_r2, "")),
        format!("tree IoU {}", fmt(m.tree_cover.iou, "")),
        format!("n = {}", m.pixels),
    ];
    // Show the occupied part of the histogram: up to the highest non-empty bin on either axis,
    // rounded up to 5 m.
    let bw = h.max / h.bins as f64;
    let top = (0..h.bins * h.bins)
        .filter(|&i| h.counts[i] > 0)
        .map(|i| (i / h.bins).max(i % h.bins))
        .max()
        .unwrap_or(0);
    let shown = ((((top + 1) as f64 * bw) / 5.0).ceil() * 5.0 / bw)
        .round()
        .clamp(1.0, h.bins as f64) as usize;
    let counts: Vec<u64> = (0..shown)
        .flat_map(|y| (0..shown).map(move |x| (y, x)))
        .map(|(y, x)| h.counts[y * h.bins + x])
        .collect();
    let density = DensityPlot {
        title: "Predicted vs true canopy height".into(),
        x_label: "true height (m)".into(),
        y_label: "predicted height (m)".into(),
        bins: shown,
        lo: 0.0,
        hi: shown as f64 * bw,
        counts,
        one_to_one: true,
        notes,
        size: 520,
    }
    .render();
    let style = MapStyle {
        title: Some("Error: prediction - truth".into()),
        units: Some("m".into()),
        pixel_size_m: px.map(|p| p * factor as f64),
        min_side: 320,
    };
    let map = preview::continuous_map(
        err.view(),
        None,
        &Colormap::diverging(),
        ValueRange::Symmetric(98.0),
        &style,
    );
    let body = preview::hstack(&[&density, &map], 16);
    let title =
        preview::caption(&format!("{}  vs  {}", name(&a.pred), name(&a.labels)), body.width(), 1);
    preview::vstack(&[&title, &body], 0)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn landcover_report(a: &Args, m: &LandCoverMetrics, l: &Input) -> geodino_viz::Canvas {
    // Classes shown: those present in either raster, ignored ones left out.
    let shown: Vec<usize> = m
        .per_class
        .iter()
        .filter(|c| !c.ignored && (c.support > 0 || c.predicted > 0))
        .map(|c| c.class as usize)
        .collect();
    let names: Vec<String> = shown.iter().map(|&k| m.per_class[k].name.clone()).collect();
    let counts: Vec<u64> = shown
        .iter()
        .flat_map(|&t| shown.iter().map(move |&p| (t, p)))
        .map(|(t, p)| m.confusion[t][p])
        .collect();
    let cm = ConfusionMatrixPlot { title: "Confusion matrix".into(), names: names.clone(), counts }
        .render();
    let table = l.meta().bands[l.band].color_table.clone();
    let colors: Vec<_> = shown
        .iter()
        .enumerate()
        .map(|(i, &k)| match table.as_ref().and_then(|t| t.get(k)) {
            Some(c) => [c.r, c.g, c.b, 255],
            None => palette::categorical(i),
        })
        .collect();
    let bars = BarChart {
        title: format!(
            "IoU per class (mIoU {}, OA {})",
            fmt(m.miou, ""),
            fmt(m.overall_accuracy, "")
        ),
        y_label: "IoU".into(),
        labels: names,
        values: shown.iter().map(|&k| m.per_class[k].iou).collect(),
        colors: Some(colors),
        y_range: (0.0, 1.0),
        width: 560,
        height: cm.height().max(300),
    }
    .render();
    let body = preview::hstack(&[&cm, &bars], 16);
    let title =
        preview::caption(&format!("{}  vs  {}", name(&a.pred), name(&a.labels)), body.width(), 1);
    preview::vstack(&[&title, &body], 0)
}

/// Write `text` to `path` atomically (temporary file beside it, then rename).
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.{}.tmp", name(path), std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("{}: cannot write", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Run `geodino eval`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let p = Input::open(&a.pred, a.pred_band)?;
    let l = Input::open(&a.labels, a.label_band)?;
    check_same_grid(&p, &l)?;
    let px = l.meta().geotransform.map(|g| g.pixel_size().0);
    let (metrics, report) = match a.task {
        Task::CanopyHeight => {
            let (m, err, factor) = canopy(&a, &p, &l)?;
            print_canopy(&a, &m);
            let report = a.report.as_ref().map(|_| canopy_report(&a, &m, &err, factor, px));
            (serde_json::to_value(&m)?, report)
        }
        Task::Landcover => {
            let m = landcover(&a, &p, &l)?;
            print_landcover(&a, &m);
            let report = a.report.as_ref().map(|_| landcover_report(&a, &m, &l));
            (serde_json::to_value(&m)?, report)
        }
    };
    if let Some(path) = &a.json {
        let doc = json!({
            "task": match a.task { Task::CanopyHeight => "canopy-height", Task::Landcover => "landcover" },
            "prediction": a.pred.display().to_string(),
            "labels": a.labels.display().to_string(),
            "width": l.meta().width,
            "height": l.meta().height,
            "metrics": metrics,
        });
        write_atomic(path, &serde_json::to_string_pretty(&doc)?)?;
        println!("{} (metrics)", path.display());
    }
    if let (Some(path), Some(c)) = (&a.report, report) {
        c.save_png(path)?;
        println!("{} (report)", path.display());
    }
    Ok(())
}
