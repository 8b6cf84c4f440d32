//! Draw one picture of each kind into a folder: `cargo run -p geodino-viz --example gallery OUT_DIR`.

use geodino_viz::plot::{BarChart, ConfusionMatrixPlot, DensityPlot, LinePlot};
use geodino_viz::preview::{self, MapStyle, ValueRange};
use geodino_viz::{ClassEntry, Colormap, composite};
use ndarray::{Array2, Array3};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;

    // A synthetic height field: a few Gaussian bumps.
    let h = Array2::from_shape_fn((200, 300), |(r, c)| {
        let bump = |cy: f64, cx: f64, s: f64, a: f64| {
            a * (-((r as f64 - cy).powi(2) + (c as f64 - cx).powi(2)) / (2.0 * s * s)).exp()
        };
        (bump(60.0, 80.0, 25.0, 30.0) + bump(140.0, 220.0, 40.0, 18.0)) as f32
    });
    let style = MapStyle {
        title: Some("Canopy height".into()),
        units: Some("m".into()),
        pixel_size_m: Some(0.6),
        ..Default::default()
    };
    preview::continuous_map(
        h.view(),
        None,
        &Colormap::viridis(),
        ValueRange::Percentiles(0.0, 100.0),
        &style,
    )
    .save_png(dir.join("heights.png"))?;
    let err = h.mapv(|v| (v - 10.0) / 3.0);
    let style = MapStyle { title: Some("Error (pred - true)".into()), ..style };
    preview::continuous_map(
        err.view(),
        None,
        &Colormap::diverging(),
        ValueRange::Symmetric(98.0),
        &style,
    )
    .save_png(dir.join("errors.png"))?;

    let classes = h.mapv(|v| {
        if v > 20.0 {
            1u8
        } else if v > 5.0 {
            2
        } else {
            3
        }
    });
    let entries = vec![
        ClassEntry { value: 1, name: "tree".into(), color: [34, 139, 34, 255] },
        ClassEntry { value: 2, name: "grass/shrub".into(), color: [154, 205, 50, 255] },
        ClassEntry { value: 3, name: "bare".into(), color: [210, 180, 140, 255] },
    ];
    let style = MapStyle {
        title: Some("Land cover".into()),
        pixel_size_m: Some(0.6),
        ..Default::default()
    };
    preview::class_map(classes.view(), &entries, &style).save_png(dir.join("classes.png"))?;

    let loss: Vec<(f64, f64)> =
        (1..=500).map(|i| (i as f64, 5.0 / (i as f64).sqrt() + 0.05)).collect();
    let val: Vec<(f64, f64)> =
        (1..=10).map(|i| (i as f64 * 50.0, 5.0 / (i as f64 * 50.0).sqrt() + 0.1)).collect();
    LinePlot::new("Pretraining loss", "iteration", "loss")
        .with_series("train", loss)
        .with_series("validation", val)
        .with_log_y(true)
        .render()
        .save_png(dir.join("loss.png"))?;

    let bins = 60;
    let mut counts = vec![0u64; bins * bins];
    for i in 0..20000u64 {
        let t = (i % 400) as f64 / 10.0;
        let p = (t + ((i * 7919) % 100) as f64 / 12.0 - 4.0).max(0.0);
        let (xb, yb) = ((t / 40.0 * bins as f64) as usize, ((p / 40.0) * bins as f64) as usize);
        if xb < bins && yb < bins {
            counts[yb * bins + xb] += 1;
        }
    }
    DensityPlot {
        title: "Predicted vs true height".into(),
        x_label: "true height (m)".into(),
        y_label: "predicted height (m)".into(),
        bins,
        lo: 0.0,
        hi: 40.0,
        counts,
        one_to_one: true,
        notes: vec!["MAE 2.31 m".into(), "R² 0.81".into()],
        size: 480,
    }
    .render()
    .save_png(dir.join("density.png"))?;

    let names: Vec<String> = ["tree", "grass/shrub", "crop", "bare", "water", "road", "building"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let n = names.len();
    let counts =
        (0..n * n).map(|i| if i / n == i % n { 900 } else { ((i * 37) % 90) as u64 }).collect();
    ConfusionMatrixPlot { title: "Confusion matrix".into(), names: names.clone(), counts }
        .render()
        .save_png(dir.join("confusion.png"))?;
    BarChart {
        title: "IoU per class".into(),
        y_label: "IoU".into(),
        labels: names,
        values: vec![0.9, 0.7, 0.8, 0.4, 0.95, f64::NAN, 0.6],
        colors: None,
        y_range: (0.0, 1.0),
        width: 600,
        height: 320,
    }
    .render()
    .save_png(dir.join("iou.png"))?;

    let pcs = Array3::from_shape_fn((3, 120, 160), |(b, r, c)| {
        ((r * (b + 1) + c * (3 - b)) as f32).sin()
    });
    composite::rgb_composite(pcs.view(), 2.0, 98.0)?.0.save_png(dir.join("pca.png"))?;
    println!("pictures written to {}", dir.display());
    Ok(())
}
