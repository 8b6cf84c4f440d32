//! Land-cover metrics from a confusion matrix.

use geodino_core::{NoData, RasterElement, Window};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Configuration of [`LandCoverAccumulator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LandCoverMetricsConfig {
    /// Class names, one per class value `0..names.len()`; the class count. Default: the
    /// synthetic-scene classes (`nodata`, `tree`, `grass/shrub`, `crop`, `bare`, `water`,
    /// `road`, `building`).
    pub class_names: Vec<String>,
    /// Classes whose **true** pixels are skipped (like `ignore_index`) and which are left out of
    /// mIoU. Default `[0]` (the nodata class).
    pub ignore_classes: Vec<u32>,
}

impl Default for LandCoverMetricsConfig {
    fn default() -> Self {
        LandCoverMetricsConfig {
            class_names: [
                "nodata",
                "tree",
                "grass/shrub",
                "crop",
                "bare",
                "water",
                "road",
                "building",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ignore_classes: vec![0],
        }
    }
}

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class value.
    pub class: u32,
    /// Class name.
    pub name: String,
    /// TP / (TP + FP + FN); NaN when the class is in neither raster.
    pub iou: f64,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// True pixels of the class.
    pub support: u64,
    /// Pixels predicted as the class.
    pub predicted: u64,
    /// True for classes in `ignore_classes`.
    pub ignored: bool,
}

/// The land-cover metrics of a scene. Undefined values are NaN (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandCoverMetrics {
    /// Pixels counted (valid in both rasters, true class not ignored).
    pub pixels: u64,
    /// Fraction of counted pixels predicted correctly.
    pub overall_accuracy: f64,
    /// Mean IoU over the non-ignored classes present in either raster.
    pub miou: f64,
    /// Cohen's κ.
    pub kappa: f64,
    /// Per-class scores, by class value.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` pixel counts.
    pub confusion: Vec<Vec<u64>>,
}

/// Streaming confusion matrix of a class prediction against class labels.
#[derive(Debug, Clone)]
pub struct LandCoverAccumulator {
    cfg: LandCoverMetricsConfig,
    n: usize,
    pred_nodata: Option<NoData>,
    truth_nodata: Option<NoData>,
    ignored: Vec<bool>,
    confusion: Vec<u64>,
}

impl LandCoverAccumulator {
    /// An accumulator for the configured classes and the rasters' nodata values.
    ///
    /// # Errors
    /// [`Error::Invalid`] with no classes.
    pub fn new(
        cfg: &LandCoverMetricsConfig,
        pred_nodata: Option<NoData>,
        truth_nodata: Option<NoData>,
    ) -> Result<Self> {
        let n = cfg.class_names.len();
        if n == 0 {
            return Err(Error::Invalid("land-cover metrics need at least one class".into()));
        }
        let mut ignored = vec![false; n];
        for &c in &cfg.ignore_classes {
            if let Some(f) = ignored.get_mut(c as usize) {
                *f = true;
            }
        }
        Ok(LandCoverAccumulator {
            cfg: cfg.clone(),
            n,
            pred_nodata,
            truth_nodata,
            ignored,
            confusion: vec![0; n * n],
        })
    }

    fn class_index(&self, v: f64) -> Result<usize> {
        if v >= 0.0 && v.fract() == 0.0 && (v as usize) < self.n {
            Ok(v as usize)
        } else {
            Err(Error::ClassOutOfRange { value: v, num_classes: self.n })
        }
    }

    /// Add a window of predicted and true classes (same shape, any integer pixel type).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the shapes differ from each other or from `window`;
    /// [`Error::ClassOutOfRange`] for a valid pixel that is not a configured class.
    pub fn update<P: RasterElement, T: RasterElement>(
        &mut self,
        window: Window,
        pred: ArrayView2<'_, P>,
        truth: ArrayView2<'_, T>,
    ) -> Result<()> {
        if pred.dim() != (window.height, window.width) || truth.dim() != pred.dim() {
            return Err(Error::Invalid(format!(
                "land-cover metrics: window {window} needs {}x{} arrays, got prediction {:?} and truth {:?}",
                window.height,
                window.width,
                pred.dim(),
                truth.dim()
            )));
        }
        let skip = |v: f64, nd: Option<NoData>| v.is_nan() || nd.is_some_and(|n| n.matches(v));
        for (p, t) in pred.iter().zip(truth.iter()) {
            let (p, t) = (p.to_f64(), t.to_f64());
            if skip(p, self.pred_nodata) || skip(t, self.truth_nodata) {
                continue;
            }
            let ti = self.class_index(t)?;
            if self.ignored[ti] {
                continue;
            }
            let pi = self.class_index(p)?;
            self.confusion[ti * self.n + pi] += 1;
        }
        Ok(())
    }

    /// Add another accumulator's counts.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the configurations differ.
    pub fn merge(&mut self, other: &LandCoverAccumulator) -> Result<()> {
        if self.cfg != other.cfg {
            return Err(Error::Invalid(
                "land-cover metrics: cannot merge accumulators with different classes".into(),
            ));
        }
        for (a, b) in self.confusion.iter_mut().zip(&other.confusion) {
            *a += b;
        }
        Ok(())
    }

    /// The metrics of everything fed so far.
    pub fn finish(&self) -> LandCoverMetrics {
        let n = self.n;
        let cm = |t: usize, p: usize| self.confusion[t * n + p];
        let total: u64 = self.confusion.iter().sum();
        let diag: u64 = (0..n).map(|k| cm(k, k)).sum();
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let mut per_class = Vec::with_capacity(n);
        let mut ious = Vec::new();
        let mut chance = 0.0;
        for k in 0..n {
            let tp = cm(k, k) as f64;
            let support: u64 = (0..n).map(|p| cm(k, p)).sum();
            let predicted: u64 = (0..n).map(|t| cm(t, k)).sum();
            let (fp, fnn) = (predicted as f64 - tp, support as f64 - tp);
            let iou = r(tp, tp + fp + fnn);
            let precision = r(tp, tp + fp);
            let recall = r(tp, tp + fnn);
            if !self.ignored[k] && iou.is_finite() {
                ious.push(iou);
            }
            chance += support as f64 * predicted as f64;
            per_class.push(ClassMetrics {
                class: k as u32,
                name: self.cfg.class_names[k].clone(),
                iou,
                precision,
                recall,
                f1: r(2.0 * precision * recall, precision + recall),
                support,
                predicted,
                ignored: self.ignored[k],
            });
        }
        let t = total as f64;
        let po = r(diag as f64, t);
        let pe = r(chance, t * t);
        LandCoverMetrics {
            pixels: total,
            overall_accuracy: po,
            miou: r(ious.iter().sum(), ious.len() as f64),
            kappa: if pe < 1.0 { (po - pe) / (1.0 - pe) } else { f64::NAN },
            per_class,
            confusion: (0..n).map(|t| (0..n).map(|p| cm(t, p)).collect()).collect(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LandCoverMetricsConfig {
        &self.cfg
    }
}
