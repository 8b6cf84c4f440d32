//! Image/label pairs for head training: the same-grid check, chips sampled where labels are
//! valid, and class descriptions read from label rasters.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{RasterMeta, SharedReader, Window};
use geodino_heads::{ClassInfo, NormalizationSpec, default_color};
use ndarray::{Array2, Array3};
use rand::Rng;

use super::config::{HeadTask, HeadTrainConfig};
use crate::error::{Error, Result};
use crate::seed::{Stream, rng};

/// The label value written for pixels without a usable label (land cover), as PyTorch's
/// `ignore_index` default.
pub const IGNORE: i64 = -100;

/// An image raster and its label raster.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The image.
    pub image: PathBuf,
    /// The labels (canopy height in metres, or class values).
    pub labels: PathBuf,
}

/// An opened pair.
#[derive(Clone)]
pub struct OpenPair {
    /// The paths.
    pub pair: Pair,
    /// The image reader.
    pub image: SharedReader,
    /// The label reader, on the image's grid (the warped copy when the labels were resampled).
    pub labels: SharedReader,
    /// The label raster as given (its class names and colours).
    pub label_source: SharedReader,
    /// The temporary folder holding the warped labels (removed when the last clone drops).
    pub warped: Option<Arc<tempfile::TempDir>>,
}

impl std::fmt::Debug for OpenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPair").field("pair", &self.pair).finish_non_exhaustive()
    }
}

fn open(path: &Path) -> Result<SharedReader> {
    geodino_raster::open(path).map_err(Error::Raster)
}

/// Fail unless `a` and `b` share size, geotransform and CRS; the message names both files and
/// says how to bring the labels onto the image's grid.
///
/// # Errors
/// [`Error::Data`] describing the first difference.
pub fn check_same_grid(pa: &Path, a: &RasterMeta, pb: &Path, b: &RasterMeta) -> Result<()> {
    let names = format!("{} and {}", pa.display(), pb.display());
    let fix = "pass --resample-labels (data.resample_labels; needs the `gdal` feature) or \
               resample the labels onto the image's grid first, e.g. `gdalwarp -te <image bounds> \
               -ts <width> <height> -t_srs <image CRS> -r near labels.tif aligned.tif`";
    if (a.width, a.height) != (b.width, b.height) {
        return Err(Error::Data(format!(
            "{names} are not on the same grid: {}x{} vs {}x{} pixels ({fix})",
            a.width, a.height, b.width, b.height
        )));
    }
    match (&a.geotransform, &b.geotransform) {
        (Some(ga), Some(gb)) => {
            let tol = 1e-6 * ga.pixel_size().0.abs().max(1e-9);
            if !ga.approx_eq(gb, tol) {
                return Err(Error::Data(format!(
                    "{names} are not on the same grid: geotransforms {:?} vs {:?} ({fix})",
                    ga.0, gb.0
                )));
            }
        }
        (None, None) => {}
        _ => {
            return Err(Error::Data(format!(
                "{names}: one raster is georeferenced and the other is not ({fix})"
            )));
        }
    }
    if let (Some(ca), Some(cb)) = (&a.crs, &b.crs)
        && !ca.same_as(cb)
        && !(ca.epsg.is_none() && cb.epsg.is_none())
    {
        return Err(Error::Data(format!(
            "{names} are not on the same grid: CRS {} vs {} ({fix})",
            ca.epsg_string().unwrap_or_else(|| "(WKT)".into()),
            cb.epsg_string().unwrap_or_else(|| "(WKT)".into())
        )));
    }
    Ok(())
}

impl OpenPair {
    /// Open both rasters and check that they share a grid and that the label band exists.
    /// With `resample` (a `gdalwarp -r` method, see
    /// [`LabelResampling`](super::config::LabelResampling)), labels on another grid are first
    /// warped onto the image's grid into a temporary GeoTIFF ([`super::warp`]); labels already
    /// on it are read as they are.
    ///
    /// # Errors
    /// Unreadable rasters, different grids (without `resample`), a failed warp (or no `gdal`
    /// feature), a missing label band, too few image bands.
    pub fn open(
        pair: &Pair,
        label_band: usize,
        in_chans: usize,
        resample: Option<&str>,
    ) -> Result<OpenPair> {
        let image = open(&pair.image)?;
        let label_source = open(&pair.labels)?;
        if label_band == 0 || label_band > label_source.meta().bands.len() {
            return Err(Error::Data(format!(
                "{}: label band {label_band} selected but the raster has {} band(s)",
                pair.labels.display(),
                label_source.meta().bands.len()
            )));
        }
        let same = check_same_grid(&pair.image, image.meta(), &pair.labels, label_source.meta());
        let (labels, warped) = match (same, resample) {
            (Ok(()), _) => (label_source.clone(), None),
            (Err(e), None) => return Err(e),
            (Err(_), Some(method)) => {
                let args = super::warp::warp_args(
                    &pair.image,
                    image.meta(),
                    &pair.labels,
                    label_source.meta(),
                    label_band,
                    method,
                )?;
                let dir = tempfile::Builder::new()
                    .prefix("geodino-labels-")
                    .tempdir()
                    .map_err(|e| Error::Io { path: std::env::temp_dir(), source: e })?;
                let stem = pair.labels.file_stem().unwrap_or_default().to_string_lossy();
                let dst = dir.path().join(format!("{stem}.{method}.tif"));
                super::warp::gdalwarp(&pair.labels, &dst, &args)?;
                let labels = open(&dst)?;
                check_same_grid(&pair.image, image.meta(), &dst, labels.meta()).map_err(|e| {
                    Error::Data(format!(
                        "{}: the labels warped onto the image's grid are not on it: {e}",
                        pair.labels.display()
                    ))
                })?;
                (labels, Some(Arc::new(dir)))
            }
        };
        if image.meta().bands.len() < in_chans {
            return Err(Error::Data(format!(
                "{}: the backbone takes {in_chans} bands, the image has {}",
                pair.image.display(),
                image.meta().bands.len()
            )));
        }
        Ok(OpenPair { pair: pair.clone(), image, labels, label_source, warped })
    }

    /// Normalised image bands `0..in_chans` over `window` (may extend past the raster: filled
    /// with the band means, i.e. 0 after normalisation), and the image's validity (false where
    /// the image is nodata or outside the raster).
    ///
    /// # Errors
    /// Read errors.
    pub fn read_image(
        &self,
        window: Window,
        in_chans: usize,
        norm: &NormalizationSpec,
    ) -> Result<(Array3<f32>, Array2<bool>)> {
        let meta = self.image.meta();
        let bands: Vec<usize> = (0..in_chans).collect();
        let raw = self.image.read_boundless(&bands, window, f64::NAN)?.to_f32();
        let (_, h, w) = raw.dim();
        let mut valid = Array2::from_elem((h, w), true);
        let mut out = Array3::<f32>::zeros((in_chans, h, w));
        for c in 0..in_chans {
            let nd = meta.nodata(c);
            let (m, s) =
                (norm.mean[c.min(norm.mean.len() - 1)], norm.std[c.min(norm.std.len() - 1)]);
            for y in 0..h {
                for x in 0..w {
                    let v = raw[[c, y, x]];
                    if !v.is_finite() || nd.is_some_and(|n| n.matches(v as f64)) {
                        valid[[y, x]] = false;
                    } else {
                        out[[c, y, x]] = (v / norm.scale - m) / s;
                    }
                }
            }
        }
        for y in 0..h {
            for x in 0..w {
                if !valid[[y, x]] {
                    for c in 0..in_chans {
                        out[[c, y, x]] = 0.0;
                    }
                }
            }
        }
        Ok((out, valid))
    }

    /// Labels over `window` as f32 with invalid pixels (nodata, non-finite, outside the raster,
    /// the ignore class, classes ≥ `num_classes`) set to NaN; negative heights are clamped to 0.
    ///
    /// # Errors
    /// Read errors.
    pub fn read_labels(
        &self,
        window: Window,
        band: usize,
        task: HeadTask,
        num_classes: usize,
        ignore_index: i64,
    ) -> Result<Array2<f32>> {
        let nd = self.labels.meta().nodata(band - 1);
        let raw = self.labels.read_boundless(&[band - 1], window, f64::NAN)?.to_f32();
        let mut out = raw.index_axis_move(ndarray::Axis(0), 0);
        out.mapv_inplace(|v| {
            if !v.is_finite() || nd.is_some_and(|n| n.matches(v as f64)) {
                return f32::NAN;
            }
            match task {
                HeadTask::CanopyHeight => v.max(0.0),
                HeadTask::Landcover => {
                    let c = v as i64;
                    if v.fract() != 0.0 || c < 0 || c == ignore_index || c as usize >= num_classes {
                        f32::NAN
                    } else {
                        v
                    }
                }
            }
        });
        Ok(out)
    }
}

/// Sampled training chips, normalised.
#[derive(Debug)]
pub struct Chips {
    /// `(n, c, s, s)` normalised images.
    pub images: Vec<Array3<f32>>,
    /// `(n, s, s)` labels, NaN where invalid.
    pub labels: Vec<Array2<f32>>,
    /// Candidate windows rejected for too few valid labels.
    pub rejected: usize,
}

/// Sample `cfg.data.chips` chips of `cfg.data.chip_size` pixels over `pairs` (each pair drawn
/// with probability proportional to its area, the window uniformly inside it), keeping those
/// where at least `min_valid_fraction` of the labels are valid. Deterministic in
/// `cfg.train.seed`.
///
/// # Errors
/// Read errors; no pair large enough; too few acceptable chips after 50 tries per chip.
pub fn sample_chips(
    pairs: &[OpenPair],
    cfg: &HeadTrainConfig,
    num_classes: usize,
    in_chans: usize,
    norm: &NormalizationSpec,
) -> Result<Chips> {
    let s = cfg.data.chip_size;
    let sizes: Vec<(usize, usize)> =
        pairs.iter().map(|p| (p.image.meta().width, p.image.meta().height)).collect();
    let areas: Vec<f64> =
        sizes.iter().map(|&(w, h)| if w >= s && h >= s { (w * h) as f64 } else { 0.0 }).collect();
    let total: f64 = areas.iter().sum();
    if total == 0.0 {
        return Err(Error::Data(format!(
            "no image is at least {s}x{s} pixels (data.chip_size): {}",
            pairs.iter().map(|p| p.pair.image.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut r = rng(cfg.train.seed, 0, Stream::Chip, 0);
    let (mut images, mut labels, mut rejected) = (Vec::new(), Vec::new(), 0usize);
    let max_tries = cfg.data.chips * 50;
    let mut tries = 0;
    while images.len() < cfg.data.chips {
        if tries >= max_tries {
            return Err(Error::Data(format!(
                "only {} of {} chips of {s} px have at least {:.0} % valid labels after {tries} \
                 tries in {} (lower data.min_valid_fraction or data.chips)",
                images.len(),
                cfg.data.chips,
                cfg.data.min_valid_fraction * 100.0,
                pairs
                    .iter()
                    .map(|p| p.pair.labels.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        tries += 1;
        let mut u = r.random::<f64>() * total;
        let mut k = 0;
        while k + 1 < areas.len() && (u >= areas[k] || areas[k] == 0.0) {
            u -= areas[k];
            k += 1;
        }
        let (w, h) = sizes[k];
        let x = r.random_range(0..=w - s);
        let y = r.random_range(0..=h - s);
        let win = Window::new(x as i64, y as i64, s, s);
        let p = &pairs[k];
        let mut lab =
            p.read_labels(win, cfg.data.label_band, cfg.task, num_classes, cfg.data.ignore_index)?;
        let (img, valid) = p.read_image(win, in_chans, norm)?;
        ndarray::Zip::from(&mut lab).and(&valid).for_each(|l, &v| {
            if !v {
                *l = f32::NAN;
            }
        });
        let n_valid = lab.iter().filter(|v| v.is_finite()).count();
        if (n_valid as f64) < cfg.data.min_valid_fraction * (s * s) as f64 || n_valid == 0 {
            rejected += 1;
            continue;
        }
        images.push(img);
        labels.push(lab);
    }
    Ok(Chips { images, labels, rejected })
}

/// Class names and colours of a label raster: its category names (or the
/// `GEODINO_CLASS_NAMES` metadata item) and colour table, else numbered classes.
pub fn classes_of(meta: &RasterMeta, band: usize, n: Option<usize>) -> Vec<ClassInfo> {
    let b = &meta.bands[band - 1];
    let names = b
        .category_names
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            meta.metadata
                .get(geodino_data::synth::CLASS_NAMES_KEY)
                .map(|s| s.split(',').map(|n| n.trim().to_string()).collect())
        })
        .unwrap_or_default();
    let count = n.unwrap_or(names.len());
    (0..count)
        .map(|i| {
            let name = names.get(i).cloned().unwrap_or_else(|| format!("class {i}"));
            let color = b
                .color_table
                .as_ref()
                .and_then(|t| t.get(i))
                .map_or_else(|| default_color(i), |e| [e.r, e.g, e.b]);
            ClassInfo::new(name, color)
        })
        .collect()
}
