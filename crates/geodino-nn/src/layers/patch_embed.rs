//! Patch embedding: a `patch × patch` convolution with stride `patch` (dinov3
//! `layers/patch_embed.py`). Sizes that are not a multiple of the patch are floored: the
//! convolution drops the right and bottom remainder.

use tch::{Tensor, nn};

use crate::init;

/// Configuration of a [`PatchEmbed`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchEmbedConfig {
    /// Patch size (16 for every released model).
    pub patch_size: i64,
    /// Input channels (3 for RGB; more for multispectral inputs).
    pub in_chans: i64,
    /// Embedding width.
    pub embed_dim: i64,
}

/// The tokens of a patch grid and the grid size.
#[derive(Debug)]
pub struct PatchTokens {
    /// `(b, h·w, d)`, row-major over the grid.
    pub tokens: Tensor,
    /// Grid rows `⌊H / patch⌋`.
    pub h: i64,
    /// Grid columns `⌊W / patch⌋`.
    pub w: i64,
}

/// Keys: `proj.weight` `(d, c, p, p)`, `proj.bias` `(d)`.
#[derive(Debug)]
pub struct PatchEmbed {
    /// Convolution weight `(d, c, p, p)`.
    pub weight: Tensor,
    /// Convolution bias `(d)`.
    pub bias: Tensor,
    cfg: PatchEmbedConfig,
}

impl PatchEmbed {
    /// Create the variables under `vs` (the module path; the convolution is `vs / "proj"`).
    pub fn new(vs: nn::Path<'_>, cfg: &PatchEmbedConfig) -> PatchEmbed {
        let proj = &vs / "proj";
        let weight =
            proj.zeros("weight", &[cfg.embed_dim, cfg.in_chans, cfg.patch_size, cfg.patch_size]);
        let bias = proj.zeros("bias", &[cfg.embed_dim]);
        PatchEmbed { weight, bias, cfg: cfg.clone() }
    }

    /// The configuration.
    pub fn config(&self) -> &PatchEmbedConfig {
        &self.cfg
    }

    /// Reference initialisation: uniform(±√(1 / (c·p²))) for weight and bias.
    pub fn init(&self) {
        let k =
            (1.0 / (self.cfg.in_chans * self.cfg.patch_size * self.cfg.patch_size) as f64).sqrt();
        init::uniform_(&self.weight, -k, k);
        init::uniform_(&self.bias, -k, k);
    }

    /// The input is cast to the weight's kind; the tokens come out in it.
    ///
    /// # Shapes
    /// `(b, c, H, W) → (b, h·w, d)` with `h = ⌊H/p⌋`, `w = ⌊W/p⌋`.
    pub fn forward(&self, x: &Tensor) -> PatchTokens {
        let p = self.cfg.patch_size;
        let k = self.weight.kind();
        let x = if x.kind() == k { x.shallow_clone() } else { x.to_kind(k) };
        let y = x.conv2d(&self.weight, Some(&self.bias), [p, p], [0, 0], [1, 1], 1); // (b, d, h, w)
        let (h, w) = (y.size()[2], y.size()[3]);
        let tokens = y.flatten(2, 3).transpose(1, 2); // (b, h·w, d)
        PatchTokens { tokens, h, w }
    }
}
