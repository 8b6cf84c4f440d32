//! Render a synthetic scene in memory and write PNG pictures of it: an overview (image, canopy
//! height, land cover side by side, shrunk to at most 320 px) and a detail (a crop at full
//! resolution, magnified 2×). The pictures in `docs/img/` come from
//!
//! ```text
//! cargo run --release -p geodino-data --example synth_preview -- docs/img 4 1536 mixed 860 300 200
//! ```
//!
//! Arguments: `OUT_DIR [SEED] [SIZE] [PRESET] [DETAIL_ROW DETAIL_COL DETAIL_SIZE]`.

use geodino_core::Window;
use geodino_data::synth::{Class, SceneGenerator, SynthConfig};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{ClassEntry, ClassThumbnail, Colormap, Thumbnail};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(arg(&args, 1, ".".to_string()));
    let seed: u64 = arg(&args, 2, 1);
    let size: usize = arg(&args, 3, 1024);
    let preset: String = arg(&args, 4, "mixed".to_string());
    let d: usize = arg(&args, 7, 200).min(size);
    let r0: usize = arg(&args, 5, (size - d) / 2).min(size - d);
    let c0: usize = arg(&args, 6, (size - d) / 2).min(size - d);
    std::fs::create_dir_all(&dir)?;
    let base = SynthConfig::preset(&preset).ok_or("unknown preset")?;
    let cfg = SynthConfig { width: size, height: size, seed, ..base };
    let g = SceneGenerator::new(&cfg)?;
    let t0 = std::time::Instant::now();
    let tile = g.render(Window::full(size, size))?;
    let dt = t0.elapsed().as_secs_f64();
    println!("{size}x{size} in {dt:.2} s: {:.2} MPix/s", (size * size) as f64 / dt / 1e6);

    let entries: Vec<ClassEntry> = Class::ALL[1..]
        .iter()
        .map(|c| ClassEntry { value: c.value() as u32, name: c.name().into(), color: c.color() })
        .collect();
    let chm_range = ValueRange::Fixed(0.0, 35.0);

    // Overview: block-averaged image and heights, nearest-pixel classes.
    let side = 320;
    let mut rgb = [0, 1, 2].map(|_| Thumbnail::new(size, size, side));
    for (b, t) in rgb.iter_mut().enumerate() {
        t.add(0, 0, tile.image.index_axis(ndarray::Axis(0), b).mapv(|v| v as f32).view(), None);
    }
    let mut hs = Thumbnail::new(size, size, side);
    hs.add(0, 0, tile.chm.view(), None);
    let mut cl = ClassThumbnail::new(size, size, side, 0u8);
    cl.add(0, 0, tile.landcover.view());
    let px = cfg.gsd * hs.factor() as f64;
    let means = rgb.map(|t| t.finish().mapv(|v| v.round() as u8));
    let (h, w) = means[0].dim();
    let stack = ndarray::Array3::from_shape_fn((3, h, w), |(b, r, c)| means[b][[r, c]]);
    let style = |t: &str, px: f64| MapStyle {
        title: Some(t.into()),
        pixel_size_m: Some(px),
        min_side: 0,
        units: None,
    };
    let a = preview::rgb_map(stack.view(), &style("image", px));
    let chm_style = MapStyle { units: Some("m".into()), ..style("canopy height", px) };
    let b = preview::continuous_map(
        hs.finish().view(),
        None,
        &Colormap::viridis(),
        chm_range,
        &chm_style,
    );
    let c = preview::class_map(cl.finish().view(), &entries, &style("land cover", px));
    preview::hstack(&[&a, &b, &c], 8).save_png(dir.join("synth-overview.png"))?;

    // Detail at full resolution.
    let crop = ndarray::s![r0..r0 + d, c0..c0 + d];
    let detail = |t: &str| MapStyle {
        title: Some(t.into()),
        pixel_size_m: Some(cfg.gsd),
        min_side: 2 * d,
        units: None,
    };
    let a = preview::rgb_map(
        tile.image.slice(ndarray::s![0..3, r0..r0 + d, c0..c0 + d]),
        &detail("image (detail)"),
    );
    let chm_style = MapStyle { units: Some("m".into()), ..detail("canopy height") };
    let b = preview::continuous_map(
        tile.chm.slice(crop),
        None,
        &Colormap::viridis(),
        chm_range,
        &chm_style,
    );
    let c = preview::class_map(tile.landcover.slice(crop), &entries, &detail("land cover"));
    preview::hstack(&[&a, &b, &c], 8).save_png(dir.join("synth-detail.png"))?;
    println!("wrote {}/synth-overview.png and synth-detail.png", dir.display());
    Ok(())
}
