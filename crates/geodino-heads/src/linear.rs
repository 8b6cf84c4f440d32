//! The linear segmentation head of dinov3 (`eval/segmentation/models/heads/linear_head.py` at
//! commit 6876159): patch features (optionally several layers, each optionally concatenated
//! with its CLS, resized to the first layer's grid and concatenated) → `Dropout2d(0.1)`
//! (training only) → `BatchNorm2d` → `Conv1×1(→ C)`. Logits come out on the patch grid; the
//! caller upsamples them bilinearly to the image (see [`crate::DenseHead`]).

use geodino_nn::LayerFeatures;
use geodino_weights::StateDict;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::layers::{BatchNorm2d, Conv2d, ConvConfig};
use crate::{Error, Result};

/// Architecture of a [`LinearHead`]; defaults are those of the reference constructor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearHeadConfig {
    /// Backbone width of each input layer (one entry per layer). Default `[1024]`.
    pub in_channels: Vec<i64>,
    /// Number of classes `C`. Default 150 (ADE20k).
    pub n_output_channels: i64,
    /// `BatchNorm2d` before the classifier. Default true.
    pub use_batchnorm: bool,
    /// Concatenate each layer's CLS to its patches. Default false.
    pub use_cls_token: bool,
    /// `Dropout2d` probability in training. Default 0.1.
    pub dropout: f64,
}

impl Default for LinearHeadConfig {
    fn default() -> Self {
        LinearHeadConfig {
            in_channels: vec![1024],
            n_output_channels: 150,
            use_batchnorm: true,
            use_cls_token: false,
            dropout: 0.1,
        }
    }
}

impl LinearHeadConfig {
    /// Width of the concatenated features: `Σ D_i`, doubled with the CLS.
    pub fn channels(&self) -> i64 {
        let s: i64 = self.in_channels.iter().sum();
        if self.use_cls_token { 2 * s } else { s }
    }

    /// Check the widths and the dropout rate.
    ///
    /// # Errors
    /// No layers, non-positive widths, a dropout outside `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels.is_empty() || self.in_channels.iter().any(|&c| c <= 0) {
            return Err(Error::Config(format!(
                "linear head: in_channels {:?} must list one positive width per layer",
                self.in_channels
            )));
        }
        if self.n_output_channels <= 0 {
            return Err(Error::Config("linear head: n_output_channels must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "linear head: dropout {} not in [0, 1)",
                self.dropout
            )));
        }
        Ok(())
    }

    /// Infer the classifier from a state dict (`conv.weight` `(C, channels, 1, 1)`,
    /// `batchnorm_layer.*`), splitting the input width over `n_layers` equal layers; the CLS is
    /// assumed concatenated when `use_cls_token` says so.
    ///
    /// # Errors
    /// Missing `conv.weight` (named), or a width that does not split evenly.
    pub fn infer(sd: &StateDict, n_layers: usize, use_cls_token: bool) -> Result<LinearHeadConfig> {
        let src = if sd.source().is_empty() { "head state dict" } else { sd.source() };
        let w = sd
            .get("conv.weight")
            .map(|t| t.shape().to_vec())
            .ok_or_else(|| Error::checkpoint(src, "not a linear head: conv.weight is missing"))?;
        if w.len() != 4 || w[2] != 1 || w[3] != 1 {
            return Err(Error::checkpoint(
                src,
                format!("conv.weight has shape {w:?}, expected (C, D, 1, 1)"),
            ));
        }
        let parts = n_layers.max(1) * if use_cls_token { 2 } else { 1 };
        if w[1] % parts != 0 {
            return Err(Error::checkpoint(
                src,
                format!(
                    "conv.weight takes {} channels, not divisible over {parts} feature maps",
                    w[1]
                ),
            ));
        }
        let cfg = LinearHeadConfig {
            in_channels: vec![(w[1] / parts) as i64; n_layers.max(1)],
            n_output_channels: w[0] as i64,
            use_batchnorm: sd.contains("batchnorm_layer.weight"),
            use_cls_token,
            ..Default::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The linear head. Keys: `batchnorm_layer.*` (with BatchNorm), `conv.{weight,bias}`.
#[derive(Debug)]
pub struct LinearHead {
    cfg: LinearHeadConfig,
    /// `batchnorm_layer`.
    pub batchnorm_layer: Option<BatchNorm2d>,
    /// `conv` (1×1, bias).
    pub conv: Conv2d,
}

impl LinearHead {
    /// Create the variables under `vs` with the reference initialisation (classifier weight
    /// normal(0, 0.01), bias 0; BatchNorm identity).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(vs: nn::Path<'_>, cfg: &LinearHeadConfig) -> Result<LinearHead> {
        cfg.validate()?;
        let c = cfg.channels();
        let batchnorm_layer =
            cfg.use_batchnorm.then(|| BatchNorm2d::new(&vs / "batchnorm_layer", c));
        let conv = Conv2d::new(&vs / "conv", &ConvConfig::same(c, cfg.n_output_channels, 1, true));
        let head = LinearHead { cfg: cfg.clone(), batchnorm_layer, conv };
        head.init_weights();
        Ok(head)
    }

    /// The configuration.
    pub fn config(&self) -> &LinearHeadConfig {
        &self.cfg
    }

    /// Reset to the reference initialisation.
    pub fn init_weights(&self) {
        self.conv.init_normal(0.01);
        if let Some(bn) = &self.batchnorm_layer {
            bn.init();
        }
    }

    /// The concatenated input features (`_forward_feature`): per layer `cat(patch, CLS)` (with
    /// `use_cls_token`), every layer bilinearly resized (align_corners=False) to the first
    /// layer's grid, concatenated along channels.
    ///
    /// # Shapes
    /// per layer `patch (b, D_i, h_i, w_i)`, `cls (b, D_i)` → `(b, channels, h_0, w_0)`.
    ///
    /// # Errors
    /// A layer count or width that does not match the configuration.
    pub fn features(&self, feats: &[LayerFeatures]) -> Result<Tensor> {
        if feats.len() != self.cfg.in_channels.len() {
            return Err(Error::Input(format!(
                "the linear head takes {} layers, got {}",
                self.cfg.in_channels.len(),
                feats.len()
            )));
        }
        let mut maps = Vec::with_capacity(feats.len());
        for (i, f) in feats.iter().enumerate() {
            let s = f.patch.size();
            if s.len() != 4 || s[1] != self.cfg.in_channels[i] {
                return Err(Error::Input(format!(
                    "linear head layer {i}: features of shape {s:?}, expected (b, {}, h, w)",
                    self.cfg.in_channels[i]
                )));
            }
            maps.push(if self.cfg.use_cls_token {
                let cls = f.cls.unsqueeze(-1).unsqueeze(-1).expand_as(&f.patch);
                Tensor::cat(&[&f.patch, &cls], 1)
            } else {
                f.patch.shallow_clone()
            });
        }
        let s0 = maps[0].size();
        let maps: Vec<Tensor> =
            maps.iter().map(|m| m.upsample_bilinear2d([s0[2], s0[3]], false, None, None)).collect();
        Ok(Tensor::cat(&maps, 1))
    }

    /// Class logits on the first layer's patch grid: dropout (training only), BatchNorm
    /// (batch statistics in training), 1×1 convolution.
    ///
    /// # Shapes
    /// as [`LinearHead::features`] → `(b, C, h_0, w_0)`.
    ///
    /// # Errors
    /// As [`LinearHead::features`].
    pub fn forward_t(&self, feats: &[LayerFeatures], train: bool) -> Result<Tensor> {
        let x = self.features(feats)?.to_kind(self.kind());
        let x = if train && self.cfg.dropout > 0.0 {
            x.feature_dropout(self.cfg.dropout, true)
        } else {
            x
        };
        let x = match &self.batchnorm_layer {
            Some(bn) => bn.forward_t(&x, train),
            None => x,
        };
        Ok(self.conv.forward(&x))
    }

    /// Names of the variables kept in f32 when the head runs in lower precision.
    pub(crate) fn f32_variables(&self) -> Vec<String> {
        if self.batchnorm_layer.is_none() {
            return Vec::new();
        }
        ["weight", "bias", "running_mean", "running_var"]
            .map(|k| format!("batchnorm_layer.{k}"))
            .to_vec()
    }

    pub(crate) fn kind(&self) -> Kind {
        self.conv.weight.kind()
    }
}
