//! Dense heads on DINOv3 backbone features, numerically equal to the official implementation
//! (`facebookresearch/dinov3` at commit 6876159):
//!
//! * [`DptHead`]: the DPT decoder (`eval/depth/models/dpt_head.py`) — the CHMv2 canopy-height
//!   head ([`DptConfig::chmv2`], 256 mixed-log bins, 0.001–96 m, [`DepthConfig::chmv2`]) and a
//!   DPT land-cover head with one output per class;
//! * [`LinearHead`]: the linear segmentation head (`eval/segmentation/models/heads/linear_head.py`);
//! * [`DenseHead`]: a decoder with its variables and its [`HeadSpec`] (task, classes and
//!   colours, backbone layers, normalisation), read from official checkpoints (architecture
//!   inferred from the tensors, strict key validation) or from self-describing geodino head
//!   files, and run end to end behind the [`Head`] trait (centre padding, backbone layers,
//!   bins → metres, cropping back), in f32 or bf16.
//!
//! Heads see backbones only through [`geodino_nn::Backbone`]. `docs/heads.md` is the user
//! documentation, including the head file format.

mod depth;
mod dpt;
mod error;
mod geometry;
mod head;
pub mod layers;
mod linear;
mod spec;

pub use depth::{BinsStrategy, DepthConfig, NormStrategy};
pub use dpt::{DPT_LEVELS, DptConfig, DptHead, FeatureFusionBlock, Readout, ResidualConvUnit};
pub use error::{Error, Result};
pub use geometry::{Geometry, OutputSize, PatchAdaptation};
pub use head::{Decoder, DenseHead, Head, HeadOptions, HeadOutput};
pub use linear::{LinearHead, LinearHeadConfig};
pub use spec::{
    BackboneSpec, ClassInfo, DecoderConfig, HEAD_FORMAT, HEAD_FORMAT_VERSION, HEAD_METADATA_KEY,
    HeadSpec, NormalizationSpec, PRESETS, Task, default_color,
};
