//! DINOv3 self-supervised objectives: DINO/iBOT heads and losses, Sinkhorn-Knopp, KoLeo, Gram
//! anchoring, and the teacher EMA.
//!
//! Ported from facebookresearch/dinov3 at commit 6876159 (`dinov3/layers/dino_head.py`,
//! `dinov3/loss/*.py`, `dinov3/train/ssl_meta_arch.py`); `docs/pretraining.md` describes the
//! objectives and every place where we follow the code rather than the paper. Parity with the
//! reference is tested against `tests/golden/dinov3/ssl_losses*`.
//!
//! * [`DinoHead`]: the projection head (state-dict keys `mlp.0`, `mlp.2`, `mlp.4`, `last_layer`);
//! * [`centering`]: Sinkhorn-Knopp teacher centering, DINO and iBOT variants;
//! * [`loss`]: [`DinoLoss`], [`IbotPatchLoss`], [`KoLeoLoss`], [`GramLoss`] and the Gram-teacher
//!   feature resize;
//! * [`SslObjective`]: all terms weighted as the reference does, as a [`LossBreakdown`];
//! * [`ema`]: the teacher EMA and Gram-teacher refresh, pairing parameters by name;
//! * [`state_dict`]: strict loading of `.safetensors` / `.pth` state dicts (`geodino-weights` reader,
//!   `geodino-nn` strict loader).
//!
//! Models and losses are pure: no IO besides explicit weight loading, no logging, no optimiser.

pub mod centering;
pub mod dino_head;
pub mod ema;
pub mod error;
pub mod loss;
pub mod objective;
pub mod state_dict;

pub use centering::{SINKHORN_ITERATIONS, sinkhorn_knopp, sinkhorn_knopp_masked};
pub use dino_head::{DinoHead, DinoHeadConfig, DinoHeadOutput};
pub use ema::{ParamPairs, ema_update};
pub use error::{Result, SslError};
pub use loss::{DinoLoss, GramLoss, GramLossConfig, IbotPatchLoss, KoLeoLoss, PatchGrid};
pub use objective::{
    AppliedWeights, GramInputs, LossBreakdown, LossValues, SslLossConfig, SslLossInputs,
    SslObjective, StepWeights, TeacherTargets,
};
