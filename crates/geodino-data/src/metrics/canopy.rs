//! Canopy-height metrics: MAE, RMSE, bias, R², block R², tree-cover IoU, errors by height.

use std::collections::HashMap;

use geodino_core::{NoData, Window};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::moments::Moments;
use crate::{Error, Result};

/// Where the blocks of block R² lie in a scene.
///
/// Tolan et al. evaluate 256 × 256 crops: each crop drops a `border` of 3 pixels at its top and
/// left (`chm[..., 3:, 3:]`) and is average-pooled with 50 × 50 windows (`nn.AvgPool2d(50)`, which
/// drops the incomplete remainder), giving 5 × 5 blocks per crop; R² is computed over the block
/// means of the whole dataset. For a whole scene geodino defines:
///
/// * `crop: None` (default): the scene is one crop. Block `(i, j)` covers rows
///   `border + 50·i .. border + 50·(i+1)` and columns `border + 50·j .. border + 50·(j+1)`, for
///   every block that lies entirely inside the scene; the top/left border and the incomplete
///   remainder at the right/bottom are not in any block.
/// * `crop: Some(c)`: the scene is cut into `c` × `c` crops from its top-left corner (incomplete
///   crops at the right/bottom are dropped) and each crop is blocked as above: with `c = 256`
///   this reproduces `inference.py` on a mosaic of its test crops.
///
/// A block's prediction and truth are the means over its pixels valid in both rasters; a block
/// counts only when at least `min_valid_fraction` of its pixels are valid (default 1.0: every
/// pixel, so that scenes without nodata give exactly the reference's numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockLayout {
    /// Block side in pixels. Default 50.
    pub block: usize,
    /// Pixels dropped at the top and left (of the scene, or of each crop). Default 3.
    pub border: usize,
    /// Crop side in pixels, or `None` for the whole scene as one crop. Default `None`.
    pub crop: Option<usize>,
    /// Fraction of a block's pixels that must be valid for the block to count. Default 1.0.
    pub min_valid_fraction: f64,
}

impl Default for BlockLayout {
    fn default() -> Self {
        BlockLayout { block: 50, border: 3, crop: None, min_valid_fraction: 1.0 }
    }
}

impl BlockLayout {
    /// Check the numbers.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero block, a crop not larger than border + block, or a fraction
    /// outside `(0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if self.block == 0 {
            return Err(Error::Invalid("block R²: the block size must be positive".into()));
        }
        if let Some(c) = self.crop
            && c < self.border + self.block
        {
            return Err(Error::Invalid(format!(
                "block R²: a crop of {c} px holds no {} px block after a {} px border",
                self.block, self.border
            )));
        }
        if !(self.min_valid_fraction > 0.0 && self.min_valid_fraction <= 1.0) {
            return Err(Error::Invalid(format!(
                "block R²: min_valid_fraction must be in (0, 1], got {}",
                self.min_valid_fraction
            )));
        }
        Ok(())
    }

    fn per_crop(&self, len: usize) -> usize {
        if len <= self.border { 0 } else { (len - self.border) / self.block }
    }

    /// Number of blocks along an axis of `len` pixels.
    pub fn blocks_along(&self, len: usize) -> usize {
        match self.crop {
            None => self.per_crop(len),
            Some(c) => (len / c) * self.per_crop(c),
        }
    }

    /// The block index of pixel `p` along an axis of `len` pixels, or `None` when the pixel is in
    /// no block (border, remainder, incomplete crop).
    pub fn block_of(&self, p: usize, len: usize) -> Option<usize> {
        match self.crop {
            None => {
                let j = p.checked_sub(self.border)? / self.block;
                (p < len && j < self.per_crop(len)).then_some(j)
            }
            Some(c) => {
                let k = p / c;
                if k >= len / c {
                    return None;
                }
                let j = (p % c).checked_sub(self.border)? / self.block;
                let per = self.per_crop(c);
                (j < per).then_some(k * per + j)
            }
        }
    }
}

/// Configuration of [`CanopyAccumulator`]. Defaults follow the references: Tolan et al. for the
/// clamping and block R², Open-Canopy for the 2 m tree-cover threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanopyMetricsConfig {
    /// A pixel is "tree" when its height is strictly above this (m). Default 2.0.
    pub tree_threshold_m: f64,
    /// The block-R² layout.
    pub blocks: BlockLayout,
    /// Clamp negative heights to 0 in both rasters before any metric, as Tolan et al. do
    /// (`pred.relu()`, `chm[chm < 0] = 0`). Default true.
    pub clamp_negative: bool,
    /// Upper edges (m) of the true-height bins of the error breakdown; a last open bin follows.
    /// Default `[2, 5, 10, 20, 30]`.
    pub height_bin_edges_m: Vec<f64>,
    /// Bins per axis of the predicted-vs-true histogram. Default 100.
    pub histogram_bins: usize,
    /// Upper edge (m) of the histogram; higher values fall in the last bin. Default 50.
    pub histogram_max_m: f64,
}

impl Default for CanopyMetricsConfig {
    fn default() -> Self {
        CanopyMetricsConfig {
            tree_threshold_m: 2.0,
            blocks: BlockLayout::default(),
            clamp_negative: true,
            height_bin_edges_m: vec![2.0, 5.0, 10.0, 20.0, 30.0],
            histogram_bins: 100,
            histogram_max_m: 50.0,
        }
    }
}

/// A square 2-D histogram of (true, predicted) values over `[0, max]` on both axes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histogram2d {
    /// Bins per axis.
    pub bins: usize,
    /// Upper edge of the last bin (the lower edge of the first is 0).
    pub max: f64,
    /// `counts[pred_bin * bins + true_bin]`.
    pub counts: Vec<u64>,
}

impl Histogram2d {
    fn new(bins: usize, max: f64) -> Self {
        Histogram2d { bins, max, counts: vec![0; bins * bins] }
    }

    #[inline]
    fn bin(&self, v: f64) -> usize {
        let b = (v / self.max * self.bins as f64).floor();
        if b <= 0.0 { 0 } else { (b as usize).min(self.bins - 1) }
    }

    #[inline]
    fn add(&mut self, truth: f64, pred: f64) {
        let i = self.bin(pred) * self.bins + self.bin(truth);
        self.counts[i] += 1;
    }
}

/// Tree-cover agreement at a height threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeCover {
    /// The threshold (m); tree means height > threshold.
    pub threshold_m: f64,
    /// Intersection over union of the two tree masks.
    pub iou: f64,
    /// Of the pixels predicted tree, the fraction that are tree.
    pub precision: f64,
    /// Of the tree pixels, the fraction predicted tree.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Tree in both.
    pub true_positive: u64,
    /// Predicted tree, not tree.
    pub false_positive: u64,
    /// Tree, not predicted tree.
    pub false_negative: u64,
}

/// Errors over the pixels whose true height is in `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeightBin {
    /// Lower edge (m).
    pub lo: f64,
    /// Upper edge (m); infinite for the last bin (written `null` in JSON).
    pub hi: f64,
    /// Number of pixels.
    pub pixels: u64,
    /// Mean absolute error (m).
    pub mae: f64,
    /// Mean error, prediction − truth (m).
    pub bias: f64,
    /// Root mean squared error (m).
    pub rmse: f64,
}

/// The canopy-height metrics of a scene. Undefined values (no pixels, constant truth) are NaN,
/// which JSON writes as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanopyMetrics {
    /// Pixels valid in both rasters.
    pub pixels: u64,
    /// Mean absolute error (m).
    pub mae: f64,
    /// Root mean squared error (m).
    pub rmse: f64,
    /// Mean error, prediction − truth (m).
    pub bias: f64,
    /// Pixel R² = 1 − Σ(p − t)² / Σ(t − t̄)².
    pub r2: f64,
    /// R² over block means (see [`BlockLayout`]).
    pub block_r2: f64,
    /// Blocks that entered block R².
    pub blocks: u64,
    /// Complete blocks left out for having too few valid pixels.
    pub blocks_dropped: u64,
    /// Blocks not completely covered by the windows fed (0 after a whole scene).
    pub blocks_incomplete: u64,
    /// Mean true height (m).
    pub mean_truth: f64,
    /// Mean predicted height (m).
    pub mean_pred: f64,
    /// Tree-cover agreement.
    pub tree_cover: TreeCover,
    /// Errors by true-height bin.
    pub by_height: Vec<HeightBin>,
    /// Predicted-vs-true histogram (for density plots; not written to JSON).
    #[serde(skip)]
    pub histogram: Histogram2d,
    /// The configuration used.
    pub config: CanopyMetricsConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct BlockAcc {
    seen: u32,
    valid: u32,
    sum_p: f64,
    sum_t: f64,
}

impl BlockAcc {
    fn add(&mut self, o: &BlockAcc) {
        self.seen += o.seen;
        self.valid += o.valid;
        self.sum_p += o.sum_p;
        self.sum_t += o.sum_t;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ErrAcc {
    n: u64,
    sum_abs: f64,
    sum_err: f64,
    sum_sq: f64,
}

impl ErrAcc {
    #[inline]
    fn add(&mut self, e: f64) {
        self.n += 1;
        self.sum_abs += e.abs();
        self.sum_err += e;
        self.sum_sq += e * e;
    }
    fn merge(&mut self, o: &ErrAcc) {
        self.n += o.n;
        self.sum_abs += o.sum_abs;
        self.sum_err += o.sum_err;
        self.sum_sq += o.sum_sq;
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Streaming canopy-height metrics over a `width` × `height` scene.
///
/// Feed every pixel once, in non-overlapping windows ([`update`](Self::update)), from one thread
/// or from several accumulators later [merged](Self::merge). Memory: the per-pixel statistics are
/// a handful of sums; block R² keeps partial sums only for blocks not yet complete (one row of
/// blocks when windows come in row order) and a column → block table of `width` entries.
#[derive(Debug, Clone)]
pub struct CanopyAccumulator {
    cfg: CanopyMetricsConfig,
    width: usize,
    height: usize,
    pred_nodata: Option<NoData>,
    truth_nodata: Option<NoData>,
    nbx: usize,
    block_area: u32,
    min_valid: u32,
    col_block: Vec<u32>,
    err: ErrAcc,
    sum_pred: f64,
    truth: Moments,
    tree: [u64; 3],
    bins: Vec<ErrAcc>,
    hist: Histogram2d,
    pending: HashMap<usize, BlockAcc>,
    block_res: f64,
    block_truth: Moments,
    blocks_dropped: u64,
}

const NO_BLOCK: u32 = u32::MAX;

impl CanopyAccumulator {
    /// An accumulator for a `width` × `height` scene whose prediction and truth rasters have the
    /// given nodata values (NaN pixels are always invalid).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an invalid configuration.
    pub fn new(
        cfg: &CanopyMetricsConfig,
        width: usize,
        height: usize,
        pred_nodata: Option<NoData>,
        truth_nodata: Option<NoData>,
    ) -> Result<Self> {
        cfg.blocks.validate()?;
        if cfg.histogram_bins == 0 || cfg.histogram_max_m.is_nan() || cfg.histogram_max_m <= 0.0 {
            return Err(Error::Invalid(
                "canopy metrics: the histogram needs ≥ 1 bin and a positive maximum".into(),
            ));
        }
        if cfg.height_bin_edges_m.windows(2).any(|w| w[1] <= w[0])
            || cfg.height_bin_edges_m.iter().any(|e| !e.is_finite())
        {
            return Err(Error::Invalid(format!(
                "canopy metrics: height bin edges must be finite and increasing, got {:?}",
                cfg.height_bin_edges_m
            )));
        }
        let b = &cfg.blocks;
        let col_block =
            (0..width).map(|c| b.block_of(c, width).map_or(NO_BLOCK, |j| j as u32)).collect();
        let block_area = (b.block * b.block) as u32;
        let min_valid = ((b.min_valid_fraction * block_area as f64).ceil() as u32).max(1);
        Ok(CanopyAccumulator {
            cfg: cfg.clone(),
            width,
            height,
            pred_nodata,
            truth_nodata,
            nbx: b.blocks_along(width),
            block_area,
            min_valid,
            col_block,
            err: ErrAcc::default(),
            sum_pred: 0.0,
            truth: Moments::default(),
            tree: [0; 3],
            bins: vec![ErrAcc::default(); cfg.height_bin_edges_m.len() + 1],
            hist: Histogram2d::new(cfg.histogram_bins, cfg.histogram_max_m),
            pending: HashMap::new(),
            block_res: 0.0,
            block_truth: Moments::default(),
            blocks_dropped: 0,
        })
    }

    #[inline]
    fn valid(v: f32, nodata: Option<NoData>) -> bool {
        v.is_finite() && !nodata.is_some_and(|n| n.matches(v as f64))
    }

    /// Add the pixels of `window` (which must lie inside the scene): `pred` and `truth` are
    /// `(row, col)` arrays of the window's size.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the arrays do not match the window or the window leaves the scene.
    pub fn update(
        &mut self,
        window: Window,
        pred: ArrayView2<'_, f32>,
        truth: ArrayView2<'_, f32>,
    ) -> Result<()> {
        if pred.dim() != (window.height, window.width) || truth.dim() != pred.dim() {
            return Err(Error::Invalid(format!(
                "canopy metrics: window {window} needs {}x{} arrays, got prediction {:?} and truth {:?}",
                window.height,
                window.width,
                pred.dim(),
                truth.dim()
            )));
        }
        if !window.is_inside(self.width, self.height) {
            return Err(Error::Invalid(format!(
                "canopy metrics: window {window} is not inside the {}x{} scene",
                self.width, self.height
            )));
        }
        let (c0, r0) = (window.col_off as usize, window.row_off as usize);
        // Local block accumulators for the blocks this window touches.
        let cols = &self.col_block[c0..c0 + window.width];
        let bj0 = cols.iter().copied().find(|&b| b != NO_BLOCK);
        let bj1 = cols.iter().rev().copied().find(|&b| b != NO_BLOCK);
        let b = self.cfg.blocks.clone();
        let row_blocks: Vec<Option<usize>> =
            (r0..r0 + window.height).map(|r| b.block_of(r, self.height)).collect();
        let bi0 = row_blocks.iter().flatten().copied().min();
        let bi1 = row_blocks.iter().flatten().copied().max();
        let (nlc, nlr) = match (bj0, bj1, bi0, bi1) {
            (Some(a), Some(z), Some(ra), Some(rz)) => ((z - a + 1) as usize, rz - ra + 1),
            _ => (0, 0),
        };
        let (bj0, bi0) = (bj0.unwrap_or(0) as usize, bi0.unwrap_or(0));
        let mut local = vec![BlockAcc::default(); nlc * nlr];

        let clamp = self.cfg.clamp_negative;
        let thr = self.cfg.tree_threshold_m;
        let mut err = ErrAcc::default();
        let (mut sum_p, mut sum_t, mut sum_t2) = (0.0f64, 0.0f64, 0.0f64);
        let mut tree = [0u64; 3];
        for (i, (prow, trow)) in pred.rows().into_iter().zip(truth.rows()).enumerate() {
            let bi = row_blocks[i];
            for (j, (&p, &t)) in prow.iter().zip(trow.iter()).enumerate() {
                let bj = cols[j];
                let ok = Self::valid(p, self.pred_nodata) && Self::valid(t, self.truth_nodata);
                let (mut p, mut t) = (p as f64, t as f64);
                if clamp {
                    p = p.max(0.0);
                    t = t.max(0.0);
                }
                if let Some(bi) = bi
                    && bj != NO_BLOCK
                {
                    let acc = &mut local[(bi - bi0) * nlc + (bj as usize - bj0)];
                    acc.seen += 1;
                    if ok {
                        acc.valid += 1;
                        acc.sum_p += p;
                        acc.sum_t += t;
                    }
                }
                if !ok {
                    continue;
                }
                let e = p - t;
                err.add(e);
                sum_p += p;
                sum_t += t;
                sum_t2 += t * t;
                match (p > thr, t > thr) {
                    (true, true) => tree[0] += 1,
                    (true, false) => tree[1] += 1,
                    (false, true) => tree[2] += 1,
                    (false, false) => {}
                }
                let k = self.cfg.height_bin_edges_m.partition_point(|&edge| edge <= t);
                self.bins[k].add(e);
                self.hist.add(t, p);
            }
        }
        self.truth.merge(&Moments::from_sums(err.n as f64, sum_t, sum_t2));
        self.err.merge(&err);
        self.sum_pred += sum_p;
        for k in 0..3 {
            self.tree[k] += tree[k];
        }
        for (idx, acc) in local.iter().enumerate() {
            if acc.seen == 0 {
                continue;
            }
            let key = (bi0 + idx / nlc.max(1)) * self.nbx + bj0 + idx % nlc.max(1);
            self.add_block(key, acc);
        }
        Ok(())
    }

    fn add_block(&mut self, key: usize, acc: &BlockAcc) {
        let entry = self.pending.entry(key).or_default();
        entry.add(acc);
        if entry.seen >= self.block_area {
            let done = self.pending.remove(&key).expect("the entry was just updated");
            if done.valid >= self.min_valid {
                let n = done.valid as f64;
                let (p, t) = (done.sum_p / n, done.sum_t / n);
                self.block_res += (p - t) * (p - t);
                self.block_truth.push(t);
            } else {
                self.blocks_dropped += 1;
            }
        }
    }

    /// Add the statistics of another accumulator over other pixels of the same scene.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the two were made for different scenes or configurations.
    pub fn merge(&mut self, other: CanopyAccumulator) -> Result<()> {
        if (self.width, self.height) != (other.width, other.height) || self.cfg != other.cfg {
            return Err(Error::Invalid(
                "canopy metrics: cannot merge accumulators of different scenes or configurations"
                    .into(),
            ));
        }
        self.err.merge(&other.err);
        self.sum_pred += other.sum_pred;
        self.truth.merge(&other.truth);
        for k in 0..3 {
            self.tree[k] += other.tree[k];
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.merge(b);
        }
        for (a, b) in self.hist.counts.iter_mut().zip(&other.hist.counts) {
            *a += b;
        }
        self.block_res += other.block_res;
        self.block_truth.merge(&other.block_truth);
        self.blocks_dropped += other.blocks_dropped;
        let mut keys: Vec<_> = other.pending.into_iter().collect();
        keys.sort_by_key(|(k, _)| *k);
        for (k, acc) in keys {
            self.add_block(k, &acc);
        }
        Ok(())
    }

    /// The metrics of everything fed so far.
    pub fn finish(&self) -> CanopyMetrics {
        let n = self.err.n as f64;
        let r2 = |res: f64, m: &Moments| {
            if m.n >= 1.0 && m.m2 > 0.0 { 1.0 - res / m.m2 } else { f64::NAN }
        };
        let [tp, fp, fnn] = self.tree.map(|v| v as f64);
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fnn);
        let edges = &self.cfg.height_bin_edges_m;
        let by_height = self
            .bins
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let bn = b.n as f64;
                HeightBin {
                    lo: if k == 0 { 0.0 } else { edges[k - 1] },
                    hi: edges.get(k).copied().unwrap_or(f64::INFINITY),
                    pixels: b.n,
                    mae: ratio(b.sum_abs, bn),
                    bias: ratio(b.sum_err, bn),
                    rmse: ratio(b.sum_sq, bn).sqrt(),
                }
            })
            .collect();
        CanopyMetrics {
            pixels: self.err.n,
            mae: ratio(self.err.sum_abs, n),
            rmse: ratio(self.err.sum_sq, n).sqrt(),
            bias: ratio(self.err.sum_err, n),
            r2: r2(self.err.sum_sq, &self.truth),
            block_r2: r2(self.block_res, &self.block_truth),
            blocks: self.block_truth.n as u64,
            blocks_dropped: self.blocks_dropped,
            blocks_incomplete: self.pending.len() as u64,
            mean_truth: if n > 0.0 { self.truth.mean } else { f64::NAN },
            mean_pred: ratio(self.sum_pred, n),
            tree_cover: TreeCover {
                threshold_m: self.cfg.tree_threshold_m,
                iou: ratio(tp, tp + fp + fnn),
                precision,
                recall,
                f1: ratio(2.0 * precision * recall, precision + recall),
                true_positive: self.tree[0],
                false_positive: self.tree[1],
                false_negative: self.tree[2],
            },
            by_height,
            histogram: self.hist.clone(),
            config: self.cfg.clone(),
        }
    }

    /// Number of blocks currently held incomplete (the memory block R² uses).
    pub fn pending_blocks(&self) -> usize {
        self.pending.len()
    }
}
