//! The typed configuration of head training ([`HeadTrainConfig`]): TOML files in
//! `configs/heads/`, every section and key optional, unknown keys rejected.

use std::path::Path;

use geodino_heads::{DepthConfig, NormalizationSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the head learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HeadTask {
    /// Canopy height in metres (a DPT head over height bins).
    #[default]
    CanopyHeight,
    /// Land cover classes.
    Landcover,
}

impl std::str::FromStr for HeadTask {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "canopy-height" | "canopy" | "chm" => Ok(HeadTask::CanopyHeight),
            "landcover" | "land-cover" => Ok(HeadTask::Landcover),
            other => Err(Error::Config(format!(
                "unknown task {other:?}; known: canopy-height, landcover"
            ))),
        }
    }
}

/// The decoder to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderKind {
    /// The DPT decoder (four backbone layers).
    Dpt,
    /// The linear head (BatchNorm + 1×1 conv on concatenated layers; land cover).
    Linear,
}

/// `[head]`: the architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadArchConfig {
    /// `dpt` or `linear` (land cover only). Default `dpt`.
    pub decoder: DecoderKind,
    /// Backbone blocks the head reads (negative = from the end). Default the last four.
    pub layers: Vec<i64>,
    /// DPT fusion width. Default 64.
    pub channels: i64,
    /// DPT reassemble widths. Default `[32, 64, 96, 128]`.
    pub post_process_channels: Vec<i64>,
    /// DPT hidden width of the output head. Default 32.
    pub n_hidden_channels: i64,
    /// Canopy height: number of height bins. Default 64.
    pub bins: i64,
    /// Canopy height: bins → metres. Default linear bins over 0.001–48 m, softmax weights.
    pub depth: DepthConfig,
    /// Input normalisation preset (`sat493m`, `chmv2`, `lvd1689m`). Default `sat493m`.
    pub normalization: String,
    /// A short name stored in the head file.
    pub name: Option<String>,
}

impl Default for HeadArchConfig {
    fn default() -> Self {
        HeadArchConfig {
            decoder: DecoderKind::Dpt,
            layers: vec![-4, -3, -2, -1],
            channels: 64,
            post_process_channels: vec![32, 64, 96, 128],
            n_hidden_channels: 32,
            bins: 64,
            depth: DepthConfig {
                min_depth: 0.001,
                max_depth: 48.0,
                bins_strategy: geodino_heads::BinsStrategy::Linear,
                norm_strategy: geodino_heads::NormStrategy::Softmax,
            },
            normalization: "sat493m".into(),
            name: None,
        }
    }
}

/// How label rasters on another grid than their image are brought onto it
/// (`data.resample_labels`, `--resample-labels`). Resampling runs GDAL's warper (the
/// `gdalwarp` utility's library entry point) and needs the `gdal` cargo feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LabelResampling {
    /// Labels must be on the image's grid; a different grid is an error.
    #[default]
    None,
    /// `nearest` for land-cover classes, `average` for canopy heights.
    Auto,
    /// Nearest neighbour (`gdalwarp -r near`).
    Nearest,
    /// Majority of the covered source pixels (`-r mode`), for classes when downsampling.
    Mode,
    /// Area-weighted mean of the covered source pixels (`-r average`); heights only.
    Average,
    /// Bilinear interpolation (`-r bilinear`); heights only.
    Bilinear,
    /// Cubic convolution (`-r cubic`); heights only.
    Cubic,
}

impl LabelResampling {
    /// The `gdalwarp -r` method used for `task` (`None` when resampling is off).
    pub fn gdal_method(self, task: HeadTask) -> Option<&'static str> {
        Some(match self {
            LabelResampling::None => return None,
            LabelResampling::Auto => match task {
                HeadTask::Landcover => "near",
                HeadTask::CanopyHeight => "average",
            },
            LabelResampling::Nearest => "near",
            LabelResampling::Mode => "mode",
            LabelResampling::Average => "average",
            LabelResampling::Bilinear => "bilinear",
            LabelResampling::Cubic => "cubic",
        })
    }
}

impl std::str::FromStr for LabelResampling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => LabelResampling::None,
            "auto" => LabelResampling::Auto,
            "nearest" | "near" => LabelResampling::Nearest,
            "mode" => LabelResampling::Mode,
            "average" => LabelResampling::Average,
            "bilinear" => LabelResampling::Bilinear,
            "cubic" => LabelResampling::Cubic,
            other => {
                return Err(Error::Config(format!(
                    "unknown label resampling {other:?}; known: none, auto, nearest, mode, \
                     average, bilinear, cubic"
                )));
            }
        })
    }
}

/// `[data]`: chip sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadDataConfig {
    /// Chip side in pixels (a multiple of the patch size). Default 64.
    pub chip_size: usize,
    /// Chips sampled over all image/label pairs (features cached once). Default 512.
    pub chips: usize,
    /// A chip is kept when at least this fraction of its labels is valid. Default 0.5.
    pub min_valid_fraction: f64,
    /// Label band (1-based). Default 1.
    pub label_band: usize,
    /// Land cover: the class count (values `0..n`). Default: from the label raster's class
    /// names (category names or `GEODINO_CLASS_NAMES`).
    pub num_classes: Option<usize>,
    /// Land cover: the class value that marks unlabelled pixels (ignored). Default 0.
    pub ignore_index: i64,
    /// Labels on another grid than their image: `none` (an error, the default), or warp them
    /// onto the image's grid with GDAL (`auto`, `nearest`, `mode`, `average`, `bilinear`,
    /// `cubic`; needs the `gdal` feature). Land cover takes `nearest` or `mode` only.
    pub resample_labels: LabelResampling,
}

impl Default for HeadDataConfig {
    fn default() -> Self {
        HeadDataConfig {
            chip_size: 64,
            chips: 512,
            min_valid_fraction: 0.5,
            label_band: 1,
            num_classes: None,
            ignore_index: 0,
            resample_labels: LabelResampling::None,
        }
    }
}

/// Canopy regression loss on the predicted height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionLoss {
    /// Mean absolute error in metres over valid pixels.
    L1,
    /// Scale-invariant log loss `sqrt(mean(d²) − λ·mean(d)²)`, `d = ln(pred + 1) − ln(true + 1)`.
    Silog,
}

/// `[loss]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadLossConfig {
    /// Canopy: `l1` or `silog`. Default `l1`.
    pub regression: RegressionLoss,
    /// Canopy: SiLog λ. Default 0.85.
    pub silog_lambda: f64,
    /// Canopy: weight of a cross-entropy on the bin logits towards the bin nearest the true
    /// height. Default 0.1.
    pub bin_ce_weight: f64,
    /// Land cover: per-class weights of the cross-entropy (empty: all 1).
    pub class_weights: Vec<f64>,
}

impl Default for HeadLossConfig {
    fn default() -> Self {
        HeadLossConfig {
            regression: RegressionLoss::L1,
            silog_lambda: 0.85,
            bin_ce_weight: 0.1,
            class_weights: Vec::new(),
        }
    }
}

/// `[optim]`: AdamW with a linear warmup and cosine decay of the learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadOptimConfig {
    /// Iterations. Default 600.
    pub iterations: usize,
    /// Chips per batch. Default 16.
    pub batch_size: usize,
    /// Peak learning rate. Default 1e-3.
    pub lr: f64,
    /// Final learning rate. Default 1e-5.
    pub min_lr: f64,
    /// Warmup iterations. Default 30.
    pub warmup_iterations: usize,
    /// Weight decay (not on biases and norms). Default 1e-4.
    pub weight_decay: f64,
    /// Gradient-norm clipping (0: off). Default 3.0.
    pub clip_grad: f64,
}

impl Default for HeadOptimConfig {
    fn default() -> Self {
        HeadOptimConfig {
            iterations: 600,
            batch_size: 16,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_iterations: 30,
            weight_decay: 1e-4,
            clip_grad: 3.0,
        }
    }
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadRunConfig {
    /// Seed of chip sampling, batches, initialisation and dropout. Default 0.
    pub seed: u64,
    /// libtorch intra-op threads (exact resume needs the same count). Default 2.
    pub num_threads: usize,
    /// Chips per backbone forward when caching features. Default 16.
    pub feature_batch: usize,
}

impl Default for HeadRunConfig {
    fn default() -> Self {
        HeadRunConfig { seed: 0, num_threads: 2, feature_batch: 16 }
    }
}

/// `[checkpoint]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadCheckpointConfig {
    /// Iterations between checkpoints. Default 100.
    pub period: usize,
    /// Checkpoints kept. Default 2.
    pub max_to_keep: usize,
}

impl Default for HeadCheckpointConfig {
    fn default() -> Self {
        HeadCheckpointConfig { period: 100, max_to_keep: 2 }
    }
}

/// `[eval]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadEvalConfig {
    /// Tile side (pixels, a multiple of the patch size) for predicting held-out scenes.
    /// Default 256.
    pub tile: usize,
    /// Iterations between loss-curve refreshes. Default 50.
    pub plot_period: usize,
}

impl Default for HeadEvalConfig {
    fn default() -> Self {
        HeadEvalConfig { tile: 256, plot_period: 50 }
    }
}

/// The whole configuration of `geodino train-head`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HeadTrainConfig {
    /// `canopy-height` or `landcover` (the command line's `--task` wins).
    pub task: HeadTask,
    /// Architecture.
    pub head: HeadArchConfig,
    /// Chips.
    pub data: HeadDataConfig,
    /// Losses.
    pub loss: HeadLossConfig,
    /// Optimiser.
    pub optim: HeadOptimConfig,
    /// Seeds and threads.
    pub train: HeadRunConfig,
    /// Checkpoints.
    pub checkpoint: HeadCheckpointConfig,
    /// Evaluation.
    pub eval: HeadEvalConfig,
}

impl HeadTrainConfig {
    /// Parse TOML text (`origin` names the source in errors). Values are checked by
    /// [`HeadTrainConfig::validate`] once command-line overrides (`--task`) are applied.
    ///
    /// # Errors
    /// Syntax errors, unknown keys, values of the wrong type.
    pub fn from_toml(text: &str, origin: &str) -> Result<HeadTrainConfig> {
        toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))
    }

    /// Read a TOML file.
    ///
    /// # Errors
    /// Unreadable files and everything [`HeadTrainConfig::from_toml`] rejects.
    pub fn load(path: &Path) -> Result<HeadTrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("plain configuration")
    }

    /// The input normalisation.
    ///
    /// # Errors
    /// An unknown preset.
    pub fn normalization(&self) -> Result<NormalizationSpec> {
        NormalizationSpec::preset(&self.head.normalization)
            .map_err(|e| Error::Config(format!("head.normalization: {e}")))
    }

    /// Check values that serde cannot.
    ///
    /// # Errors
    /// The first invalid value, naming its key.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.data.chip_size == 0 || self.data.chips == 0 {
            return bad("data.chip_size and data.chips must be positive");
        }
        if !(0.0..=1.0).contains(&self.data.min_valid_fraction) {
            return bad("data.min_valid_fraction must lie in [0, 1]");
        }
        if self.data.label_band == 0 {
            return bad("data.label_band is 1-based");
        }
        if self.optim.batch_size == 0 {
            return bad("optim.batch_size must be positive");
        }
        if self.optim.warmup_iterations > self.optim.iterations {
            return bad("optim.warmup_iterations exceeds optim.iterations");
        }
        if self.optim.lr.is_nan() || self.optim.lr <= 0.0 || self.optim.min_lr < 0.0 {
            return bad("optim.lr must be positive and optim.min_lr non-negative");
        }
        if self.checkpoint.period == 0 || self.checkpoint.max_to_keep == 0 {
            return bad("checkpoint.period and checkpoint.max_to_keep must be positive");
        }
        if self.train.num_threads == 0 || self.train.feature_batch == 0 {
            return bad("train.num_threads and train.feature_batch must be positive");
        }
        if self.task == HeadTask::CanopyHeight && self.head.decoder != DecoderKind::Dpt {
            return bad("head.decoder: canopy-height heads are DPT heads (over height bins)");
        }
        if self.head.bins < 2 && self.task == HeadTask::CanopyHeight {
            return bad("head.bins must be at least 2");
        }
        if self.head.decoder == DecoderKind::Dpt && self.head.layers.len() != 4 {
            return bad("head.layers: a DPT head reads exactly four backbone layers");
        }
        if self.head.layers.is_empty() {
            return bad("head.layers must not be empty");
        }
        if self.task == HeadTask::Landcover
            && matches!(
                self.data.resample_labels,
                LabelResampling::Average | LabelResampling::Bilinear | LabelResampling::Cubic
            )
        {
            return bad("data.resample_labels: land-cover classes cannot be interpolated; use \
                 nearest, mode or auto");
        }
        self.head.depth.validate().map_err(|e| Error::Config(format!("head.depth: {e}")))?;
        self.normalization()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_with_the_origin() {
        let e = HeadTrainConfig::from_toml("[optim]\nlrr = 3\n", "x.toml").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("x.toml") && m.contains("lrr"), "{m}");
        let c = HeadTrainConfig::from_toml(
            "task = \"landcover\"\n[head]\ndecoder = \"linear\"\nlayers = [-1]\n",
            "y",
        )
        .unwrap();
        assert_eq!(c.task, HeadTask::Landcover);
        assert_eq!(c.optim, HeadOptimConfig::default());
        let e = HeadTrainConfig::from_toml("[head]\ndecoder = \"linear\"\n", "z")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("DPT"), "{e}");
        let round = HeadTrainConfig::from_toml(&c.to_toml(), "round").unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn label_resampling_defaults_by_task_and_refuses_interpolated_classes() {
        let c = HeadTrainConfig::default();
        assert_eq!(c.data.resample_labels, LabelResampling::None);
        assert_eq!(c.data.resample_labels.gdal_method(HeadTask::CanopyHeight), None);
        let auto = LabelResampling::Auto;
        assert_eq!(auto.gdal_method(HeadTask::CanopyHeight), Some("average"));
        assert_eq!(auto.gdal_method(HeadTask::Landcover), Some("near"));
        assert_eq!("near".parse::<LabelResampling>().unwrap(), LabelResampling::Nearest);
        assert!("lanczos".parse::<LabelResampling>().unwrap_err().to_string().contains("cubic"));
        let c = HeadTrainConfig::from_toml(
            "task = \"landcover\"\n[head]\ndecoder = \"linear\"\n[data]\nresample_labels = \"bilinear\"\n",
            "r.toml",
        )
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("data.resample_labels") && e.contains("interpolated"), "{e}");
        let round = HeadTrainConfig::from_toml(&c.to_toml(), "round").unwrap();
        assert_eq!(round.data.resample_labels, LabelResampling::Bilinear);
    }
}
