//! `Linear` with an optional bias and the DINOv3 masked-K bias (`LinearKMaskedBias`).

use tch::{Tensor, nn};

use crate::init;

/// Configuration of a [`Linear`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearConfig {
    /// Input features.
    pub in_features: i64,
    /// Output features.
    pub out_features: i64,
    /// Whether there is a bias.
    pub bias: bool,
    /// DINOv3's `LinearKMaskedBias`: a persistent buffer `bias_mask` (1 for Q, 0 for K, 1 for V)
    /// multiplies the bias, so the K projection never gets one. Needs `out_features % 3 == 0`.
    pub mask_k_bias: bool,
}

/// `y = x·Wᵀ + b` (with `b ⊙ bias_mask` when masked). Keys: `weight`, `bias`, `bias_mask`.
#[derive(Debug)]
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out)`.
    pub bias: Option<Tensor>,
    /// `(out)`, a buffer (not trained).
    pub bias_mask: Option<Tensor>,
}

impl Linear {
    /// Create the variables under `vs` (zero-filled; see [`Linear::init`]).
    pub fn new(vs: nn::Path<'_>, cfg: &LinearConfig) -> Linear {
        let weight = vs.zeros("weight", &[cfg.out_features, cfg.in_features]);
        let bias = cfg.bias.then(|| vs.zeros("bias", &[cfg.out_features]));
        let bias_mask = (cfg.bias && cfg.mask_k_bias).then(|| {
            let m = vs.ones_no_train("bias_mask", &[cfg.out_features]);
            fill_k_mask(&m);
            m
        });
        Linear { weight, bias, bias_mask }
    }

    /// The reference initialisation: weight truncated-normal (std 0.02), bias 0, bias mask
    /// `[1…, 0…, 1…]`.
    pub fn init(&self) {
        init::trunc_normal_(&self.weight, 0.0, 0.02, -2.0, 2.0);
        if let Some(b) = &self.bias {
            init::constant_(b, 0.0);
        }
        if let Some(m) = &self.bias_mask {
            fill_k_mask(m);
        }
    }

    /// The bias as applied (masked when there is a mask).
    pub fn effective_bias(&self) -> Option<Tensor> {
        match (&self.bias, &self.bias_mask) {
            (Some(b), Some(m)) => Some(b * m.to_kind(b.kind())),
            (Some(b), None) => Some(b.shallow_clone()),
            _ => None,
        }
    }

    /// Mixed precision as under autocast: an input of another kind than the weight (f32
    /// activations with bf16/f16 weights) is cast to the weight's kind, and so is the output.
    ///
    /// # Shapes
    /// `(…, in) → (…, out)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let k = self.weight.kind();
        if x.kind() == k {
            x.linear(&self.weight, self.effective_bias().as_ref())
        } else {
            x.to_kind(k).linear(&self.weight, self.effective_bias().as_ref())
        }
    }
}

fn fill_k_mask(m: &Tensor) {
    let o = m.size()[0];
    tch::no_grad(|| {
        let _ = m.shallow_clone().fill_(1.0);
        let _ = m.narrow(0, o / 3, o / 3).fill_(0.0);
    });
}
