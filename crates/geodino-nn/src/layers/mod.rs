//! The layers of DINOv3's ViT (`dinov3/layers`), each `new(path, &cfg)` + `forward`, with
//! variable names equal to the official checkpoint keys.

pub mod attention;
pub mod block;
pub mod ffn;
pub mod layer_scale;
pub mod linear;
pub mod norm;
pub mod patch_embed;
pub mod rope;

pub use attention::{AttentionConfig, SelfAttention};
pub use block::{BlockConfig, SelfAttentionBlock};
pub use ffn::{Ffn, FfnConfig, FfnLayer};
pub use layer_scale::LayerScale;
pub use linear::{Linear, LinearConfig};
pub use norm::{Norm, NormLayer};
pub use patch_embed::{PatchEmbed, PatchEmbedConfig, PatchTokens};
pub use rope::{NormalizeCoords, RopeConfig, RopePositionEmbedding, RopeTables};
