//! Multi-head self-attention with RoPE on the patch tokens (dinov3 `layers/attention.py`).

use tch::{Tensor, nn};

use super::linear::{Linear, LinearConfig};
use super::rope::{RopeTables, apply_rope_qk};

/// Configuration of a [`SelfAttention`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionConfig {
    /// Width `d`.
    pub dim: i64,
    /// Number of heads (`d % heads == 0`).
    pub num_heads: i64,
    /// Bias on `qkv`.
    pub qkv_bias: bool,
    /// Bias on `proj`.
    pub proj_bias: bool,
    /// Mask the K part of the `qkv` bias (released models).
    pub mask_k_bias: bool,
}

/// Keys: `qkv.{weight,bias,bias_mask}`, `proj.{weight,bias}`.
#[derive(Debug)]
pub struct SelfAttention {
    /// `d → 3d`, laid out `[q (heads × dh), k, v]`.
    pub qkv: Linear,
    /// `d → d`.
    pub proj: Linear,
    num_heads: i64,
    dim: i64,
}

impl SelfAttention {
    /// Create the variables under `vs`.
    pub fn new(vs: nn::Path<'_>, cfg: &AttentionConfig) -> SelfAttention {
        let qkv = Linear::new(
            &vs / "qkv",
            &LinearConfig {
                in_features: cfg.dim,
                out_features: 3 * cfg.dim,
                bias: cfg.qkv_bias,
                mask_k_bias: cfg.mask_k_bias,
            },
        );
        let proj = Linear::new(
            &vs / "proj",
            &LinearConfig {
                in_features: cfg.dim,
                out_features: cfg.dim,
                bias: cfg.proj_bias,
                mask_k_bias: false,
            },
        );
        SelfAttention { qkv, proj, num_heads: cfg.num_heads, dim: cfg.dim }
    }

    /// Reference initialisation.
    pub fn init(&self) {
        self.qkv.init();
        self.proj.init();
    }

    /// Attention given the `qkv` projection: split heads, rotate the patch tokens, SDPA (scale
    /// `1/√dh`, no mask, no dropout), merge heads. No output projection.
    ///
    /// # Shapes
    /// `qkv (b, n, 3d) → (b, n, d)`.
    pub fn compute_attention(&self, qkv: &Tensor, rope: Option<&RopeTables>) -> Tensor {
        let (b, n) = (qkv.size()[0], qkv.size()[1]);
        let qkv = qkv.reshape([b, n, 3, self.num_heads, self.dim / self.num_heads]); // (b, n, 3, heads, dh)
        let qk = match rope {
            Some(t) => apply_rope_qk(&qkv.narrow(2, 0, 2), t), // (b, n, 2, heads, dh)
            None => qkv.narrow(2, 0, 2),
        };
        let q = qk.select(2, 0).transpose(1, 2); // (b, heads, n, dh)
        let k = qk.select(2, 1).transpose(1, 2);
        let v = qkv.select(2, 2).transpose(1, 2);
        let x = Tensor::scaled_dot_product_attention::<Tensor>(
            &q, &k, &v, None, 0.0, false, None, false,
        );
        x.transpose(1, 2).reshape([b, n, self.dim]) // (b, n, d)
    }

    /// # Shapes
    /// `(b, n, d) → (b, n, d)`; `rope` covers the last `P ≤ n` tokens.
    pub fn forward(&self, x: &Tensor, rope: Option<&RopeTables>) -> Tensor {
        let qkv = self.qkv.forward(x);
        self.proj.forward(&self.compute_attention(&qkv, rope))
    }

    /// The list form used in training: `qkv` and `proj` run once on the concatenated tokens of
    /// every element, attention per element (each with its own tables).
    ///
    /// # Shapes
    /// element `i`: `(b_i, n_i, d) → (b_i, n_i, d)`.
    pub fn forward_list(&self, xs: &[Tensor], ropes: &[Option<&RopeTables>]) -> Vec<Tensor> {
        let (flat, shapes) = cat_keep_shapes(xs);
        let qkv = self.qkv.forward(&flat);
        let qkv_list = uncat_with_shapes(&qkv, &shapes);
        let att: Vec<Tensor> =
            qkv_list.iter().zip(ropes).map(|(q, r)| self.compute_attention(q, *r)).collect();
        let (flat, shapes) = cat_keep_shapes(&att);
        uncat_with_shapes(&self.proj.forward(&flat), &shapes)
    }
}

/// Flatten every tensor to `(tokens, d)` and concatenate; returns the leading shapes.
pub fn cat_keep_shapes(xs: &[Tensor]) -> (Tensor, Vec<Vec<i64>>) {
    let shapes: Vec<Vec<i64>> = xs.iter().map(|x| x.size()).collect();
    let flat: Vec<Tensor> = xs.iter().map(|x| x.flatten(0, -2)).collect();
    (Tensor::cat(&flat, 0), shapes)
}

/// Undo [`cat_keep_shapes`] (the last dimension may have changed).
pub fn uncat_with_shapes(flat: &Tensor, shapes: &[Vec<i64>]) -> Vec<Tensor> {
    let d = *flat.size().last().expect("2-d");
    let counts: Vec<i64> = shapes.iter().map(|s| s[..s.len() - 1].iter().product()).collect();
    flat.split_with_sizes(&counts, 0)
        .into_iter()
        .zip(shapes)
        .map(|(t, s)| {
            let mut shape = s.clone();
            *shape.last_mut().expect("non-empty shape") = d;
            t.reshape(&shape)
        })
        .collect()
}
