//! The DINO / iBOT projection head, after `dinov3/layers/dino_head.py` (facebookresearch/dinov3
//! at 6876159).
//!
//! `Linear(in, hidden) → GELU → [Linear(hidden, hidden) → GELU] × (nlayers − 2) →
//! Linear(hidden, bottleneck) → L2-normalise (eps 1e-12) → last_layer = Linear(bottleneck, K, no bias)`.
//!
//! The parameter names equal the reference's state-dict keys: `mlp.0`, `mlp.2`, `mlp.4` (the odd
//! indices are the parameter-free GELUs) and `last_layer`; with `nlayers = 1` the MLP is a single
//! `Linear` named `mlp`. There is no weight normalisation and no batch norm (`head_norm_last_layer:
//! false` and `use_bn: false` in every released config). DINO and iBOT use separate heads of this
//! type.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::{Result, SslError};

/// Sizes of a [`DinoHead`]. Field names follow the `dino.head_*` / `ibot.head_*` keys of the
/// dinov3 configs; `Default` is the reference's default config (`ssl_default_config.yaml`) on a
/// ViT-L (`in_dim` 1024).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DinoHeadConfig {
    /// Input width: the backbone's embedding dimension. Default 1024 (ViT-L).
    pub in_dim: i64,
    /// Number of prototypes `K` (`head_n_prototypes`). Default 65 536.
    pub n_prototypes: i64,
    /// Hidden width of the MLP (`head_hidden_dim`). Default 2048.
    pub hidden_dim: i64,
    /// Bottleneck width before the L2 normalisation (`head_bottleneck_dim`). Default 256.
    pub bottleneck_dim: i64,
    /// Number of linear layers in the MLP (`head_nlayers`). Default 3.
    pub nlayers: usize,
    /// Whether the MLP's linear layers have biases (`mlp_bias`). Default true.
    pub mlp_bias: bool,
}

impl Default for DinoHeadConfig {
    fn default() -> Self {
        DinoHeadConfig {
            in_dim: 1024,
            n_prototypes: 65_536,
            hidden_dim: 2048,
            bottleneck_dim: 256,
            nlayers: 3,
            mlp_bias: true,
        }
    }
}

impl DinoHeadConfig {
    /// The default recipe's head (2048-2048-256 / 65 536) on a backbone of width `in_dim`.
    pub fn ssl_default(in_dim: i64) -> Self {
        DinoHeadConfig { in_dim, ..Default::default() }
    }

    /// The ViT-7B DINO head of `dinov3_vit7b16_pretrain.yaml`: 8192-8192-512 / 262 144.
    pub fn vit7b_dino() -> Self {
        DinoHeadConfig {
            in_dim: 4096,
            n_prototypes: 262_144,
            hidden_dim: 8192,
            bottleneck_dim: 512,
            ..Default::default()
        }
    }

    /// The ViT-7B iBOT head of `dinov3_vit7b16_pretrain.yaml`: 4096-4096-384 / 98 304 (the
    /// paper's Table 2 says hidden 8192; the configs say 4096, which is what we follow).
    pub fn vit7b_ibot() -> Self {
        DinoHeadConfig {
            in_dim: 4096,
            n_prototypes: 98_304,
            hidden_dim: 4096,
            bottleneck_dim: 384,
            ..Default::default()
        }
    }

    /// The same head on a backbone of width `in_dim`.
    pub fn with_in_dim(mut self, in_dim: i64) -> Self {
        self.in_dim = in_dim;
        self
    }

    /// Check that every size is positive.
    ///
    /// # Errors
    /// [`SslError::Config`] naming the offending field.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_dim", self.in_dim),
            ("n_prototypes", self.n_prototypes),
            ("hidden_dim", self.hidden_dim),
            ("bottleneck_dim", self.bottleneck_dim),
        ] {
            if v <= 0 {
                return Err(SslError::Config(format!(
                    "DinoHeadConfig.{name} must be > 0, got {v}"
                )));
            }
        }
        if self.nlayers == 0 {
            return Err(SslError::Config("DinoHeadConfig.nlayers must be >= 1".into()));
        }
        Ok(())
    }
}

/// Both outputs of the head.
#[derive(Debug)]
pub struct DinoHeadOutput {
    /// The L2-normalised bottleneck `[n, bottleneck_dim]`.
    pub bottleneck: Tensor,
    /// Prototype scores `[n, n_prototypes]`.
    pub logits: Tensor,
}

/// The DINO / iBOT head. See the module documentation.
#[derive(Debug)]
pub struct DinoHead {
    mlp: Vec<nn::Linear>,
    last_layer: nn::Linear,
    cfg: DinoHeadConfig,
}

/// L2 normalisation along the last dimension, `x / max(‖x‖₂, eps)` (`F.normalize`).
pub fn l2_normalize(x: &Tensor, eps: f64) -> Tensor {
    let norm = x.norm_scalaropt_dim(2, [-1i64].as_slice(), true);
    x / norm.clamp_min(eps)
}

/// The reference initialisation of every `nn.Linear` in the head: `trunc_normal_(std=0.02)` with
/// torch's default truncation at ±2 (absolute, i.e. 100 σ), bias 0.
fn reference_linear(p: nn::Path<'_>, in_dim: i64, out_dim: i64, bias: bool) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 },
        bs_init: Some(nn::Init::Const(0.0)),
        bias,
    };
    let lin = nn::linear(p, in_dim, out_dim, cfg);
    tch::no_grad(|| {
        let mut w = lin.ws.shallow_clone();
        let _ = w.clamp_(-2.0, 2.0);
    });
    lin
}

impl DinoHead {
    /// Create the head under `path` with the reference initialisation.
    ///
    /// # Errors
    /// [`SslError::Config`] when `cfg` is invalid.
    pub fn new(path: &nn::Path<'_>, cfg: &DinoHeadConfig) -> Result<Self> {
        cfg.validate()?;
        let mlp_path = path / "mlp";
        let mut mlp = Vec::with_capacity(cfg.nlayers);
        if cfg.nlayers == 1 {
            mlp.push(reference_linear(mlp_path, cfg.in_dim, cfg.bottleneck_dim, cfg.mlp_bias));
        } else {
            for i in 0..cfg.nlayers {
                let d_in = if i == 0 { cfg.in_dim } else { cfg.hidden_dim };
                let d_out = if i + 1 == cfg.nlayers { cfg.bottleneck_dim } else { cfg.hidden_dim };
                // Sequential index: Linear at 2i, GELU at 2i + 1.
                mlp.push(reference_linear(&mlp_path / (2 * i), d_in, d_out, cfg.mlp_bias));
            }
        }
        let last_layer =
            reference_linear(path / "last_layer", cfg.bottleneck_dim, cfg.n_prototypes, false);
        Ok(DinoHead { mlp, last_layer, cfg: cfg.clone() })
    }

    /// The configuration the head was built with.
    pub fn config(&self) -> &DinoHeadConfig {
        &self.cfg
    }

    fn check_input(&self, xs: &Tensor) -> Result<()> {
        let size = xs.size();
        if size.is_empty() || size[size.len() - 1] != self.cfg.in_dim {
            return Err(SslError::Shape {
                what: "DinoHead input",
                expected: format!("[..., {}]", self.cfg.in_dim),
                got: size,
            });
        }
        Ok(())
    }

    fn mlp_forward(&self, xs: &Tensor) -> Tensor {
        let mut x = xs.shallow_clone();
        let n = self.mlp.len();
        for (i, lin) in self.mlp.iter().enumerate() {
            x = lin.forward(&x);
            if i + 1 < n {
                // nn.GELU() is the exact (erf) GELU.
                x = x.gelu("none");
            }
        }
        // eps 1e-6 in float16 as in the reference, 1e-12 otherwise.
        let eps = if x.kind() == Kind::Half { 1e-6 } else { 1e-12 };
        l2_normalize(&x, eps)
    }

    /// Prototype scores.
    ///
    /// # Shapes
    /// `xs: [..., in_dim]` → `[..., n_prototypes]`.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the last dimension is not `in_dim`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.check_input(xs)?;
        Ok(self.last_layer.forward(&self.mlp_forward(xs)))
    }

    /// The normalised bottleneck and the prototype scores (the reference's `no_last_layer=True`
    /// output and its full output).
    ///
    /// # Shapes
    /// `xs: [..., in_dim]` → bottleneck `[..., bottleneck_dim]`, logits `[..., n_prototypes]`.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the last dimension is not `in_dim`.
    pub fn forward_parts(&self, xs: &Tensor) -> Result<DinoHeadOutput> {
        self.check_input(xs)?;
        let bottleneck = self.mlp_forward(xs);
        let logits = self.last_layer.forward(&bottleneck);
        Ok(DinoHeadOutput { bottleneck, logits })
    }

    /// Only the last layer (the reference's `only_last_layer=True`).
    ///
    /// # Shapes
    /// `z: [..., bottleneck_dim]` → `[..., n_prototypes]`.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the last dimension is not `bottleneck_dim`.
    pub fn forward_last_layer(&self, z: &Tensor) -> Result<Tensor> {
        let size = z.size();
        if size.is_empty() || size[size.len() - 1] != self.cfg.bottleneck_dim {
            return Err(SslError::Shape {
                what: "DinoHead last-layer input",
                expected: format!("[..., {}]", self.cfg.bottleneck_dim),
                got: size,
            });
        }
        Ok(self.last_layer.forward(z))
    }
}
