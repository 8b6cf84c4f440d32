//! LayerNorm and RMSNorm over the last dimension.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::init;

/// Which normalisation, named as dinov3's `norm_layer` option.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NormLayer {
    /// `nn.LayerNorm(eps=1e-6)`.
    #[serde(rename = "layernorm")]
    LayerNorm,
    /// `nn.LayerNorm(eps=1e-5)` (the released models; no bf16 logic despite the name).
    #[default]
    #[serde(rename = "layernormbf16")]
    LayerNormBf16,
    /// dinov3's `RMSNorm` (eps 1e-5, weight only, computed in f32).
    #[serde(rename = "rmsnorm")]
    RmsNorm,
}

impl NormLayer {
    /// The epsilon.
    pub fn eps(self) -> f64 {
        match self {
            NormLayer::LayerNorm => 1e-6,
            NormLayer::LayerNormBf16 | NormLayer::RmsNorm => 1e-5,
        }
    }
}

/// A normalisation layer. Keys: `weight` (and `bias` for LayerNorm).
#[derive(Debug)]
pub struct Norm {
    /// `(d)`.
    pub weight: Tensor,
    /// `(d)`, LayerNorm only.
    pub bias: Option<Tensor>,
    kind: NormLayer,
    dim: i64,
}

impl Norm {
    /// Create the variables under `vs`, initialised as the reference (weight 1, bias 0).
    pub fn new(vs: nn::Path<'_>, dim: i64, kind: NormLayer) -> Norm {
        let weight = vs.ones("weight", &[dim]);
        let bias = (kind != NormLayer::RmsNorm).then(|| vs.zeros("bias", &[dim]));
        Norm { weight, bias, kind, dim }
    }

    /// Reset to weight 1, bias 0.
    pub fn init(&self) {
        init::constant_(&self.weight, 1.0);
        if let Some(b) = &self.bias {
            init::constant_(b, 0.0);
        }
    }

    /// # Shapes
    /// `(…, d) → (…, d)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self.kind {
            NormLayer::LayerNorm | NormLayer::LayerNormBf16 => x.layer_norm(
                [self.dim],
                Some(&self.weight),
                self.bias.as_ref(),
                self.kind.eps(),
                true,
            ),
            NormLayer::RmsNorm => {
                let xf = x.to_kind(Kind::Float);
                let r = (xf.square().mean_dim(-1, true, Kind::Float) + self.kind.eps()).rsqrt();
                (xf * r).to_kind(x.kind()) * &self.weight
            }
        }
    }
}
