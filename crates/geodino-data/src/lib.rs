//! Torch-free data preparation: normalisation presets, multi-crop augmentation, iBOT masking, synthetic scenes, chip sampling.

mod error;

pub use error::{Error, Result};

pub mod metrics;
pub mod synth;
