//! Render a synthetic scene in memory and write PNG previews of the image, the canopy height
//! model and the land-cover map:
//! `cargo run --release -p geodino-data --example synth_preview -- OUT_DIR [SEED] [SIZE] [PRESET]`.

use geodino_core::Window;
use geodino_data::synth::{Class, SceneGenerator, SynthConfig};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{ClassEntry, Colormap};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| ".".into()));
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let size: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let preset = args.get(4).cloned().unwrap_or_else(|| "mixed".into());
    std::fs::create_dir_all(&dir)?;
    let cfg = SynthConfig {
        width: size,
        height: size,
        seed,
        nir: true,
        ..SynthConfig::preset(&preset).ok_or("unknown preset")?
    };
    let g = SceneGenerator::new(&cfg)?;
    let t0 = std::time::Instant::now();
    let tile = g.render(Window::full(size, size))?;
    let dt = t0.elapsed().as_secs_f64();
    println!("{size}x{size} in {dt:.2} s: {:.2} MPix/s", (size * size) as f64 / dt / 1e6);
    let rgb = tile.image.slice(ndarray::s![0..3, .., ..]);
    let style = MapStyle { pixel_size_m: Some(cfg.gsd), min_side: 0, ..Default::default() };
    preview::rgb_map(rgb, &style).save_png(dir.join(format!("synth_{seed}_rgb.png")))?;
    let nir = tile.image.slice(ndarray::s![3, .., ..]).mapv(|v| v as f32);
    preview::continuous_map(
        nir.view(),
        None,
        &Colormap::gray(),
        ValueRange::Fixed(0.0, 255.0),
        &style,
    )
    .save_png(dir.join(format!("synth_{seed}_nir.png")))?;
    let chm_style = MapStyle { units: Some("m".into()), ..style.clone() };
    preview::continuous_map(
        tile.chm.view(),
        None,
        &Colormap::viridis(),
        ValueRange::Fixed(0.0, 35.0),
        &chm_style,
    )
    .save_png(dir.join(format!("synth_{seed}_chm.png")))?;
    let entries: Vec<ClassEntry> = Class::ALL[1..]
        .iter()
        .map(|c| ClassEntry { value: c.value() as u32, name: c.name().into(), color: c.color() })
        .collect();
    preview::class_map(tile.landcover.view(), &entries, &style)
        .save_png(dir.join(format!("synth_{seed}_landcover.png")))?;
    // A detail: the same 256 × 256 crop of the three, side by side, magnified 2×.
    let d: usize = std::env::var("DETAIL").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let (r0, c0) = (size / 2 - d / 2, size / 2 - d / 2);
    let crop = ndarray::s![r0..r0 + d, c0..c0 + d];
    let detail = MapStyle { min_side: 512, ..Default::default() };
    let a = preview::rgb_map(tile.image.slice(ndarray::s![0..3, r0..r0 + d, c0..c0 + d]), &detail);
    let b = preview::continuous_map(
        tile.chm.slice(crop),
        None,
        &Colormap::viridis(),
        ValueRange::Fixed(0.0, 35.0),
        &detail,
    );
    let c = preview::class_map(tile.landcover.slice(crop), &entries, &detail);
    preview::hstack(&[&a, &b, &c], 4).save_png(dir.join(format!("synth_{seed}_detail.png")))?;
    Ok(())
}
