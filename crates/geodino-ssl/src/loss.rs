//! The self-supervised objectives of DINOv3 (facebookresearch/dinov3 at 6876159, `dinov3/loss/`):
//! the DINO class-token loss, the iBOT masked-patch loss, the KoLeo regulariser and the Gram
//! anchoring loss. Each is a small struct holding its options with a `forward`; the weighting of
//! the terms into one training loss lives in [`crate::objective`].

pub mod dino;
pub mod gram;
pub mod ibot;
pub mod koleo;

pub use dino::DinoLoss;
pub use gram::{GramLoss, GramLossConfig, PatchGrid, downsample_patch_features};
pub use ibot::IbotPatchLoss;
pub use koleo::KoLeoLoss;
