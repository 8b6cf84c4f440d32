//! Describe a GeoTIFF with geodino-tiff's reader: structure, georeferencing, bands, overviews,
//! and (with `--sums`) per-band sums, minima and maxima over the whole image.
//!
//! `cargo run -p geodino-tiff --release --example geotiff_info -- FILE [--sums]`

use geodino_core::{RasterRead, Window};
use geodino_tiff::GeoTiffReader;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        anyhow::bail!("usage: geotiff_info FILE [--sums]");
    };
    let r = GeoTiffReader::open(path)?;
    let m = r.meta();
    println!("{path}: {} x {} x {} {}", m.width, m.height, m.band_count(), m.dtype);
    println!("structure: {:?}", r.structure());
    println!("block {:?}, compression {}", m.block, m.compression.name());
    println!("geotransform: {:?} (pixel_is_point: {})", m.geotransform, m.pixel_is_point);
    println!("crs: {:?}", m.crs);
    println!("overviews: {:?}, mask: {}", m.overviews, m.has_mask);
    for (k, v) in &m.metadata {
        println!("  {k} = {v}");
    }
    for (i, b) in m.bands.iter().enumerate() {
        println!(
            "band {}: {:?} nodata {:?} desc {:?} scale {:?} offset {:?} table {}",
            i + 1,
            b.color_interp,
            b.nodata,
            b.description,
            b.scale,
            b.offset,
            b.color_table.as_ref().map_or(0, Vec::len)
        );
    }
    if args.iter().any(|a| a == "--sums") {
        let all: Vec<usize> = (0..m.band_count()).collect();
        let buf = r.read_window(&all, Window::full(m.width, m.height))?;
        let a = buf.to_f64();
        for b in 0..m.band_count() {
            let band = a.index_axis(ndarray::Axis(0), b);
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &v in band.iter().filter(|v| !v.is_nan()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            println!("band {}: sum {} min {lo} max {hi}", b + 1, buf.band_sum(b, None));
        }
    }
    Ok(())
}
