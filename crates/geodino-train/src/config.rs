//! The typed pretraining configuration: [`PretrainConfig`], a mirror of the sections of the
//! reference's YAML files (`dinov3/configs/ssl_default_config.yaml` and `configs/train/*.yaml`,
//! facebookresearch/dinov3 at 6876159) plus geodino's `data` and `eval` sections.
//!
//! * Every section is `#[serde(deny_unknown_fields, default)]`: a misspelt key is an error, a
//!   missing key takes its default, and **defaults equal `ssl_default_config.yaml`** (the
//!   reference's own defaults, which its train configs override);
//! * presets are TOML files in `configs/pretrain/` compiled into the binary ([`PRESETS`],
//!   [`PretrainConfig::preset`]): `smoke` (CPU, minutes), `vitl16_sat` (GPU), `vitl16_sat_gram`,
//!   `vitl16_sat_highres`, `distill_vits16_sat` and the documented `vit7b16_sat`;
//! * `--set a.b=c` overrides ([`PretrainConfig::load`]) are parsed as TOML values, inserted into
//!   the document and deserialised again, so a wrong type or an unknown key is rejected with
//!   the key named;
//! * [`PretrainConfig::to_toml`] is the resolved configuration saved in the run folder and in
//!   every checkpoint.

use std::path::{Path, PathBuf};

use geodino_data::multicrop::BlurProbabilities;
use geodino_dinov3::{RopeDtype, ViTConfig};
use geodino_nn::layers::{FfnLayer, NormLayer, NormalizeCoords};
use geodino_ssl::{DinoHeadConfig, GramLossConfig, SslLossConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::param_groups::ParamGroupConfig;
use crate::schedule::{ScalingRule, ScheduleSpec, SchedulesSpec};

/// One value or a list of values (the reference accepts both for the multi-resolution crop
/// sizes of high-resolution adaptation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// One value per crop-size triplet.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The `student:` section: the architecture of the trained backbone, named as the reference's
/// keys. `arch` gives width, depth and heads (`vit_small`, `vit_base`, `vit_large`, `vit_so400m`,
/// `vit_huge2`, `vit_giant2`, `vit_7b`; `vit_tiny` and `custom` are geodino's); `embed_dim`,
/// `depth` and `num_heads` override it (tiny CPU models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentConfig {
    /// Architecture name. Default `vit_large`.
    pub arch: String,
    /// Width override (geodino).
    pub embed_dim: Option<usize>,
    /// Depth override (geodino).
    pub depth: Option<usize>,
    /// Head-count override (geodino).
    pub num_heads: Option<usize>,
    /// Patch size. Default 16.
    pub patch_size: usize,
    /// Stochastic depth, the same in every block. Default 0.3.
    pub drop_path_rate: f64,
    /// LayerScale initial value (`None`: no LayerScale). Default 1e-5.
    pub layerscale: Option<f64>,
    /// Backbone weights to start from (official `.pth`, exported safetensors, or a geodino
    /// training checkpoint's teacher); empty: random init. Default empty.
    pub pretrained_weights: String,
    /// FFN kind. Default `mlp`.
    pub ffn_layer: FfnLayer,
    /// FFN width ratio. Default 4.
    pub ffn_ratio: f64,
    /// Initialise student **and** teacher (backbone and heads) from the teacher of this geodino
    /// checkpoint (high-resolution adaptation starts from the Gram stage's teacher). Default empty.
    pub resume_from_teacher_chkpt: String,
    /// qkv bias. Default true.
    pub qkv_bias: bool,
    /// Attention output bias. Default true.
    pub proj_bias: bool,
    /// FFN biases. Default true.
    pub ffn_bias: bool,
    /// Norm layer. Default `layernorm` (eps 1e-6).
    pub norm_layer: NormLayer,
    /// Register tokens. Default 0.
    pub n_storage_tokens: usize,
    /// Mask the K bias. Default false.
    pub mask_k_bias: bool,
    /// Separate CLS/register norm. Default false.
    pub untie_cls_and_patch_norms: bool,
    /// Separate norm for the local crops' CLS and registers in training. Default false.
    pub untie_global_and_local_cls_norm: bool,
    /// Input bands. Default 3.
    pub in_chans: usize,
    /// Position embedding: only `rope`. Default `rope`.
    pub pos_embed_type: String,
    /// RoPE base. Default 100.
    pub pos_embed_rope_base: Option<f64>,
    /// RoPE minimum period. Default none.
    pub pos_embed_rope_min_period: Option<f64>,
    /// RoPE maximum period. Default none.
    pub pos_embed_rope_max_period: Option<f64>,
    /// Coordinate normalisation. Default `separate`.
    pub pos_embed_rope_normalize_coords: NormalizeCoords,
    /// Training coordinate shift. Default none.
    pub pos_embed_rope_shift_coords: Option<f64>,
    /// Training coordinate jitter. Default none.
    pub pos_embed_rope_jitter_coords: Option<f64>,
    /// Training coordinate rescale ("RoPE-box jittering"). Default none (2 in the 7B configs).
    pub pos_embed_rope_rescale_coords: Option<f64>,
    /// RoPE table dtype. Default `bf16`.
    pub pos_embed_rope_dtype: RopeDtype,
    /// fp8 matmuls in the blocks: not implemented by geodino (must be false). Default false.
    pub fp8_enabled: bool,
    /// Modules converted to fp8 (unused). Default `blocks`.
    pub fp8_filter: String,
}

impl Default for StudentConfig {
    fn default() -> Self {
        StudentConfig {
            arch: "vit_large".into(),
            embed_dim: None,
            depth: None,
            num_heads: None,
            patch_size: 16,
            drop_path_rate: 0.3,
            layerscale: Some(1e-5),
            pretrained_weights: String::new(),
            ffn_layer: FfnLayer::Mlp,
            ffn_ratio: 4.0,
            resume_from_teacher_chkpt: String::new(),
            qkv_bias: true,
            proj_bias: true,
            ffn_bias: true,
            norm_layer: NormLayer::LayerNorm,
            n_storage_tokens: 0,
            mask_k_bias: false,
            untie_cls_and_patch_norms: false,
            untie_global_and_local_cls_norm: false,
            in_chans: 3,
            pos_embed_type: "rope".into(),
            pos_embed_rope_base: Some(100.0),
            pos_embed_rope_min_period: None,
            pos_embed_rope_max_period: None,
            pos_embed_rope_normalize_coords: NormalizeCoords::Separate,
            pos_embed_rope_shift_coords: None,
            pos_embed_rope_jitter_coords: None,
            pos_embed_rope_rescale_coords: None,
            pos_embed_rope_dtype: RopeDtype::Bf16,
            fp8_enabled: false,
            fp8_filter: "blocks".into(),
        }
    }
}

/// Width, depth and heads of the reference's architecture names (`dinov3/models/__init__.py`).
pub fn arch_dims(arch: &str) -> Option<(usize, usize, usize)> {
    Some(match arch {
        "vit_tiny" => (192, 12, 3),
        "vit_small" => (384, 12, 6),
        "vit_base" => (768, 12, 12),
        "vit_large" => (1024, 24, 16),
        "vit_so400m" => (1152, 27, 18),
        "vit_huge2" => (1280, 32, 20),
        "vit_giant2" => (1536, 40, 24),
        "vit_7b" => (4096, 40, 32),
        _ => return None,
    })
}

impl StudentConfig {
    /// The backbone architecture this section describes.
    ///
    /// # Errors
    /// An unknown `arch` without explicit sizes, an unsupported option, or an invalid result.
    pub fn vit_config(&self) -> Result<ViTConfig> {
        let dims = arch_dims(&self.arch);
        if dims.is_none() && self.arch != "custom" {
            return Err(Error::Config(format!(
                "student.arch {:?} is unknown; use vit_tiny, vit_small, vit_base, vit_large, \
                 vit_so400m, vit_huge2, vit_giant2, vit_7b or custom (with embed_dim, depth, num_heads)",
                self.arch
            )));
        }
        let (d, l, h) = dims.unwrap_or((0, 0, 0));
        let pick = |o: Option<usize>, v: usize, name: &str| -> Result<usize> {
            match (o, v) {
                (Some(x), _) => Ok(x),
                (None, 0) => {
                    Err(Error::Config(format!("student.arch custom needs student.{name}")))
                }
                (None, v) => Ok(v),
            }
        };
        if self.pos_embed_type != "rope" {
            return Err(Error::Config(format!(
                "student.pos_embed_type {:?}: only rope is implemented",
                self.pos_embed_type
            )));
        }
        if self.fp8_enabled {
            return Err(Error::Config(
                "student.fp8_enabled: fp8 matmuls are not implemented by geodino (bf16 autocast is); set it to false".into(),
            ));
        }
        let cfg = ViTConfig {
            patch_size: self.patch_size,
            in_chans: self.in_chans,
            pos_embed_rope_base: self.pos_embed_rope_base,
            pos_embed_rope_min_period: self.pos_embed_rope_min_period,
            pos_embed_rope_max_period: self.pos_embed_rope_max_period,
            pos_embed_rope_normalize_coords: self.pos_embed_rope_normalize_coords,
            pos_embed_rope_shift_coords: self.pos_embed_rope_shift_coords,
            pos_embed_rope_jitter_coords: self.pos_embed_rope_jitter_coords,
            pos_embed_rope_rescale_coords: self.pos_embed_rope_rescale_coords,
            pos_embed_rope_dtype: self.pos_embed_rope_dtype,
            embed_dim: pick(self.embed_dim, d, "embed_dim")?,
            depth: pick(self.depth, l, "depth")?,
            num_heads: pick(self.num_heads, h, "num_heads")?,
            ffn_ratio: self.ffn_ratio,
            ffn_hidden_features: None,
            qkv_bias: self.qkv_bias,
            drop_path_rate: self.drop_path_rate,
            layerscale_init: self.layerscale,
            norm_layer: self.norm_layer,
            ffn_layer: self.ffn_layer,
            ffn_bias: self.ffn_bias,
            proj_bias: self.proj_bias,
            n_storage_tokens: self.n_storage_tokens,
            mask_k_bias: self.mask_k_bias,
            untie_cls_and_patch_norms: self.untie_cls_and_patch_norms,
            untie_global_and_local_cls_norm: self.untie_global_and_local_cls_norm,
        };
        cfg.validate().map_err(|e| Error::Config(format!("student: {e}")))?;
        Ok(cfg)
    }
}

/// The `teacher:` section: the v1 (`ssl_default_config.yaml`) momentum and temperature
/// schedules, used when the config has no `schedules:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeacherConfig {
    /// Initial EMA momentum. Default 0.992.
    pub momentum_teacher: f64,
    /// Final EMA momentum (cosine). Default 1.
    pub final_momentum_teacher: f64,
    /// Teacher temperature at iteration 0. Default 0.04.
    pub warmup_teacher_temp: f64,
    /// Teacher temperature after the warmup. Default 0.07.
    pub teacher_temp: f64,
    /// Temperature warmup in epochs. Default 30.
    pub warmup_teacher_temp_epochs: usize,
    /// Input bands (must equal `student.in_chans`). Default 3.
    pub in_chans: usize,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            momentum_teacher: 0.992,
            final_momentum_teacher: 1.0,
            warmup_teacher_temp: 0.04,
            teacher_temp: 0.07,
            warmup_teacher_temp_epochs: 30,
            in_chans: 3,
        }
    }
}

/// The `dino:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DinoConfig {
    /// Weight of both DINO terms. Default 1.
    pub loss_weight: f64,
    /// Skip same-crop global pairs. Default true.
    pub global_ignore_diagonal: bool,
    /// Prototypes `K`. Default 65 536.
    pub head_n_prototypes: i64,
    /// Bottleneck width. Default 256.
    pub head_bottleneck_dim: i64,
    /// Weight-normalised last layer: not used by DINOv3 (must be false). Default false.
    pub head_norm_last_layer: bool,
    /// Linear layers of the head MLP. Default 3.
    pub head_nlayers: usize,
    /// Hidden width. Default 2048.
    pub head_hidden_dim: i64,
    /// KoLeo weight. Default 0.1.
    pub koleo_loss_weight: f64,
    /// KoLeo over all ranks (one process here: the same as local). Default false.
    pub koleo_loss_distributed: bool,
    /// KoLeo neighbours (only 1). Default 1.
    pub koleo_topk: usize,
    /// Neighbour search within groups of this many samples. Default none (the whole batch).
    pub koleo_distributed_loss_group_size: Option<usize>,
    /// Group adjacent ranks' data (no effect on one process). Default true.
    pub koleo_distributed_loss_group_data: bool,
    /// Reweight the local DINO term by `local_loss_weight_schedule`. Default false.
    pub reweight_dino_local_loss: bool,
    /// The `w_local` schedule. Default constant 0.5.
    pub local_loss_weight_schedule: ScheduleSpec,
}

impl Default for DinoConfig {
    fn default() -> Self {
        DinoConfig {
            loss_weight: 1.0,
            global_ignore_diagonal: true,
            head_n_prototypes: 65_536,
            head_bottleneck_dim: 256,
            head_norm_last_layer: false,
            head_nlayers: 3,
            head_hidden_dim: 2048,
            koleo_loss_weight: 0.1,
            koleo_loss_distributed: false,
            koleo_topk: 1,
            koleo_distributed_loss_group_size: None,
            koleo_distributed_loss_group_data: true,
            reweight_dino_local_loss: false,
            local_loss_weight_schedule: ScheduleSpec::constant(0.5),
        }
    }
}

impl DinoConfig {
    /// The DINO head on a backbone of width `in_dim`.
    pub fn head(&self, in_dim: i64) -> DinoHeadConfig {
        DinoHeadConfig {
            in_dim,
            n_prototypes: self.head_n_prototypes,
            hidden_dim: self.head_hidden_dim,
            bottleneck_dim: self.head_bottleneck_dim,
            nlayers: self.head_nlayers,
            mlp_bias: true,
        }
    }
}

/// The `ibot:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IbotConfig {
    /// iBOT weight. Default 1.
    pub loss_weight: f64,
    /// Fraction of the global crops that are masked. Default 0.5.
    pub mask_sample_probability: f64,
    /// Masking-ratio range. Default (0.1, 0.5).
    pub mask_ratio_min_max: (f64, f64),
    /// Random circular shift of each mask. Default false.
    pub mask_random_circular_shift: bool,
    /// Mask even when the loss weight is 0 (masks are always drawn here). Default false.
    pub force_masking_even_with_zero_weight: bool,
    /// Separate iBOT head (must be true, as the reference asserts). Default true.
    pub separate_head: bool,
    /// Prototypes. Default 65 536.
    pub head_n_prototypes: i64,
    /// Bottleneck width. Default 256.
    pub head_bottleneck_dim: i64,
    /// Weight-normalised last layer (must be false). Default false.
    pub head_norm_last_layer: bool,
    /// Linear layers. Default 3.
    pub head_nlayers: usize,
    /// Hidden width. Default 2048.
    pub head_hidden_dim: i64,
}

impl Default for IbotConfig {
    fn default() -> Self {
        IbotConfig {
            loss_weight: 1.0,
            mask_sample_probability: 0.5,
            mask_ratio_min_max: (0.1, 0.5),
            mask_random_circular_shift: false,
            force_masking_even_with_zero_weight: false,
            separate_head: true,
            head_n_prototypes: 65_536,
            head_bottleneck_dim: 256,
            head_norm_last_layer: false,
            head_nlayers: 3,
            head_hidden_dim: 2048,
        }
    }
}

impl IbotConfig {
    /// The iBOT head on a backbone of width `in_dim`.
    pub fn head(&self, in_dim: i64) -> DinoHeadConfig {
        DinoHeadConfig {
            in_dim,
            n_prototypes: self.head_n_prototypes,
            hidden_dim: self.head_hidden_dim,
            bottleneck_dim: self.head_bottleneck_dim,
            nlayers: self.head_nlayers,
            mlp_bias: true,
        }
    }

    /// The masking options.
    pub fn mask_config(&self) -> geodino_data::masking::IbotMaskConfig {
        geodino_data::masking::IbotMaskConfig {
            mask_sample_probability: self.mask_sample_probability,
            mask_ratio_min_max: self.mask_ratio_min_max,
            random_circular_shift: self.mask_random_circular_shift,
            ..Default::default()
        }
    }
}

/// Which patch tokens enter the Gram loss (`gram.tokens_used`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GramTokens {
    /// Every patch.
    #[default]
    All,
    /// Only patches masked for the student (batch-level Gram only).
    Masked,
    /// Only unmasked patches (batch-level Gram only).
    Unmasked,
}

/// The `gram:` section: Gram anchoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GramConfig {
    /// Add the Gram loss. Default false.
    pub use_loss: bool,
    /// Log the loss over masked / unmasked tokens separately. Default false.
    pub compute_stats: bool,
    /// Constant weight (unless `loss_weight_schedule`). Default 1.
    pub loss_weight: f64,
    /// Use the EMA teacher's own patch features as the Gram target (no separate Gram teacher, no
    /// Gram crops). Default false.
    pub ema_teacher: bool,
    /// Initial Gram teacher: a geodino checkpoint (its teacher backbone), an exported backbone or
    /// an official `.pth`. Default none.
    pub ckpt: Option<String>,
    /// Before this iteration the EMA teacher is copied into the Gram teacher (−1: never).
    /// Default −1.
    pub it_load_ema_teacher: i64,
    /// Refresh the Gram teacher from the EMA teacher on a schedule. Default true.
    pub rep_update: bool,
    /// Refresh every this many iterations. Default 50 000.
    pub update_frequency: usize,
    /// First refresh after this many iterations. Default 0.
    pub it_first_update: usize,
    /// At most this many refreshes. Default none.
    pub max_updates: Option<usize>,
    /// L2-normalise patch features. Default true.
    pub normalized: bool,
    /// Per-image Gram matrices (else one per batch). Default false.
    pub img_level: bool,
    /// Clip negative similarities of both matrices. Default false.
    pub remove_neg: bool,
    /// Clip the teacher's negative similarities. Default false.
    pub remove_only_teacher_neg: bool,
    /// Tokens used. Default `all`.
    pub tokens_used: GramTokens,
    /// Resize method of higher-resolution Gram-teacher features: only `bicubic`. Default `bicubic`.
    pub global_teacher_resize_method: String,
    /// Antialiased resize. Default false.
    pub global_teacher_resize_antialias: bool,
    /// A schedule for the weight instead of `loss_weight`. Default none.
    pub loss_weight_schedule: Option<ScheduleSpec>,
}

impl Default for GramConfig {
    fn default() -> Self {
        GramConfig {
            use_loss: false,
            compute_stats: false,
            loss_weight: 1.0,
            ema_teacher: false,
            ckpt: None,
            it_load_ema_teacher: -1,
            rep_update: true,
            update_frequency: 50_000,
            it_first_update: 0,
            max_updates: None,
            normalized: true,
            img_level: false,
            remove_neg: false,
            remove_only_teacher_neg: false,
            tokens_used: GramTokens::All,
            global_teacher_resize_method: "bicubic".into(),
            global_teacher_resize_antialias: false,
            loss_weight_schedule: None,
        }
    }
}

impl GramConfig {
    /// The loss options.
    pub fn loss_config(&self) -> GramLossConfig {
        GramLossConfig {
            normalized: self.normalized,
            img_level: self.img_level,
            remove_neg: self.remove_neg,
            remove_only_teacher_neg: self.remove_only_teacher_neg,
        }
    }

    /// Whether a separate Gram-teacher backbone exists.
    pub fn has_gram_teacher(&self) -> bool {
        self.use_loss && !self.ema_teacher
    }
}

/// The `distillation:` section: distil a frozen teacher into the student.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DistillationConfig {
    /// Distil. Default false.
    pub enabled: bool,
    /// A pretraining config (preset name or TOML file) describing the teacher: `student` gives
    /// its architecture, `dino`/`ibot` its heads. Empty: the architecture stored in (or inferred
    /// from) `checkpoint_path`, heads as this config's with the teacher's width. Default empty.
    pub full_cfg_path: String,
    /// The teacher: a geodino training checkpoint (teacher backbone and heads), an exported
    /// backbone or an official `.pth` (backbone only). Default empty.
    pub checkpoint_path: String,
    /// The teacher's heads (a geodino training checkpoint) when `checkpoint_path` holds only a
    /// backbone; empty: heads keep their seeded reference initialisation, i.e. the targets
    /// are frozen random projections of the teacher's features. Default empty.
    pub heads_path: String,
}

/// The `optim:` section (v1 schedule values are used only without a `schedules:` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Schedule length in epochs of `train.OFFICIAL_EPOCH_LENGTH` iterations. Default 100.
    pub epochs: usize,
    /// Only `adamw`. Default `adamw`.
    pub optimizer: String,
    /// v1: initial weight decay. Default 0.04.
    pub weight_decay: f64,
    /// v1: final weight decay (cosine). Default 0.4.
    pub weight_decay_end: f64,
    /// v1: peak learning rate (batch-scaled). Default 1e-3.
    pub lr: f64,
    /// v1: warmup epochs. Default 10.
    pub warmup_epochs: usize,
    /// v1: final learning rate. Default 1e-6.
    pub min_lr: f64,
    /// v1: cosine truncation. Default 0.
    pub schedule_trunc_extra: f64,
    /// Gradient-norm clip per sub-module (backbone, DINO head, iBOT head); 0: off. Default 3.
    pub clip_grad: f64,
    /// v1: epochs with the heads' last layer frozen. Default 1.
    pub freeze_last_layer_epochs: usize,
    /// LR scaling with the global batch. Default `sqrt_wrt_1024`.
    pub scaling_rule: ScalingRule,
    /// Patch-embedding LR multiplier. Default 0.2.
    pub patch_embed_lr_mult: f64,
    /// Has no effect in the reference (see `param_groups`); must be 1. Default 1.
    pub dino_head_wd_multiplier: f64,
    /// Layer-wise LR decay. Default 0.9.
    pub layerwise_decay: f64,
    /// Fused optimiser kernels (the update is the same either way). Default true.
    pub multi_tensor_optim: bool,
    /// β₁. Default 0.9.
    pub adamw_beta1: f64,
    /// β₂. Default 0.999.
    pub adamw_beta2: f64,
    /// ε (PyTorch's default; not a config key of the reference). Default 1e-8.
    pub adamw_eps: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            epochs: 100,
            optimizer: "adamw".into(),
            weight_decay: 0.04,
            weight_decay_end: 0.4,
            lr: 1e-3,
            warmup_epochs: 10,
            min_lr: 1e-6,
            schedule_trunc_extra: 0.0,
            clip_grad: 3.0,
            freeze_last_layer_epochs: 1,
            scaling_rule: ScalingRule::SqrtWrt1024,
            patch_embed_lr_mult: 0.2,
            dino_head_wd_multiplier: 1.0,
            layerwise_decay: 0.9,
            multi_tensor_optim: true,
            adamw_beta1: 0.9,
            adamw_beta2: 0.999,
            adamw_eps: 1e-8,
        }
    }
}

impl OptimConfig {
    /// The parameter-group options.
    pub fn param_groups(&self) -> ParamGroupConfig {
        ParamGroupConfig {
            layerwise_decay: self.layerwise_decay,
            patch_embed_lr_mult: self.patch_embed_lr_mult,
        }
    }
}

/// The `crops:` section. Sizes may be lists (one entry per (global, local, Gram) triplet of
/// high-resolution adaptation, drawn per batch with `global_local_crop_pairs_ratios`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropsConfig {
    /// Area fraction of the global crops. Default (0.32, 1).
    pub global_crops_scale: (f64, f64),
    /// Local crops per image. Default 8.
    pub local_crops_number: usize,
    /// Area fraction of the local crops. Default (0.05, 0.32).
    pub local_crops_scale: (f64, f64),
    /// Global crop side(s). Default 224.
    pub global_crops_size: OneOrMany<usize>,
    /// Local crop side(s). Default 96.
    pub local_crops_size: OneOrMany<usize>,
    /// Probabilities of the size triplets. Default 1.
    pub global_local_crop_pairs_ratios: OneOrMany<f64>,
    /// Gram-teacher crop side(s). Default none.
    pub gram_teacher_crops_size: Option<OneOrMany<usize>>,
    /// Local crops inside the global crops: not implemented (must be false). Default false.
    pub localcrops_subset_of_globalcrops: bool,
    /// One colour jitter for all crops: not implemented (must be false). Default false.
    pub share_color_jitter: bool,
    /// Random horizontal flips. Default true.
    pub horizontal_flips: bool,
    /// Gram crops without photometric distortion. Default false.
    pub gram_teacher_no_distortions: bool,
    /// Per-band mean after scaling to [0, 1]. Default ImageNet.
    pub rgb_mean: Vec<f32>,
    /// Per-band standard deviation. Default ImageNet.
    pub rgb_std: Vec<f32>,
    /// Teacher/student resolution ratio: only 1. Default 1.
    pub teacher_to_student_resolution_scale: f64,
    /// Blur probabilities (geodino): as the released models were trained, or as intended.
    /// Default `as_released`.
    pub blur: BlurProbabilities,
}

impl Default for CropsConfig {
    fn default() -> Self {
        CropsConfig {
            global_crops_scale: (0.32, 1.0),
            local_crops_number: 8,
            local_crops_scale: (0.05, 0.32),
            global_crops_size: OneOrMany::One(224),
            local_crops_size: OneOrMany::One(96),
            global_local_crop_pairs_ratios: OneOrMany::One(1.0),
            gram_teacher_crops_size: None,
            localcrops_subset_of_globalcrops: false,
            share_color_jitter: false,
            horizontal_flips: true,
            gram_teacher_no_distortions: false,
            rgb_mean: geodino_data::multicrop::IMAGENET_MEAN.to_vec(),
            rgb_std: geodino_data::multicrop::IMAGENET_STD.to_vec(),
            teacher_to_student_resolution_scale: 1.0,
            blur: BlurProbabilities::AsReleased,
        }
    }
}

/// One (global, local, Gram) crop-size triplet and its probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CropTriplet {
    /// Global crop side.
    pub global: usize,
    /// Local crop side.
    pub local: usize,
    /// Gram-teacher crop side.
    pub gram: Option<usize>,
    /// Probability of a batch using this triplet.
    pub ratio: f64,
}

impl CropsConfig {
    /// The size triplets with their probabilities (normalised to sum 1).
    ///
    /// # Errors
    /// Lists of different lengths, or ratios that are negative or sum to 0.
    pub fn triplets(&self) -> Result<Vec<CropTriplet>> {
        let g = self.global_crops_size.to_vec();
        let n = g.len();
        let expand = |v: Vec<usize>, name: &str| -> Result<Vec<usize>> {
            match v.len() {
                1 => Ok(vec![v[0]; n]),
                k if k == n => Ok(v),
                k => Err(Error::Config(format!(
                    "crops.{name} has {k} entries but crops.global_crops_size has {n}"
                ))),
            }
        };
        let l = expand(self.local_crops_size.to_vec(), "local_crops_size")?;
        let gr: Vec<Option<usize>> = match &self.gram_teacher_crops_size {
            None => vec![None; n],
            Some(v) => {
                expand(v.to_vec(), "gram_teacher_crops_size")?.into_iter().map(Some).collect()
            }
        };
        let r = self.global_local_crop_pairs_ratios.to_vec();
        let r = match r.len() {
            1 => vec![r[0]; n],
            k if k == n => r,
            k => {
                return Err(Error::Config(format!(
                    "crops.global_local_crop_pairs_ratios has {k} entries but crops.global_crops_size has {n}"
                )));
            }
        };
        if r.iter().any(|&x| x.is_nan() || x < 0.0) || r.iter().sum::<f64>() <= 0.0 {
            return Err(Error::Config(format!(
                "crops.global_local_crop_pairs_ratios must be >= 0 with a positive sum, got {r:?}"
            )));
        }
        let sum: f64 = r.iter().sum();
        Ok((0..n)
            .map(|i| CropTriplet { global: g[i], local: l[i], gram: gr[i], ratio: r[i] / sum })
            .collect())
    }

    /// The multi-crop options of one triplet.
    pub fn multicrop(&self, t: &CropTriplet) -> geodino_data::multicrop::MultiCropConfig {
        geodino_data::multicrop::MultiCropConfig {
            global_crops_scale: self.global_crops_scale,
            local_crops_scale: self.local_crops_scale,
            local_crops_number: self.local_crops_number,
            global_crops_size: t.global,
            local_crops_size: t.local,
            gram_teacher_crops_size: t.gram,
            gram_teacher_no_distortions: self.gram_teacher_no_distortions,
            horizontal_flips: self.horizontal_flips,
            blur: self.blur,
            mean: self.rgb_mean.clone(),
            std: self.rgb_std.clone(),
            ..Default::default()
        }
    }
}

/// The `train:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Images per step (one process: the global batch). Default 64.
    pub batch_size_per_gpu: usize,
    /// Seed of every random draw: step `s` draws from streams derived from `(seed, s)`.
    /// Default 0.
    pub seed: u64,
    /// Data worker threads of the prefetcher. Default 10.
    pub num_workers: usize,
    /// Iterations per "epoch" (schedules are written in epochs). Default 1250.
    #[serde(rename = "OFFICIAL_EPOCH_LENGTH")]
    pub official_epoch_length: usize,
    /// Log the per-sub-module gradient norms (always computed when clipping). Default false.
    pub monitor_gradient_norm: bool,
    /// Teacher centering: only `sinkhorn_knopp`. Default `sinkhorn_knopp`.
    pub centering: String,
    /// Device: `cpu`, `cuda`, `cuda:N` or `auto` (geodino). Default `auto`.
    pub device: String,
    /// libtorch intra-op threads (`None`: libtorch's default). Exact resume on CPU needs the same
    /// number of threads as the interrupted run. Default none.
    pub num_threads: Option<usize>,
    /// Batches prepared ahead by the prefetcher (bounded queue). Default 4.
    pub prefetch: usize,
    /// Stop this invocation after this many iterations in total (the schedules keep their full
    /// length; `--resume` continues). Default none.
    pub stop_after_iterations: Option<usize>,
    /// Abort after this many consecutive non-finite losses (the reference: more than 2).
    /// Default 3.
    pub max_consecutive_nan: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size_per_gpu: 64,
            seed: 0,
            num_workers: 10,
            official_epoch_length: 1250,
            monitor_gradient_norm: false,
            centering: "sinkhorn_knopp".into(),
            device: "auto".into(),
            num_threads: None,
            prefetch: 4,
            stop_after_iterations: None,
            max_consecutive_nan: 3,
        }
    }
}

/// The `compute_precision:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputePrecisionConfig {
    /// `bf16`: forward passes under bf16 autocast on CUDA (parameters, optimiser state and
    /// reductions stay f32); `fp32`: plain f32. CPU always computes in f32. Default `bf16`.
    pub param_dtype: String,
    /// Reductions: only `fp32`. Default `fp32`.
    pub reduce_dtype: String,
}

impl Default for ComputePrecisionConfig {
    fn default() -> Self {
        ComputePrecisionConfig { param_dtype: "bf16".into(), reduce_dtype: "fp32".into() }
    }
}

/// How raw pixel values are brought to [0, 1] before augmentation (then clipped to [0, 1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// By data type: 8-bit ÷ 255, 16-bit ÷ 65 535, floating point as is.
    Dtype,
    /// Divide by a constant (e.g. 10 000 for reflectance × 10⁴, 255 for 8-bit).
    Divide(f64),
    /// Per band `(x − min) / (max − min)`.
    Range {
        /// Per-band minimum (one value applies to every band).
        min: Vec<f64>,
        /// Per-band maximum.
        max: Vec<f64>,
    },
    /// Per file and band, the `[low, high]` percentiles of a sample of the valid pixels map to
    /// [0, 1] (computed once when the archive opens).
    Percentile(f64, f64),
}

/// The `data:` section (geodino): the raster archive and chip sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Rasters: paths, globs (`*`, `?`, `**`) or manifest files (`.txt`/`.lst`: one path or glob
    /// per line, `#` comments, relative to the manifest). `--data` sets this. Default empty.
    pub paths: Vec<String>,
    /// 1-based bands to read (`None`: bands 1..=in_chans). Default none.
    pub bands: Option<Vec<usize>>,
    /// Scaling to [0, 1]. Default `dtype`.
    pub scaling: Scaling,
    /// Side of the chips cut from the rasters (the "images" the crops are taken from), capped by
    /// the raster size. Default 512 (SAT-493M's image size).
    pub chip_size: usize,
    /// Reject chips with more than this fraction of nodata pixels (nodata value, NaN, or the
    /// dataset mask); remaining nodata pixels take the band mean (0 after normalisation).
    /// Default 0.25.
    pub max_nodata_fraction: f64,
    /// Windows tried per chip before giving up with an error. Default 64.
    pub max_attempts: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            paths: Vec::new(),
            bands: None,
            scaling: Scaling::Dtype,
            chip_size: 512,
            max_nodata_fraction: 0.25,
            max_attempts: 64,
        }
    }
}

/// The `checkpoint:` section (the reference's `checkpointing:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Save after every this many iterations. Default 3750.
    pub period: usize,
    /// Keep the last this many periodic checkpoints. Default 3.
    pub max_to_keep: usize,
    /// Also keep every checkpoint whose iteration count is a multiple of this. Default none.
    pub keep_every: Option<usize>,
    /// Save at the end of the run (or at `stop_after_iterations`). Default true.
    pub save_final: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig { period: 3750, max_to_keep: 3, keep_every: None, save_final: true }
    }
}

/// The `eval:` section (geodino; the reference's `evaluation:` submits external jobs): periodic
/// pictures and a dense linear probe on a validation scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Run the probe and the PCA picture every this many iterations (0: never). Default 12 500.
    pub eval_period_iterations: usize,
    /// Also evaluate the initial (random or loaded) teacher before training. Default true.
    pub at_start: bool,
    /// Validation image (any raster geodino opens). Default none.
    pub image: Option<String>,
    /// Land-cover labels on the image's grid (one band of class ids), e.g. from
    /// `geodino synth-scene`. Without labels only the PCA picture is made. Default none.
    pub labels: Option<String>,
    /// Label value to ignore (default: the label raster's nodata). Default none.
    pub ignore_label: Option<i64>,
    /// Region of the scene `[col_off, row_off, width, height]` (default: a centred square of at
    /// most `max_size`). Default none.
    pub window: Option<[usize; 4]>,
    /// Largest side of the default region. Default 512.
    pub max_size: usize,
    /// Side of the tiles fed to the backbone. Default 224.
    pub tile: usize,
    /// Full-batch optimisation steps of the linear classifier. Default 300.
    pub probe_steps: usize,
    /// Learning rate of the probe (Adam). Default 0.05.
    pub probe_lr: f64,
    /// Weight decay of the probe. Default 1e-4.
    pub probe_weight_decay: f64,
    /// Write the PCA feature picture. Default true.
    pub pca: bool,
    /// Refresh the loss-curve picture every this many iterations (0: only at the end). Default 100.
    pub plot_period: usize,
    /// Progress and JSONL metrics every this many iterations. Default 1.
    pub log_period: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            eval_period_iterations: 12_500,
            at_start: true,
            image: None,
            labels: None,
            ignore_label: None,
            window: None,
            max_size: 512,
            tile: 224,
            probe_steps: 300,
            probe_lr: 0.05,
            probe_weight_decay: 1e-4,
            pca: true,
            plot_period: 100,
            log_period: 1,
        }
    }
}

/// The whole configuration of a pretraining run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PretrainConfig {
    /// The trained backbone.
    pub student: StudentConfig,
    /// v1 teacher schedules.
    pub teacher: TeacherConfig,
    /// DINO head and loss.
    pub dino: DinoConfig,
    /// iBOT head, loss and masking.
    pub ibot: IbotConfig,
    /// Gram anchoring.
    pub gram: GramConfig,
    /// Distillation of a frozen teacher.
    pub distillation: DistillationConfig,
    /// Optimiser.
    pub optim: OptimConfig,
    /// v2 schedules (when present they replace the v1 values of `optim` and `teacher`).
    pub schedules: Option<SchedulesSpec>,
    /// Multi-crop augmentation.
    pub crops: CropsConfig,
    /// The loop.
    pub train: TrainConfig,
    /// Precision.
    pub compute_precision: ComputePrecisionConfig,
    /// The raster archive.
    pub data: DataConfig,
    /// Checkpoints.
    #[serde(alias = "checkpointing")]
    pub checkpoint: CheckpointConfig,
    /// Periodic evaluation and pictures.
    #[serde(alias = "evaluation")]
    pub eval: EvalConfig,
}

/// Preset names and their TOML text (`configs/pretrain/*.toml`).
pub const PRESETS: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../configs/pretrain/smoke.toml")),
    ("vitl16_sat", include_str!("../../../configs/pretrain/vitl16_sat.toml")),
    ("vitl16_sat_gram", include_str!("../../../configs/pretrain/vitl16_sat_gram.toml")),
    ("vitl16_sat_highres", include_str!("../../../configs/pretrain/vitl16_sat_highres.toml")),
    ("distill_vits16_sat", include_str!("../../../configs/pretrain/distill_vits16_sat.toml")),
    ("vit7b16_sat", include_str!("../../../configs/pretrain/vit7b16_sat.toml")),
];

fn parse_document(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>().map_err(|e| Error::Config(format!("{origin}: {e}")))
}

fn from_table(t: &toml::Table, origin: &str) -> Result<PretrainConfig> {
    toml::Value::Table(t.clone())
        .try_into::<PretrainConfig>()
        .map_err(|e| Error::Config(format!("{origin}: {}", e.to_string().trim())))
}

/// Parse the value of a `--set` override: a TOML value (`3`, `1e-4`, `true`, `[1, 2]`,
/// `"text"`, `{ divide = 255.0 }`), else the raw text as a string.
fn parse_override_value(v: &str) -> toml::Value {
    match format!("x = {v}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("x").unwrap_or_else(|| toml::Value::String(v.to_string())),
        Err(_) => toml::Value::String(v.to_string()),
    }
}

/// Set `path` (dot-separated) in `doc` to `value` (`None`: remove the key, i.e. back to its
/// default), creating tables on the way.
fn set_path(doc: &mut toml::Table, path: &str, value: Option<toml::Value>) -> Result<()> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(Error::Config(format!("--set {path}: empty key")));
    }
    let mut table = doc;
    for k in &keys[..keys.len() - 1] {
        let entry =
            table.entry(k.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    let last = keys[keys.len() - 1].to_string();
    match value {
        Some(v) => {
            table.insert(last, v);
        }
        None => {
            table.remove(&last);
        }
    }
    Ok(())
}

impl PretrainConfig {
    /// A preset by name (see [`PRESETS`]).
    ///
    /// # Errors
    /// An unknown name (the message lists the presets) or an invalid preset file.
    pub fn preset(name: &str) -> Result<PretrainConfig> {
        let text = Self::preset_text(name)?;
        let cfg = from_table(&parse_document(text, name)?, name)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The TOML text of a preset.
    ///
    /// # Errors
    /// An unknown name.
    pub fn preset_text(name: &str) -> Result<&'static str> {
        PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            Error::Config(format!("unknown preset {name:?}; presets: {}", names.join(", ")))
        })
    }

    /// Load `source` (a preset name, or a TOML file when it names an existing file or ends in
    /// `.toml`) and apply `overrides` (`a.b=c`; `a.b=null` removes the key, restoring its
    /// default) in order. Every override is checked when it is applied: an unknown key or a
    /// value of the wrong type is an error naming it.
    ///
    /// # Errors
    /// Unreadable files, TOML syntax errors, unknown keys, wrong types, invalid values.
    pub fn load(source: &str, overrides: &[String]) -> Result<PretrainConfig> {
        let path = Path::new(source);
        let (text, origin) = if path.is_file() || source.ends_with(".toml") {
            let t = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            (t, path.display().to_string())
        } else {
            (Self::preset_text(source)?.to_string(), format!("preset {source}"))
        };
        let mut doc = parse_document(&text, &origin)?;
        from_table(&doc, &origin)?;
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| {
                Error::Config(format!("--set {o:?}: expected key=value (e.g. optim.epochs=10)"))
            })?;
            let v = v.trim();
            let value = (v != "null").then(|| parse_override_value(v));
            set_path(&mut doc, k.trim(), value)?;
            from_table(&doc, &format!("--set {}", k.trim()))?;
        }
        let cfg = from_table(&doc, &origin)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse a complete TOML document (e.g. the resolved config stored in a checkpoint).
    ///
    /// # Errors
    /// Syntax errors, unknown keys, invalid values.
    pub fn from_toml(text: &str) -> Result<PretrainConfig> {
        let cfg = from_table(&parse_document(text, "config")?, "config")?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The resolved configuration as TOML (every key, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the config serialises")
    }

    /// Total iterations of the schedules (`epochs × OFFICIAL_EPOCH_LENGTH`).
    pub fn total_iterations(&self) -> usize {
        self.optim.epochs * self.train.official_epoch_length
    }

    /// The iteration this invocation stops after (`stop_after_iterations`, capped by the total).
    pub fn end_iteration(&self) -> usize {
        let t = self.total_iterations();
        self.train.stop_after_iterations.map_or(t, |s| s.min(t))
    }

    /// The objective's options.
    pub fn loss_config(&self) -> SslLossConfig {
        SslLossConfig {
            student_temp: 0.1,
            sinkhorn_iterations: geodino_ssl::SINKHORN_ITERATIONS,
            dino_loss_weight: self.dino.loss_weight,
            global_ignore_diagonal: self.dino.global_ignore_diagonal,
            koleo_loss_weight: self.dino.koleo_loss_weight,
            koleo_group_size: self.dino.koleo_distributed_loss_group_size,
            ibot_loss_weight: self.ibot.loss_weight,
            gram: self.gram.loss_config(),
        }
    }

    /// Paths that the config names relative to the working directory.
    pub fn referenced_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = Vec::new();
        for s in [
            &self.student.pretrained_weights,
            &self.student.resume_from_teacher_chkpt,
            &self.distillation.checkpoint_path,
            &self.distillation.heads_path,
        ] {
            if !s.is_empty() {
                v.push(s.into());
            }
        }
        v.extend(self.gram.ckpt.iter().map(PathBuf::from));
        v.extend(self.eval.image.iter().map(PathBuf::from));
        v.extend(self.eval.labels.iter().map(PathBuf::from));
        v
    }

    /// Check every rule the engine relies on.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first offending key.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let vit = self.student.vit_config()?;
        if self.teacher.in_chans != self.student.in_chans {
            return bad(format!(
                "teacher.in_chans {} differs from student.in_chans {}",
                self.teacher.in_chans, self.student.in_chans
            ));
        }
        if self.dino.head_norm_last_layer || self.ibot.head_norm_last_layer {
            return bad(
                "dino/ibot.head_norm_last_layer: weight-normalised heads are not part of DINOv3"
                    .into(),
            );
        }
        if !self.ibot.separate_head {
            return bad("ibot.separate_head must be true (as the reference asserts)".into());
        }
        if self.dino.koleo_topk != 1 {
            return bad(format!(
                "dino.koleo_topk {} : only 1 is implemented",
                self.dino.koleo_topk
            ));
        }
        if self.dino.koleo_distributed_loss_group_size.is_some_and(|g| g < 2) {
            return bad("dino.koleo_distributed_loss_group_size must be >= 2".into());
        }
        if (self.optim.dino_head_wd_multiplier - 1.0).abs() > 0.0 {
            return bad(
                "optim.dino_head_wd_multiplier has no effect in the reference; leave it at 1"
                    .into(),
            );
        }
        if self.optim.optimizer != "adamw" {
            return bad(format!("optim.optimizer {:?}: only adamw", self.optim.optimizer));
        }
        if self.train.centering != "sinkhorn_knopp" {
            return bad(format!("train.centering {:?}: only sinkhorn_knopp", self.train.centering));
        }
        if self.train.batch_size_per_gpu < 2 {
            return bad("train.batch_size_per_gpu must be >= 2 (KoLeo needs neighbours)".into());
        }
        if self.train.official_epoch_length == 0 || self.optim.epochs == 0 {
            return bad("optim.epochs and train.OFFICIAL_EPOCH_LENGTH must be > 0".into());
        }
        if self.crops.local_crops_number == 0 {
            return bad("crops.local_crops_number must be > 0 (as the reference asserts)".into());
        }
        if self.crops.localcrops_subset_of_globalcrops || self.crops.share_color_jitter {
            return bad(
                "crops.localcrops_subset_of_globalcrops / share_color_jitter are not implemented"
                    .into(),
            );
        }
        if self.crops.teacher_to_student_resolution_scale != 1.0 {
            return bad("crops.teacher_to_student_resolution_scale: only 1".into());
        }
        if self.crops.rgb_mean.len() != self.student.in_chans
            || self.crops.rgb_std.len() != self.student.in_chans
        {
            return bad(format!(
                "crops.rgb_mean/rgb_std need one value per input band ({}), got {}/{}",
                self.student.in_chans,
                self.crops.rgb_mean.len(),
                self.crops.rgb_std.len()
            ));
        }
        let triplets = self.crops.triplets()?;
        for t in &triplets {
            for (name, s) in [("global", t.global), ("local", t.local)] {
                if s < vit.patch_size {
                    return bad(format!(
                        "crops: {name} crops of {s} px are smaller than one {} px patch",
                        vit.patch_size
                    ));
                }
            }
            self.crops.multicrop(t).validate().map_err(|e| Error::Config(format!("crops: {e}")))?;
        }
        self.ibot.mask_config().validate().map_err(|e| Error::Config(e.to_string()))?;
        let g = &self.gram;
        if g.use_loss {
            if g.ema_teacher && g.ckpt.is_some() {
                return bad("gram.ema_teacher and gram.ckpt exclude each other".into());
            }
            if g.ema_teacher && g.rep_update {
                return bad(
                    "gram.ema_teacher uses the EMA teacher itself: set gram.rep_update = false"
                        .into(),
                );
            }
            if !g.ema_teacher && g.ckpt.is_none() && g.it_load_ema_teacher < 0 {
                return bad(
                    "gram: without gram.ckpt, gram.it_load_ema_teacher must be >= 0 (or set gram.ema_teacher)"
                        .into(),
                );
            }
            if g.rep_update && g.update_frequency == 0 {
                return bad("gram.update_frequency must be > 0 with gram.rep_update".into());
            }
            if g.global_teacher_resize_method != "bicubic" {
                return bad(format!(
                    "gram.global_teacher_resize_method {:?}: only bicubic",
                    g.global_teacher_resize_method
                ));
            }
            if g.tokens_used != GramTokens::All && g.img_level {
                return bad("gram.tokens_used masked/unmasked needs gram.img_level = false".into());
            }
            let has_crops = triplets.iter().all(|t| t.gram.is_some());
            if g.has_gram_teacher() && !has_crops {
                return bad("gram: a Gram teacher needs crops.gram_teacher_crops_size".into());
            }
            if g.ema_teacher && triplets.iter().any(|t| t.gram.is_some()) {
                return bad("gram.ema_teacher: crops.gram_teacher_crops_size must be unset".into());
            }
            g.loss_config().validate().map_err(|e| Error::Config(e.to_string()))?;
            if self.distillation.enabled {
                return bad(
                    "gram.use_loss with distillation.enabled: not part of the recipe".into()
                );
            }
        }
        if !matches!(self.compute_precision.param_dtype.as_str(), "bf16" | "fp32" | "fp16") {
            return bad(format!(
                "compute_precision.param_dtype {:?}: bf16, fp16 or fp32",
                self.compute_precision.param_dtype
            ));
        }
        if self.compute_precision.reduce_dtype != "fp32" {
            return bad("compute_precision.reduce_dtype: only fp32".into());
        }
        let d = &self.data;
        if d.chip_size < vit.patch_size {
            return bad(format!("data.chip_size {} is smaller than a patch", d.chip_size));
        }
        if !(0.0..=1.0).contains(&d.max_nodata_fraction) {
            return bad(format!(
                "data.max_nodata_fraction {} must be in [0, 1]",
                d.max_nodata_fraction
            ));
        }
        if d.max_attempts == 0 {
            return bad("data.max_attempts must be > 0".into());
        }
        if let Some(b) = &d.bands {
            if b.len() != self.student.in_chans {
                return bad(format!(
                    "data.bands selects {} bands but student.in_chans is {}",
                    b.len(),
                    self.student.in_chans
                ));
            }
            if b.contains(&0) {
                return bad("data.bands are 1-based".into());
            }
        }
        match &d.scaling {
            Scaling::Divide(x) if !(*x > 0.0 && x.is_finite()) => {
                return bad(format!("data.scaling.divide {x} must be > 0"));
            }
            Scaling::Range { min, max } => {
                if min.is_empty() || min.len() != max.len() {
                    return bad(
                        "data.scaling.range: min and max need the same, non-zero length".into()
                    );
                }
                if min
                    .iter()
                    .zip(max)
                    .any(|(a, b)| b.partial_cmp(a) != Some(std::cmp::Ordering::Greater))
                {
                    return bad("data.scaling.range: max must exceed min".into());
                }
            }
            Scaling::Percentile(lo, hi) if !(0.0 <= *lo && lo < hi && *hi <= 100.0) => {
                return bad(format!(
                    "data.scaling.percentile ({lo}, {hi}) must satisfy 0 <= lo < hi <= 100"
                ));
            }
            _ => {}
        }
        if self.checkpoint.period == 0 {
            return bad("checkpoint.period must be > 0".into());
        }
        if self.checkpoint.max_to_keep == 0 {
            return bad("checkpoint.max_to_keep must be > 0".into());
        }
        if self.eval.tile < vit.patch_size || self.eval.log_period == 0 {
            return bad("eval.tile must hold a patch and eval.log_period be > 0".into());
        }
        if self.eval.labels.is_some() && self.eval.image.is_none() {
            return bad("eval.labels needs eval.image".into());
        }
        crate::run_schedule::RunSchedules::new(self)?;
        if self.train.prefetch == 0 {
            return bad("train.prefetch must be > 0".into());
        }
        if self.train.num_threads == Some(0) {
            return bad("train.num_threads must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_defaults() {
        let c = PretrainConfig::default();
        assert_eq!(c.student.drop_path_rate, 0.3);
        assert_eq!(c.dino.head_n_prototypes, 65_536);
        assert_eq!(c.optim.layerwise_decay, 0.9);
        assert_eq!(c.optim.clip_grad, 3.0);
        assert_eq!(c.train.official_epoch_length, 1250);
        assert_eq!(c.crops.global_crops_size, OneOrMany::One(224));
        assert!(c.schedules.is_none());
        c.validate().unwrap();
    }

    #[test]
    fn override_values_parse_as_toml_or_text() {
        assert_eq!(parse_override_value("3"), toml::Value::Integer(3));
        assert_eq!(parse_override_value("vit_small"), toml::Value::String("vit_small".into()));
        assert_eq!(parse_override_value("a/b.tif"), toml::Value::String("a/b.tif".into()));
        assert!(parse_override_value("[1, 2]").is_array());
    }
}
