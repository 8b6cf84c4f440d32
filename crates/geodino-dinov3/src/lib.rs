//! The DINOv3 vision transformer family on libtorch, numerically equal to the official
//! implementation (`facebookresearch/dinov3` at commit 6876159, `models/vision_transformer.py`).
//!
//! * [`ViTConfig`]: the architecture, presets named after the hub entries ([`PRESETS`]);
//! * [`DinoVisionTransformer`]: `forward_features`, `forward_features_list` (multi-crop
//!   training, iBOT masks, drop path, RoPE jitter, untied local CLS norm) and
//!   `get_intermediate_layers`;
//! * [`Dinov3Backbone`]: the model with its variables — checkpoint import
//!   ([`Dinov3Backbone::from_checkpoint`]: official `.pth`, training checkpoints, official /
//!   geodino / Hugging Face safetensors), precision and device, and the
//!   [`geodino_nn::Backbone`] trait;
//! * [`checkpoint`]: architecture inference and multispectral patch-embedding inflation.
//!
//! `docs/models.md` is the user documentation.

mod backbone;
pub mod checkpoint;
mod config;
mod error;
mod model;

pub use backbone::Dinov3Backbone;
pub use checkpoint::{CheckpointOptions, check_state_dict, infer_config, inflate_patch_embed};
pub use config::{PRESETS, RopeDtype, ViTConfig};
pub use error::{Error, Result};
pub use model::{DinoVisionTransformer, Features};
