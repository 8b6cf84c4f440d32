//! The [`Backbone`] trait: what dense heads, whole-scene inference and feature extraction need
//! from a vision backbone, so that they never name a concrete model.

use tch::{Device, Kind, Tensor};

use crate::Result;

/// The features of one block of a backbone.
#[derive(Debug)]
pub struct LayerFeatures {
    /// Patch tokens: `(b, d, h, w)` when reshaped, else `(b, h·w, d)` (row-major grid).
    pub patch: Tensor,
    /// Class token `(b, d)`.
    pub cls: Tensor,
    /// Register (storage) tokens `(b, r, d)` (`r` may be 0).
    pub registers: Tensor,
}

/// A ViT-style backbone producing patch-grid features.
///
/// Inputs are normalised images `(b, c, H, W)` in the backbone's kind ([`Backbone::kind`]) on
/// its device ([`Backbone::device`]); the patch grid is `h = ⌊H / p⌋`, `w = ⌊W / p⌋`.
/// Implementations do not switch gradient mode: wrap calls in `tch::no_grad` for inference.
pub trait Backbone: std::fmt::Debug + Send {
    /// Token width `d`.
    fn embed_dim(&self) -> i64;
    /// Patch size `p` in pixels.
    fn patch_size(&self) -> i64;
    /// Number of transformer blocks.
    fn n_blocks(&self) -> usize;
    /// Number of input channels.
    fn in_chans(&self) -> i64;
    /// Device of the parameters.
    fn device(&self) -> Device;
    /// Floating kind of the parameters (inputs should have it).
    fn kind(&self) -> Kind;

    /// The outputs of blocks `layers` (0-based, any order, in that order), optionally passed
    /// through the final norm (`norm`) and reshaped to `(b, d, h, w)` (`reshape`).
    ///
    /// # Shapes
    /// `x (b, c, H, W)` → per layer `patch (b, d, h, w)` or `(b, h·w, d)`, `cls (b, d)`,
    /// `registers (b, r, d)`.
    ///
    /// # Errors
    /// Bad input rank, channel count, a size smaller than one patch, or a layer index
    /// `≥ n_blocks`.
    fn intermediate_layers(
        &self,
        x: &Tensor,
        layers: &[usize],
        norm: bool,
        reshape: bool,
    ) -> Result<Vec<LayerFeatures>>;

    /// Indices of the last `n` blocks (for `get_intermediate_layers(n=4)`-style calls).
    fn last_layers(&self, n: usize) -> Vec<usize> {
        let l = self.n_blocks();
        (l.saturating_sub(n)..l).collect()
    }

    /// The final, normalised patch features: the clean entry point for dense embedding.
    ///
    /// # Shapes
    /// `(b, c, H, W) → (b, d, h, w)`.
    ///
    /// # Errors
    /// As [`Backbone::intermediate_layers`].
    fn patch_features(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.n_blocks() - 1;
        let mut out = self.intermediate_layers(x, &[last], true, true)?;
        Ok(out.pop().expect("one layer requested").patch)
    }
}
