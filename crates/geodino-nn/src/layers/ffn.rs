//! Feed-forward layers: the GELU MLP and SwiGLU (dinov3 `layers/ffn_layers.py`).

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use super::linear::{Linear, LinearConfig};

/// Which FFN, named as dinov3's `ffn_layer` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FfnLayer {
    /// `fc2(GELU(fc1 x))`, exact (erf) GELU.
    #[default]
    #[serde(rename = "mlp")]
    Mlp,
    /// `w3(SiLU(w1 x) ⊙ w2 x)`, hidden width rounded up to a multiple of 8.
    #[serde(rename = "swiglu")]
    SwiGlu,
    /// SwiGLU aligned to 32.
    #[serde(rename = "swiglu32")]
    SwiGlu32,
    /// SwiGLU aligned to 64 (the 7B).
    #[serde(rename = "swiglu64")]
    SwiGlu64,
    /// SwiGLU aligned to 128.
    #[serde(rename = "swiglu128")]
    SwiGlu128,
}

impl FfnLayer {
    /// The SwiGLU alignment, `None` for the MLP.
    pub fn align(self) -> Option<usize> {
        match self {
            FfnLayer::Mlp => None,
            FfnLayer::SwiGlu => Some(8),
            FfnLayer::SwiGlu32 => Some(32),
            FfnLayer::SwiGlu64 => Some(64),
            FfnLayer::SwiGlu128 => Some(128),
        }
    }

    /// The hidden width the reference builds for `dim` and `ratio`: `int(dim·ratio)` for the
    /// MLP; for SwiGLU `d = int(int(dim·ratio)·2/3)` rounded up to the alignment.
    pub fn hidden_features(self, dim: usize, ratio: f64) -> usize {
        let h0 = (dim as f64 * ratio) as usize;
        match self.align() {
            None => h0,
            Some(a) => {
                let d = ((h0 * 2) as f64 / 3.0) as usize;
                d.div_ceil(a) * a
            }
        }
    }
}

/// Configuration of an [`Ffn`].
#[derive(Debug, Clone, PartialEq)]
pub struct FfnConfig {
    /// MLP or SwiGLU.
    pub kind: FfnLayer,
    /// Input (= output) width.
    pub dim: i64,
    /// Hidden width as built (after the SwiGLU rule).
    pub hidden: i64,
    /// Biases on every linear.
    pub bias: bool,
}

/// The block's feed-forward network. Keys: `fc1`, `fc2` (MLP) or `w1`, `w2`, `w3` (SwiGLU).
#[derive(Debug)]
pub enum Ffn {
    /// GELU MLP.
    Mlp {
        /// `dim → hidden`.
        fc1: Linear,
        /// `hidden → dim`.
        fc2: Linear,
    },
    /// SwiGLU.
    SwiGlu {
        /// Gate projection `dim → hidden` (SiLU applied).
        w1: Linear,
        /// Value projection `dim → hidden`.
        w2: Linear,
        /// Output projection `hidden → dim`.
        w3: Linear,
    },
}

impl Ffn {
    /// Create the variables under `vs`.
    pub fn new(vs: nn::Path<'_>, cfg: &FfnConfig) -> Ffn {
        let lin = |name: &str, i, o| {
            Linear::new(
                &vs / name,
                &LinearConfig {
                    in_features: i,
                    out_features: o,
                    bias: cfg.bias,
                    mask_k_bias: false,
                },
            )
        };
        match cfg.kind {
            FfnLayer::Mlp => Ffn::Mlp {
                fc1: lin("fc1", cfg.dim, cfg.hidden),
                fc2: lin("fc2", cfg.hidden, cfg.dim),
            },
            _ => Ffn::SwiGlu {
                w1: lin("w1", cfg.dim, cfg.hidden),
                w2: lin("w2", cfg.dim, cfg.hidden),
                w3: lin("w3", cfg.hidden, cfg.dim),
            },
        }
    }

    /// Reference initialisation of every linear.
    pub fn init(&self) {
        match self {
            Ffn::Mlp { fc1, fc2 } => {
                fc1.init();
                fc2.init();
            }
            Ffn::SwiGlu { w1, w2, w3 } => {
                w1.init();
                w2.init();
                w3.init();
            }
        }
    }

    /// # Shapes
    /// `(…, dim) → (…, dim)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Ffn::Mlp { fc1, fc2 } => fc2.forward(&fc1.forward(x).gelu("none")),
            Ffn::SwiGlu { w1, w2, w3 } => {
                let hidden = w1.forward(x).silu() * w2.forward(x);
                w3.forward(&hidden)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_widths_follow_the_reference_rule() {
        // dinov3 hub table: S+ 1536, H+ 5120, 7B 8192, L 4096, golden vit_swiglu_sat 384.
        assert_eq!(FfnLayer::SwiGlu.hidden_features(384, 6.0), 1536);
        assert_eq!(FfnLayer::SwiGlu.hidden_features(1280, 6.0), 5120);
        assert_eq!(FfnLayer::SwiGlu64.hidden_features(4096, 3.0), 8192);
        assert_eq!(FfnLayer::Mlp.hidden_features(1024, 4.0), 4096);
        assert_eq!(FfnLayer::SwiGlu.hidden_features(96, 6.0), 384);
        // 1152·3.777777778 → 4352 (so400m, MLP)
        assert_eq!(FfnLayer::Mlp.hidden_features(1152, 3.777777778), 4352);
    }
}
