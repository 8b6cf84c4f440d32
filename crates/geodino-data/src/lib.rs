//! Torch-free data preparation: normalisation presets, multi-crop augmentation, iBOT masking, synthetic scenes, chip sampling.

pub mod normalize;
