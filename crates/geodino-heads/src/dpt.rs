//! The DPT head of dinov3 (`eval/depth/models/dpt_head.py` at commit 6876159), used by CHMv2
//! (canopy height, 256 bins) and here also with `C` class channels for land cover.
//!
//! ```text
//! per level i (4 backbone layers, patch grid h × w, width D):
//!   readout (project: cat(patch, CLS) → Linear(2D→D) → GELU | add: patch + CLS | ignore)
//!   → BatchNorm2d(D) (optional) → Conv1×1(D→c_i, bias) → resize:
//!      level 0 ConvT 4×4/4 (1/4), level 1 ConvT 2×2/2 (1/8), level 2 identity (1/16),
//!      level 3 Conv 3×3/2 pad 1 (1/32)
//!   → Conv3×3(c_i→C, no bias)
//! fusion, coarse to fine (block 0 on level 3, block i on the previous output and level 3−i):
//!   x = x + RCU1(skip, bilinearly resized with align_corners=False if shapes differ)
//!   x = RCU2(x); x = up×2 (bilinear, align_corners=True); x = Conv1×1(C→C, bias)
//!   RCU(x) = x + Conv3×3(ReLU(Conv3×3(ReLU(x))))   (convs with bias iff `use_bias`)
//! project (optional): Conv3×3(C→C, bias) → ReLU
//! head: Conv3×3(C→C/2) → up×2 (bilinear, align_corners=True) → Conv3×3(C/2→hidden) → ReLU
//!       → Conv1×1(hidden→n_output_channels)
//! ```
//!
//! The output is at 2·16·⌈h/2⌉ × 2·16·⌈w/2⌉ pixels: the padded input size when the patch grid
//! is even, one patch more per odd axis otherwise (the reference resizes skips to the larger
//! map, so the output still covers the input's extent).

use geodino_nn::LayerFeatures;
use geodino_weights::StateDict;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::layers::{BatchNorm2d, Conv2d, ConvConfig, ConvTranspose2d, Linear};
use crate::{Error, Result};

/// How the CLS token enters the patch features (`readout_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Readout {
    /// Concatenate each patch with the layer's CLS, then `Linear(2D→D) + GELU` (CHMv2; the
    /// reference default).
    #[default]
    Project,
    /// Add the CLS to every patch.
    Add,
    /// Drop the CLS.
    Ignore,
}

/// Architecture of a [`DptHead`]. Field names and defaults are those of the reference
/// `DPTHead` constructor; [`DptConfig::chmv2`] is the released canopy-height head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DptConfig {
    /// Backbone width of each of the four input layers. Default `[1024; 4]`.
    pub in_channels: Vec<i64>,
    /// Fusion width `C`. Default 256.
    pub channels: i64,
    /// Reassemble (neck) widths `c_i`. Default `[128, 256, 512, 1024]`.
    pub post_process_channels: Vec<i64>,
    /// CLS readout. Default `project`.
    pub readout: Readout,
    /// BatchNorm on each layer's features before the 1×1 projection. Default false.
    pub use_batchnorm: bool,
    /// Biases in the residual conv units. Default false.
    pub use_bias: bool,
    /// `Conv3×3 + ReLU` after the last fusion block. Default true.
    pub projection_after_fusion: bool,
    /// Hidden width of the up-convolution head. Default 32.
    pub n_hidden_channels: i64,
    /// Output channels (depth bins, or classes). Default 256.
    pub n_output_channels: i64,
}

impl Default for DptConfig {
    fn default() -> Self {
        DptConfig {
            in_channels: vec![1024; 4],
            channels: 256,
            post_process_channels: vec![128, 256, 512, 1024],
            readout: Readout::Project,
            use_batchnorm: false,
            use_bias: false,
            projection_after_fusion: true,
            n_hidden_channels: 32,
            n_output_channels: 256,
        }
    }
}

/// Number of levels (backbone layers) of a DPT head; the resize layers are fixed for four.
pub const DPT_LEVELS: usize = 4;

impl DptConfig {
    /// The CHMv2 canopy-height head on ViT-L (`dinov3/hub/depthers.py`, `_get_chmv2_config`):
    /// width 1024, neck `[128, 256, 512, 1024]`, 256 fusion channels, project readout, no
    /// BatchNorm, RCU biases, no projection after fusion, hidden 128, 256 bins.
    pub fn chmv2() -> DptConfig {
        DptConfig {
            n_hidden_channels: 128,
            use_bias: true,
            projection_after_fusion: false,
            ..DptConfig::default()
        }
    }

    /// The 7B SYNTHMIX depther (`_get_depther_config`): width 4096, neck `[2048; 4]`, 512
    /// channels, BatchNorm, readout ignored, hidden 32, 256 bins.
    pub fn synthmix_vit7b() -> DptConfig {
        DptConfig {
            in_channels: vec![4096; 4],
            channels: 512,
            post_process_channels: vec![2048; 4],
            readout: Readout::Ignore,
            use_batchnorm: true,
            ..DptConfig::default()
        }
    }

    /// Check the widths.
    ///
    /// # Errors
    /// Not four levels, non-positive widths, or an odd fusion width.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("DPT head: {m}")));
        if self.in_channels.len() != DPT_LEVELS || self.post_process_channels.len() != DPT_LEVELS {
            return bad(format!(
                "needs {DPT_LEVELS} levels, got in_channels {:?} and post_process_channels {:?}",
                self.in_channels, self.post_process_channels
            ));
        }
        let all = self.in_channels.iter().chain(&self.post_process_channels);
        if all
            .chain([&self.channels, &self.n_hidden_channels, &self.n_output_channels])
            .any(|&c| c <= 0)
        {
            return bad("every width must be positive".into());
        }
        if self.channels % 2 != 0 {
            return bad(format!("channels {} must be even (the head halves it)", self.channels));
        }
        Ok(())
    }

    /// Infer the architecture from a head state dict (official keys, no prefix): widths from
    /// `reassemble_blocks.projects.i`, `convs.0` and `conv_depth.head.{0,2,4}`; readout
    /// `project` iff `readout_projects` exist (an `add` readout has no tensors and reads as
    /// `ignore`); BatchNorm iff `batchnorm_layers`; RCU bias iff the RCU convs have biases;
    /// projection after fusion iff `project.conv`.
    ///
    /// # Errors
    /// A key the inference needs is missing (named), or shapes are inconsistent.
    pub fn infer(sd: &StateDict) -> Result<DptConfig> {
        let src = if sd.source().is_empty() { "head state dict" } else { sd.source() };
        let shape = |k: &str| -> Result<&[usize]> {
            sd.get(k)
                .map(|t| t.shape())
                .ok_or_else(|| Error::checkpoint(src, format!("not a DPT head: {k} is missing")))
        };
        let mut cfg = DptConfig::default();
        cfg.in_channels.clear();
        cfg.post_process_channels.clear();
        for i in 0..DPT_LEVELS {
            let p = shape(&format!("reassemble_blocks.projects.{i}.conv.weight"))?;
            if p.len() != 4 {
                return Err(Error::checkpoint(
                    src,
                    format!("projects.{i}.conv.weight has shape {p:?}"),
                ));
            }
            cfg.post_process_channels.push(p[0] as i64);
            cfg.in_channels.push(p[1] as i64);
        }
        if sd.contains(&format!("reassemble_blocks.projects.{DPT_LEVELS}.conv.weight")) {
            return Err(Error::checkpoint(
                src,
                format!("DPT heads have {DPT_LEVELS} levels, found more"),
            ));
        }
        cfg.channels = shape("convs.0.conv.weight")?[0] as i64;
        let h0 = shape("conv_depth.head.0.weight")?;
        if h0.len() != 4 || h0[1] as i64 != cfg.channels {
            return Err(Error::checkpoint(
                src,
                format!(
                    "conv_depth.head.0.weight has shape {h0:?}, expected ({}, {}, 3, 3)",
                    cfg.channels / 2,
                    cfg.channels
                ),
            ));
        }
        cfg.n_hidden_channels = shape("conv_depth.head.2.weight")?[0] as i64;
        cfg.n_output_channels = shape("conv_depth.head.4.weight")?[0] as i64;
        cfg.readout = if sd.contains("reassemble_blocks.readout_projects.0.0.weight") {
            Readout::Project
        } else {
            Readout::Ignore
        };
        cfg.use_batchnorm = sd.contains("reassemble_blocks.batchnorm_layers.0.weight");
        cfg.use_bias = sd.contains("fusion_blocks.0.res_conv_unit2.conv1.conv.bias");
        cfg.projection_after_fusion = sd.contains("project.conv.weight");
        cfg.validate().map_err(|e| Error::checkpoint(src, e.to_string()))?;
        Ok(cfg)
    }
}

/// dinov3's `PreActResidualConvUnit` (no norm): `x + conv2(relu(conv1(relu(x))))`.
/// Keys: `conv1.conv.*`, `conv2.conv.*`.
#[derive(Debug)]
pub struct ResidualConvUnit {
    /// First 3×3 convolution.
    pub conv1: Conv2d,
    /// Second 3×3 convolution.
    pub conv2: Conv2d,
}

impl ResidualConvUnit {
    /// Create the variables under `vs`.
    pub fn new(vs: nn::Path<'_>, channels: i64, bias: bool) -> ResidualConvUnit {
        let c = ConvConfig::same(channels, channels, 3, bias);
        ResidualConvUnit {
            conv1: Conv2d::new(&vs / "conv1" / "conv", &c),
            conv2: Conv2d::new(&vs / "conv2" / "conv", &c),
        }
    }

    fn init(&self) {
        self.conv1.init_kaiming_fan_out();
        self.conv2.init_kaiming_fan_out();
    }

    /// # Shapes
    /// `(b, c, h, w) → (b, c, h, w)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.conv2.forward(&self.conv1.forward(&x.relu()).relu()) + x
    }
}

/// dinov3's `FeatureFusionBlock`. Keys: `res_conv_unit1.*` (absent in block 0),
/// `res_conv_unit2.*`, `project.conv.*`.
#[derive(Debug)]
pub struct FeatureFusionBlock {
    /// Applied to the skip connection (none in the first block).
    pub res_conv_unit1: Option<ResidualConvUnit>,
    /// Applied after the merge.
    pub res_conv_unit2: ResidualConvUnit,
    /// 1×1 projection after upsampling.
    pub project: Conv2d,
}

impl FeatureFusionBlock {
    /// Create the variables under `vs`.
    pub fn new(vs: nn::Path<'_>, channels: i64, bias: bool, first: bool) -> FeatureFusionBlock {
        FeatureFusionBlock {
            res_conv_unit1: (!first)
                .then(|| ResidualConvUnit::new(&vs / "res_conv_unit1", channels, bias)),
            res_conv_unit2: ResidualConvUnit::new(&vs / "res_conv_unit2", channels, bias),
            project: Conv2d::new(
                &vs / "project" / "conv",
                &ConvConfig::same(channels, channels, 1, true),
            ),
        }
    }

    fn init(&self) {
        if let Some(r) = &self.res_conv_unit1 {
            r.init();
        }
        self.res_conv_unit2.init();
        self.project.init_kaiming_fan_out();
    }

    /// Merge `x` with the `skip` connection (if any), refine, upsample ×2, project.
    ///
    /// # Shapes
    /// `x (b, c, h, w)`, `skip (b, c, h', w')` → `(b, c, 2h, 2w)`.
    pub fn forward(&self, x: &Tensor, skip: Option<&Tensor>) -> Tensor {
        let x = match (skip, &self.res_conv_unit1) {
            (Some(skip), Some(rcu)) => {
                let s = x.size();
                let res = if skip.size() != s {
                    skip.upsample_bilinear2d([s[2], s[3]], false, None, None)
                } else {
                    skip.shallow_clone()
                };
                x + rcu.forward(&res)
            }
            _ => x.shallow_clone(),
        };
        let x = self.res_conv_unit2.forward(&x);
        let s = x.size();
        let x = x.upsample_bilinear2d([2 * s[2], 2 * s[3]], true, None, None);
        self.project.forward(&x)
    }
}

/// The DPT head. Variable names are the official checkpoint keys (`reassemble_blocks.*`,
/// `convs.*`, `fusion_blocks.*`, `project.conv.*`, `conv_depth.head.{0,2,4}.*`).
#[derive(Debug)]
pub struct DptHead {
    cfg: DptConfig,
    /// `reassemble_blocks.readout_projects.i.0` (project readout).
    pub readout_projects: Vec<Linear>,
    /// `reassemble_blocks.batchnorm_layers.i` (with `use_batchnorm`).
    pub batchnorm_layers: Vec<BatchNorm2d>,
    /// `reassemble_blocks.projects.i.conv` (1×1, bias).
    pub projects: Vec<Conv2d>,
    /// `reassemble_blocks.resize_layers.0` (ConvT 4×4/4).
    pub resize0: ConvTranspose2d,
    /// `reassemble_blocks.resize_layers.1` (ConvT 2×2/2).
    pub resize1: ConvTranspose2d,
    /// `reassemble_blocks.resize_layers.3` (Conv 3×3/2, pad 1).
    pub resize3: Conv2d,
    /// `convs.i.conv` (3×3, no bias).
    pub convs: Vec<Conv2d>,
    /// `fusion_blocks.i`.
    pub fusion_blocks: Vec<FeatureFusionBlock>,
    /// `project.conv` (3×3 + ReLU), with `projection_after_fusion`.
    pub project: Option<Conv2d>,
    /// `conv_depth.head.0` (3×3, C → C/2).
    pub head0: Conv2d,
    /// `conv_depth.head.2` (3×3, C/2 → hidden).
    pub head2: Conv2d,
    /// `conv_depth.head.4` (1×1, hidden → outputs).
    pub head4: Conv2d,
}

impl DptHead {
    /// Create the variables under `vs` (zero-filled: load a checkpoint or call
    /// [`DptHead::init_weights`]).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(vs: nn::Path<'_>, cfg: &DptConfig) -> Result<DptHead> {
        cfg.validate()?;
        let rb = &vs / "reassemble_blocks";
        let pp = &cfg.post_process_channels;
        let c = cfg.channels;
        let readout_projects = if cfg.readout == Readout::Project {
            (0..DPT_LEVELS)
                .map(|i| {
                    let d = cfg.in_channels[i];
                    Linear::new(&rb / "readout_projects" / i / 0, 2 * d, d)
                })
                .collect()
        } else {
            Vec::new()
        };
        let batchnorm_layers = if cfg.use_batchnorm {
            (0..DPT_LEVELS)
                .map(|i| BatchNorm2d::new(&rb / "batchnorm_layers" / i, cfg.in_channels[i]))
                .collect()
        } else {
            Vec::new()
        };
        let projects = (0..DPT_LEVELS)
            .map(|i| {
                Conv2d::new(
                    &rb / "projects" / i / "conv",
                    &ConvConfig::same(cfg.in_channels[i], pp[i], 1, true),
                )
            })
            .collect();
        let rl = &rb / "resize_layers";
        let tconv = |i: usize, k: i64| {
            ConvTranspose2d::new(
                &rl / i,
                &ConvConfig {
                    in_channels: pp[i],
                    out_channels: pp[i],
                    kernel_size: k,
                    stride: k,
                    padding: 0,
                    bias: true,
                },
            )
        };
        let resize0 = tconv(0, 4);
        let resize1 = tconv(1, 2);
        let resize3 = Conv2d::new(
            &rl / 3,
            &ConvConfig {
                in_channels: pp[3],
                out_channels: pp[3],
                kernel_size: 3,
                stride: 2,
                padding: 1,
                bias: true,
            },
        );
        let convs = (0..DPT_LEVELS)
            .map(|i| Conv2d::new(&vs / "convs" / i / "conv", &ConvConfig::same(pp[i], c, 3, false)))
            .collect();
        let fusion_blocks = (0..DPT_LEVELS)
            .map(|i| FeatureFusionBlock::new(&vs / "fusion_blocks" / i, c, cfg.use_bias, i == 0))
            .collect();
        let project = cfg
            .projection_after_fusion
            .then(|| Conv2d::new(&vs / "project" / "conv", &ConvConfig::same(c, c, 3, true)));
        let head = &vs / "conv_depth" / "head";
        let head0 = Conv2d::new(&head / 0, &ConvConfig::same(c, c / 2, 3, true));
        let head2 =
            Conv2d::new(&head / 2, &ConvConfig::same(c / 2, cfg.n_hidden_channels, 3, true));
        let head4 = Conv2d::new(
            &head / 4,
            &ConvConfig::same(cfg.n_hidden_channels, cfg.n_output_channels, 1, true),
        );
        Ok(DptHead {
            cfg: cfg.clone(),
            readout_projects,
            batchnorm_layers,
            projects,
            resize0,
            resize1,
            resize3,
            convs,
            fusion_blocks,
            project,
            head0,
            head2,
            head4,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DptConfig {
        &self.cfg
    }

    /// The reference initialisation: `ConvModule` convolutions (projections, level convs, RCUs,
    /// fusion projections, the projection after fusion) kaiming-normal (fan-out, ReLU) with zero
    /// bias; the readout linears, resize layers and head convolutions PyTorch's defaults;
    /// BatchNorm identity.
    pub fn init_weights(&self) {
        self.readout_projects.iter().for_each(Linear::init_default);
        self.batchnorm_layers.iter().for_each(BatchNorm2d::init);
        self.projects.iter().for_each(Conv2d::init_kaiming_fan_out);
        self.resize0.init_default();
        self.resize1.init_default();
        self.resize3.init_default();
        self.convs.iter().for_each(Conv2d::init_kaiming_fan_out);
        self.fusion_blocks.iter().for_each(FeatureFusionBlock::init);
        if let Some(p) = &self.project {
            p.init_kaiming_fan_out();
        }
        self.head0.init_default();
        self.head2.init_default();
        self.head4.init_default();
    }

    /// Reassemble one level: readout, optional BatchNorm, 1×1 projection, resize.
    fn reassemble(&self, i: usize, x: &Tensor, cls: &Tensor, train: bool) -> Tensor {
        let (b, d, h, w) = x.size4().expect("checked (b, d, h, w)");
        let x = match self.cfg.readout {
            Readout::Project => {
                let t = x.flatten(2, -1).permute([0, 2, 1]);
                let readout = cls.unsqueeze(1).expand_as(&t);
                let y =
                    self.readout_projects[i].forward(&Tensor::cat(&[t, readout], -1)).gelu("none");
                y.permute([0, 2, 1]).reshape([b, d, h, w])
            }
            Readout::Add => (x.flatten(2, -1) + cls.unsqueeze(-1)).reshape([b, d, h, w]),
            Readout::Ignore => x.shallow_clone(),
        };
        let x = match self.batchnorm_layers.get(i) {
            Some(bn) => bn.forward_t(&x, train),
            None => x,
        };
        let x = self.projects[i].forward(&x);
        match i {
            0 => self.resize0.forward(&x),
            1 => self.resize1.forward(&x),
            2 => x,
            _ => self.resize3.forward(&x),
        }
    }

    /// The fused feature map before the up-convolution head (`forward_features`).
    ///
    /// # Shapes
    /// four levels of `patch (b, D_i, h, w)`, `cls (b, D_i)` → `(b, C, 16·⌈h/2⌉, 16·⌈w/2⌉)`.
    ///
    /// # Errors
    /// Not four levels, or widths that do not match the configuration.
    pub fn forward_features(&self, feats: &[LayerFeatures], train: bool) -> Result<Tensor> {
        if feats.len() != DPT_LEVELS {
            return Err(Error::Input(format!(
                "a DPT head takes {DPT_LEVELS} layers, got {}",
                feats.len()
            )));
        }
        let mut levels = Vec::with_capacity(DPT_LEVELS);
        for (i, f) in feats.iter().enumerate() {
            let s = f.patch.size();
            if s.len() != 4 || s[1] != self.cfg.in_channels[i] {
                return Err(Error::Input(format!(
                    "DPT level {i}: features of shape {s:?}, expected (b, {}, h, w)",
                    self.cfg.in_channels[i]
                )));
            }
            let x = self.reassemble(i, &f.patch, &f.cls, train);
            levels.push(self.convs[i].forward(&x));
        }
        let mut out = self.fusion_blocks[0].forward(&levels[DPT_LEVELS - 1], None);
        for i in 1..DPT_LEVELS {
            out = self.fusion_blocks[i].forward(&out, Some(&levels[DPT_LEVELS - 1 - i]));
        }
        Ok(match &self.project {
            Some(p) => p.forward(&out).relu(),
            None => out,
        })
    }

    /// The raw head output (bin or class logits).
    ///
    /// # Shapes
    /// as [`DptHead::forward_features`] → `(b, n_output_channels, 32·⌈h/2⌉, 32·⌈w/2⌉)`.
    ///
    /// # Errors
    /// As [`DptHead::forward_features`].
    pub fn forward_t(&self, feats: &[LayerFeatures], train: bool) -> Result<Tensor> {
        let x = self.forward_features(feats, train)?.to_kind(self.head0.weight.kind());
        let x = self.head0.forward(&x);
        let s = x.size();
        let x = x.upsample_bilinear2d([2 * s[2], 2 * s[3]], true, None, None);
        Ok(self.head4.forward(&self.head2.forward(&x).relu()))
    }

    /// Names of the variables kept in f32 when the head runs in lower precision (BatchNorm).
    pub(crate) fn f32_variables(&self) -> Vec<String> {
        if !self.cfg.use_batchnorm {
            return Vec::new();
        }
        (0..DPT_LEVELS)
            .flat_map(|i| {
                ["weight", "bias", "running_mean", "running_var"]
                    .map(|k| format!("reassemble_blocks.batchnorm_layers.{i}.{k}"))
            })
            .collect()
    }

    /// The kind the head computes in.
    pub(crate) fn kind(&self) -> Kind {
        self.projects[0].weight.kind()
    }
}
