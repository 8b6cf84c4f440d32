//! Pictures of a run (drawn with geodino-viz): the loss curves and the evaluation panels.

use std::path::Path;

use geodino_viz::composite::rgb_composite;
use geodino_viz::plot::LinePlot;
use geodino_viz::{Canvas, palette};
use ndarray::{Array2, Array3, s};

use crate::error::{Error, Result};
use crate::probe::ProbeResult;
use crate::trainer::read_metrics;

fn viz(path: &Path, e: geodino_viz::Error) -> Error {
    Error::Data(format!("{}: {e}", path.display()))
}

/// Refresh the loss-curve picture of a run from its `metrics.jsonl`: the total loss and its
/// terms (DINO global and local, iBOT, KoLeo, Gram) against the iteration.
///
/// # Errors
/// Unreadable metrics, an unwritable picture.
pub fn loss_plot(metrics: &Path, out: &Path) -> Result<()> {
    if !metrics.exists() {
        return Ok(());
    }
    let recs = read_metrics(metrics)?;
    if recs.is_empty() {
        return Ok(());
    }
    let series = |f: &dyn Fn(&crate::trainer::StepRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        recs.iter().filter_map(|r| f(r).map(|v| (r.iteration as f64, v))).collect()
    };
    let mut plot = LinePlot::new(
        format!("DINOv3 pretraining losses ({} iterations)", recs.len()),
        "iteration",
        "loss",
    )
    .with_series("total", series(&|r| Some(r.total_loss)))
    .with_series("DINO global", series(&|r| Some(r.dino_global)))
    .with_series("DINO local", series(&|r| Some(r.dino_local)))
    .with_series("iBOT", series(&|r| Some(r.ibot)))
    .with_series("KoLeo", series(&|r| Some(r.koleo)));
    let gram = series(&|r| r.gram.map(|g| g * 100.0));
    if !gram.is_empty() {
        plot = plot.with_series("Gram x100", gram);
    }
    plot.render().save_png(out).map_err(|e| viz(out, e))
}

fn class_canvas(map: &Array2<i64>) -> Canvas {
    let (h, w) = map.dim();
    let mut c = Canvas::new(w, h, [0, 0, 0, 255]);
    for y in 0..h {
        for x in 0..w {
            let l = map[[y, x]];
            if l >= 0 {
                c.set(x as i64, y as i64, palette::categorical(l as usize));
            }
        }
    }
    c
}

/// The evaluation panels side by side, titled: the input (first three bands, 2–98 % stretch),
/// the first three PCA components of the patch features, and with labels the probe's
/// prediction and the labels in class colours (ignored pixels black).
///
/// # Errors
/// An unwritable picture.
pub fn eval_picture(
    path: &Path,
    display: &Array3<f32>,
    pca: &Array3<f32>,
    patch: usize,
    prediction: Option<&Array2<i64>>,
    labels: Option<&Array2<i64>>,
    res: &ProbeResult,
) -> Result<()> {
    let (c, h, w) = display.dim();
    let rgb = if c >= 3 {
        display.slice(s![0..3, .., ..]).to_owned()
    } else {
        ndarray::stack![
            ndarray::Axis(0),
            display.index_axis(ndarray::Axis(0), 0),
            display.index_axis(ndarray::Axis(0), 0),
            display.index_axis(ndarray::Axis(0), 0)
        ]
    };
    let (input, _) = rgb_composite(rgb.view(), 2.0, 98.0).map_err(|e| viz(path, e))?;
    let (gh, gw) = (pca.dim().1, pca.dim().2);
    let up = Array3::from_shape_fn((3, h, w), |(k, y, x)| {
        pca[[k, (y / patch).min(gh - 1), (x / patch).min(gw - 1)]]
    });
    let (feat, _) = rgb_composite(up.view(), 2.0, 98.0).map_err(|e| viz(path, e))?;
    let mut panels: Vec<(String, Canvas)> = vec![
        ("input".into(), input),
        (format!("features: PCA 1-3 (iteration {})", res.iteration), feat),
    ];
    if let Some(p) = prediction {
        let t = match res.miou {
            Some(m) => format!("linear probe (test half mIoU {m:.3})"),
            None => "linear probe".into(),
        };
        panels.push((t, class_canvas(p)));
    }
    if let Some(l) = labels {
        panels.push(("labels (top half trains the probe)".into(), class_canvas(l)));
    }
    let (gap, top) = (8usize, 40usize);
    let width = panels.len() * w + (panels.len() + 1) * gap;
    let mut out = Canvas::new(width.max(200), h + top + gap, [255, 255, 255, 255]);
    out.text(
        gap as i64,
        4,
        &format!(
            "locality {:.3} (neighbours {:.3}, all pairs {:.3})",
            res.locality, res.neighbour_similarity, res.global_similarity
        ),
        1,
        [40, 40, 40, 255],
    );
    for (i, (title, c)) in panels.iter().enumerate() {
        let x = (gap + i * (w + gap)) as i64;
        out.text(x, 20, title, 1, [20, 20, 20, 255]);
        out.blit(c, x, top as i64);
    }
    out.save_png(path).map_err(|e| viz(path, e))
}
