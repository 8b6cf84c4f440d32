//! Torch-free data preparation: normalisation presets, multi-crop augmentation, iBOT masking, synthetic scenes, chip sampling.

mod error;

pub use error::{Error, Result};

pub mod augment;
pub mod masking;
pub mod metrics;
pub mod multicrop;
pub mod normalize;
pub mod synth;
