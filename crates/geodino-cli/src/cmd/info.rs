//! `geodino info`: describe a raster, like `gdalinfo` / `rio info`. The JSON schema is documented
//! in `docs/cli-info.md`.

use std::path::PathBuf;

use anyhow::Context as _;
use geodino_core::{RasterMeta, SharedReader};
use geodino_raster::{Backend, BandStats, OpenOptions};
use serde_json::{Value, json};

/// Arguments of `geodino info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raster to describe: a GeoTIFF/COG, a Zarr store (directory, `store.zarr/array`,
    /// `.zarr.zip`), or (with the `gdal` feature) anything GDAL opens.
    pub file: PathBuf,
    /// Print JSON (schema in docs/cli-info.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compute exact per-band statistics over valid pixels (reads every pixel).
    #[arg(long)]
    pub stats: bool,
    /// The array to describe in a Zarr store holding several.
    #[arg(long, value_name = "NAME")]
    pub variable: Option<String>,
    /// Read through GDAL even where geodino has its own reader (needs the `gdal` feature).
    #[arg(long)]
    pub gdal: bool,
}

/// Open `file` with the CLI's reader options.
pub fn open_raster(
    file: &std::path::Path,
    variable: Option<String>,
    gdal: bool,
) -> anyhow::Result<SharedReader> {
    let opts = OpenOptions { backend: if gdal { Backend::Gdal } else { Backend::Auto }, variable };
    // The library's errors already name the file.
    Ok(geodino_raster::open_with(file, &opts)?)
}

/// Statistics of every band with a progress bar on stderr.
pub fn stats_with_progress(r: &SharedReader) -> anyhow::Result<Vec<BandStats>> {
    let m = r.meta();
    let bands: Vec<usize> = (0..m.band_count()).collect();
    let total = geodino_raster::processing_windows(m, 1 << 20).len();
    let bar = progress_bar(total as u64, "statistics");
    let s =
        geodino_raster::band_stats(r.as_ref(), &bands, &|done, _| bar.set_position(done as u64))
            .with_context(|| format!("{}: computing statistics", r.path().display()))?;
    bar.finish_and_clear();
    Ok(s)
}

/// A progress bar on stderr with ETA (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} blocks (ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn nodata_json(v: Option<f64>) -> Value {
    match v {
        None => Value::Null,
        Some(x) if x.is_nan() => json!("nan"),
        Some(x) if x.is_infinite() => json!(if x > 0.0 { "inf" } else { "-inf" }),
        Some(x) => json!(x),
    }
}

/// The JSON document of `docs/cli-info.md`.
pub fn info_json(file: &std::path::Path, m: &RasterMeta, stats: Option<&[BandStats]>) -> Value {
    let driver = m.metadata.get("GDAL_DRIVER").cloned().unwrap_or_else(|| {
        if m.metadata.contains_key("ZARR_FORMAT") { "Zarr".into() } else { "GTiff".into() }
    });
    let bands: Vec<Value> = m
        .bands
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut o = json!({
                "index": i + 1,
                "dtype": m.dtype.name(),
                "nodata": nodata_json(b.nodata.map(|n| n.0)),
                "description": b.description,
                "color_interp": b.color_interp,
                "scale": b.scale,
                "offset": b.offset,
            });
            if let Some(s) = stats {
                let s = &s[i];
                o["stats"] = json!({
                    "min": s.min, "max": s.max, "mean": s.mean, "sum": s.sum,
                    "valid_count": s.valid_count,
                });
            }
            o
        })
        .collect();
    let crs = m.crs.clone().unwrap_or_default();
    json!({
        "file": file.display().to_string(),
        "driver": driver,
        "width": m.width,
        "height": m.height,
        "band_count": m.band_count(),
        "dtype": m.dtype.name(),
        "geotransform": m.geotransform.map(|g| g.0),
        "bounds": m.geotransform.map(|g| { let b = g.bounds(m.width, m.height); [b.0, b.1, b.2, b.3] }),
        "crs": {"epsg": crs.epsg, "wkt": crs.wkt},
        "block": [m.block.width, m.block.height],
        "compression": m.compression.name(),
        "overviews": m.overviews.iter().map(|(w, h)| [*w, *h]).collect::<Vec<_>>(),
        "pixel_is_point": m.pixel_is_point,
        "has_mask": m.has_mask,
        "metadata": m.metadata,
        "bands": bands,
    })
}

fn text(file: &std::path::Path, m: &RasterMeta, stats: Option<&[BandStats]>) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let j = info_json(file, m, None);
    let _ = writeln!(s, "File: {}", file.display());
    let _ = writeln!(s, "Driver: {}", j["driver"].as_str().unwrap_or("?"));
    let _ =
        writeln!(s, "Size: {} x {}, {} band(s) of {}", m.width, m.height, m.band_count(), m.dtype);
    match &m.crs {
        Some(c) if c.epsg.is_some() => {
            let _ = writeln!(s, "CRS: EPSG:{}", c.epsg.unwrap_or_default());
        }
        Some(c) if c.wkt.is_some() => {
            let w = c.wkt.as_deref().unwrap_or("");
            let short: String = w.chars().take(100).collect();
            let _ = writeln!(s, "CRS: {short}{}", if w.len() > 100 { "..." } else { "" });
        }
        _ => {
            let _ = writeln!(s, "CRS: (none)");
        }
    }
    match &m.geotransform {
        Some(g) => {
            let _ = writeln!(s, "Origin: ({}, {})", g.0[0], g.0[3]);
            let _ = writeln!(s, "Pixel size: ({}, {})", g.0[1], g.0[5]);
            if !g.is_north_up() {
                let _ = writeln!(s, "Rotation: ({}, {})", g.0[2], g.0[4]);
            }
            let b = g.bounds(m.width, m.height);
            let _ = writeln!(s, "Bounds: [{}, {}, {}, {}]", b.0, b.1, b.2, b.3);
        }
        None => {
            let _ = writeln!(s, "Geotransform: (none)");
        }
    }
    let _ = writeln!(s, "Block: {} x {}", m.block.width, m.block.height);
    let _ = writeln!(s, "Compression: {}", m.compression.name());
    if !m.overviews.is_empty() {
        let o: Vec<String> = m.overviews.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        let _ = writeln!(s, "Overviews: {}", o.join(", "));
    }
    if m.pixel_is_point {
        let _ = writeln!(s, "Pixel is point (origin shifted to the pixel corner, as GDAL does)");
    }
    for (k, v) in &m.metadata {
        if k != "GDAL_DRIVER" {
            let _ = writeln!(s, "  {k}={v}");
        }
    }
    for (i, b) in m.bands.iter().enumerate() {
        let mut line = format!("Band {}: {}", i + 1, m.dtype);
        if let Some(d) = &b.description {
            let _ = write!(line, ", \"{d}\"");
        }
        if let Some(n) = b.nodata {
            let _ = write!(line, ", nodata {}", n.to_gdal_string());
        }
        if let Some(c) = &b.color_interp {
            let _ = write!(line, ", {c}");
        }
        let _ = writeln!(s, "{line}");
        if let Some(st) = stats.map(|st| &st[i]) {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x}"));
            let _ = writeln!(
                s,
                "  min {}  max {}  mean {}  sum {}  valid {}",
                f(st.min),
                f(st.max),
                f(st.mean),
                st.sum,
                st.valid_count
            );
        }
    }
    s
}

/// Run `geodino info`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let r = open_raster(&args.file, args.variable.clone(), args.gdal)?;
    let stats = if args.stats { Some(stats_with_progress(&r)?) } else { None };
    if args.json {
        let j = info_json(&args.file, r.meta(), stats.as_deref());
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        print!("{}", text(&args.file, r.meta(), stats.as_deref()));
    }
    Ok(())
}
