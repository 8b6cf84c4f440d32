//! The pre-norm transformer block with LayerScale and DINOv3's "batch-subset" stochastic depth
//! (dinov3 `layers/block.py`, `SelfAttentionBlock`).

use tch::{Device, Kind, Tensor, nn};

use super::attention::{AttentionConfig, SelfAttention, cat_keep_shapes, uncat_with_shapes};
use super::ffn::{Ffn, FfnConfig};
use super::layer_scale::LayerScale;
use super::norm::{Norm, NormLayer};
use super::rope::RopeTables;

/// Configuration of a [`SelfAttentionBlock`].
#[derive(Debug, Clone, PartialEq)]
pub struct BlockConfig {
    /// Attention settings (width, heads, biases).
    pub attn: AttentionConfig,
    /// FFN settings.
    pub ffn: FfnConfig,
    /// Normalisation of `norm1`/`norm2`.
    pub norm: NormLayer,
    /// LayerScale initial value; `None` means no LayerScale (identity).
    pub layerscale_init: Option<f64>,
    /// Stochastic-depth rate (training only).
    pub drop_path: f64,
}

/// `x ← x + γ1 ⊙ Attn(LN1 x)`, then `x ← x + γ2 ⊙ FFN(LN2 x)`.
/// Keys: `norm1`, `attn`, `ls1`, `norm2`, `mlp`, `ls2`.
#[derive(Debug)]
pub struct SelfAttentionBlock {
    /// Pre-attention norm.
    pub norm1: Norm,
    /// Attention.
    pub attn: SelfAttention,
    /// Attention LayerScale.
    pub ls1: Option<LayerScale>,
    /// Pre-FFN norm.
    pub norm2: Norm,
    /// Feed-forward.
    pub mlp: Ffn,
    /// FFN LayerScale.
    pub ls2: Option<LayerScale>,
    sample_drop_ratio: f64,
}

fn scale(ls: &Option<LayerScale>, x: Tensor) -> Tensor {
    match ls {
        Some(l) => l.forward(&x),
        None => x,
    }
}

impl SelfAttentionBlock {
    /// Create the variables under `vs`.
    pub fn new(vs: nn::Path<'_>, cfg: &BlockConfig) -> SelfAttentionBlock {
        let d = cfg.attn.dim;
        SelfAttentionBlock {
            norm1: Norm::new(&vs / "norm1", d, cfg.norm),
            attn: SelfAttention::new(&vs / "attn", &cfg.attn),
            ls1: cfg.layerscale_init.map(|v| LayerScale::new(&vs / "ls1", d, v)),
            norm2: Norm::new(&vs / "norm2", d, cfg.norm),
            mlp: Ffn::new(&vs / "mlp", &cfg.ffn),
            ls2: cfg.layerscale_init.map(|v| LayerScale::new(&vs / "ls2", d, v)),
            sample_drop_ratio: cfg.drop_path,
        }
    }

    /// Reference initialisation of every sub-layer.
    pub fn init(&self) {
        self.norm1.init();
        self.attn.init();
        self.norm2.init();
        self.mlp.init();
        for l in [&self.ls1, &self.ls2].into_iter().flatten() {
            l.init();
        }
    }

    /// The stochastic-depth rate.
    pub fn drop_path(&self) -> f64 {
        self.sample_drop_ratio
    }

    /// Set the stochastic-depth rate (the same for all blocks in DINOv3).
    pub fn set_drop_path(&mut self, p: f64) {
        self.sample_drop_ratio = p;
    }

    /// One tensor; equal to [`SelfAttentionBlock::forward_list`] on `[x]`.
    ///
    /// # Shapes
    /// `(b, n, d) → (b, n, d)`.
    pub fn forward(&self, x: &Tensor, rope: Option<&RopeTables>, train: bool) -> Tensor {
        self.forward_list(std::slice::from_ref(x), &[rope], train).pop().expect("one output")
    }

    /// A list of token tensors (e.g. global and local crops), each with its own RoPE tables.
    ///
    /// Outside training (or with rate 0) each element runs on its own. In training with rate
    /// `p > 0`, each residual branch runs on a random subset of `max(⌊b·(1−p)⌋, 1)` samples per
    /// element and is added back with `index_add` scaled by `b / subset` (dinov3's batch-subset
    /// drop path); norms and linears run on the concatenated tokens of all elements.
    ///
    /// # Shapes
    /// element `i`: `(b_i, n_i, d) → (b_i, n_i, d)`.
    pub fn forward_list(
        &self,
        xs: &[Tensor],
        ropes: &[Option<&RopeTables>],
        train: bool,
    ) -> Vec<Tensor> {
        assert_eq!(xs.len(), ropes.len(), "one RoPE entry per list element");
        if !(train && self.sample_drop_ratio > 0.0) {
            return xs
                .iter()
                .zip(ropes)
                .map(|(x, rope)| {
                    let x_attn =
                        x + scale(&self.ls1, self.attn.forward(&self.norm1.forward(x), *rope));
                    let ffn = scale(&self.ls2, self.mlp.forward(&self.norm2.forward(&x_attn)));
                    &x_attn + ffn
                })
                .collect();
        }
        let bs: Vec<i64> = xs.iter().map(|x| x.size()[0]).collect();
        let subset: Vec<i64> = bs
            .iter()
            .map(|&b| ((b as f64 * (1.0 - self.sample_drop_ratio)) as i64).max(1))
            .collect();
        let factors: Vec<f64> =
            bs.iter().zip(&subset).map(|(&b, &s)| b as f64 / s as f64).collect();
        let perm =
            |b: i64, s: i64, dev: Device| Tensor::randperm(b, (Kind::Int64, dev)).narrow(0, 0, s);

        // Attention branch on a random subset of each element.
        let idx1: Vec<Tensor> = xs
            .iter()
            .zip(bs.iter().zip(&subset))
            .map(|(x, (&b, &s))| perm(b, s, x.device()))
            .collect();
        let sub1: Vec<Tensor> = xs.iter().zip(&idx1).map(|(x, i)| x.index_select(0, i)).collect();
        let (flat, shapes) = cat_keep_shapes(&sub1);
        let norm1 = uncat_with_shapes(&self.norm1.forward(&flat), &shapes);
        let res1 = self.attn.forward_list(&norm1, ropes);
        let x_attn: Vec<Tensor> = xs
            .iter()
            .zip(res1)
            .zip(idx1.iter().zip(&factors))
            .map(|((x, r), (i, &f))| x.index_add(0, i, &(scale(&self.ls1, r) * f)))
            .collect();

        // FFN branch on another random subset.
        let idx2: Vec<Tensor> = x_attn
            .iter()
            .zip(bs.iter().zip(&subset))
            .map(|(x, (&b, &s))| perm(b, s, x.device()))
            .collect();
        let sub2: Vec<Tensor> =
            x_attn.iter().zip(&idx2).map(|(x, i)| x.index_select(0, i)).collect();
        let (flat, shapes) = cat_keep_shapes(&sub2);
        let res2 = uncat_with_shapes(&self.mlp.forward(&self.norm2.forward(&flat)), &shapes);
        x_attn
            .iter()
            .zip(res2)
            .zip(idx2.iter().zip(&factors))
            .map(|((x, r), (i, &f))| x.index_add(0, i, &(scale(&self.ls2, r) * f)))
            .collect()
    }
}
