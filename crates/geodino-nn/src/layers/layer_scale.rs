//! LayerScale: a learned per-channel gain on a residual branch.

use tch::{Tensor, nn};

use crate::init;

/// `x ⊙ γ`. Key: `gamma`.
#[derive(Debug)]
pub struct LayerScale {
    /// `(d)`.
    pub gamma: Tensor,
    init_value: f64,
}

impl LayerScale {
    /// Create `gamma` under `vs`, filled with `init_value` (1e-5 for the released recipe).
    pub fn new(vs: nn::Path<'_>, dim: i64, init_value: f64) -> LayerScale {
        let gamma = vs.zeros("gamma", &[dim]);
        let l = LayerScale { gamma, init_value };
        l.init();
        l
    }

    /// Reset `gamma` to the initial value.
    pub fn init(&self) {
        init::constant_(&self.gamma, self.init_value);
    }

    /// # Shapes
    /// `(…, d) → (…, d)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x * &self.gamma
    }
}
