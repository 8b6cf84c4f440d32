//! One module per subcommand.

// ---- raster IO (issue 3) ----
pub mod convert;
pub mod info;

// ---- backbones (issue 4) ----
#[cfg(feature = "torch")]
pub mod backbone_run;
#[cfg(feature = "torch")]
pub mod convert_weights;
#[cfg(feature = "torch")]
pub mod embed;
#[cfg(feature = "torch")]
pub mod pca;

// ---- heads and whole-scene inference (issue 5) ----
#[cfg(feature = "torch")]
pub mod head_run;
#[cfg(feature = "torch")]
pub mod landcover;
#[cfg(feature = "torch")]
pub mod scene_args;

// ---- pretraining (issue 6) ----
#[cfg(feature = "torch")]
pub mod export_backbone;
#[cfg(feature = "torch")]
pub mod pretrain;

// ---- head training, evaluation, synthetic scenes (issue 7) ----
pub mod eval;
pub mod synth_scene;
#[cfg(feature = "torch")]
pub mod train_head;
