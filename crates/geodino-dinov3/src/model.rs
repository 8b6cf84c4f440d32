//! [`DinoVisionTransformer`]: the port of dinov3's `models/vision_transformer.py` at commit
//! 6876159 (layers in [`geodino_nn::layers`]).

use geodino_nn::LayerFeatures;
use geodino_nn::layers::{
    AttentionConfig, BlockConfig, FfnConfig, Norm, PatchEmbed, PatchEmbedConfig, RopeConfig,
    RopePositionEmbedding, RopeTables, SelfAttentionBlock,
};
use tch::{Kind, Tensor, nn};

use crate::{Error, Result, ViTConfig};

/// The named outputs of `forward_features` for one input.
#[derive(Debug)]
pub struct Features {
    /// CLS after the final norm `(b, d)`.
    pub x_norm_clstoken: Tensor,
    /// Registers after the final norm `(b, r, d)`.
    pub x_storage_tokens: Tensor,
    /// Patches after the final norm `(b, h·w, d)`, row-major over the grid.
    pub x_norm_patchtokens: Tensor,
    /// Last block output before the norm `(b, 1 + r + h·w, d)`.
    pub x_prenorm: Tensor,
    /// The iBOT mask that was applied `(b, h·w)` (bool), if any.
    pub masks: Option<Tensor>,
    /// Patch-grid rows.
    pub h: i64,
    /// Patch-grid columns.
    pub w: i64,
}

impl Features {
    /// The normalised patch tokens as a feature map.
    ///
    /// # Shapes
    /// `(b, d, h, w)`.
    pub fn patch_map(&self) -> Tensor {
        let (b, _, d) = self.x_norm_patchtokens.size3().expect("(b, p, d)");
        self.x_norm_patchtokens.reshape([b, self.h, self.w, d]).permute([0, 3, 1, 2]).contiguous()
    }
}

/// The DINOv3 ViT. Variable names are the official checkpoint keys: `cls_token`,
/// `storage_tokens`, `mask_token`, `patch_embed.proj.*`, `rope_embed.periods`, `blocks.N.*`,
/// `norm.*`, and `cls_norm.*` / `local_cls_norm.*` when untied.
#[derive(Debug)]
pub struct DinoVisionTransformer {
    cfg: ViTConfig,
    /// Patch embedding.
    pub patch_embed: PatchEmbed,
    /// `(1, 1, d)`.
    pub cls_token: Tensor,
    /// `(1, r, d)`, absent when `r = 0`.
    pub storage_tokens: Option<Tensor>,
    /// `(1, d)`: replaces masked patch embeddings (iBOT).
    pub mask_token: Tensor,
    /// RoPE periods and table generation.
    pub rope_embed: RopePositionEmbedding,
    /// The blocks.
    pub blocks: Vec<SelfAttentionBlock>,
    /// Final norm (all tokens; patches only when untied).
    pub norm: Norm,
    /// Norm of CLS and registers when `untie_cls_and_patch_norms`.
    pub cls_norm: Option<Norm>,
    /// Norm of the local crops' CLS and registers in training when
    /// `untie_global_and_local_cls_norm` (never used at inference).
    pub local_cls_norm: Option<Norm>,
}

impl DinoVisionTransformer {
    /// Create the variables under `vs` for `cfg` (validated first). Parameters are zero, norms
    /// identity, buffers (`rope_embed.periods`, `bias_mask`) set; call
    /// [`DinoVisionTransformer::init_weights`] to train from scratch, or load a checkpoint.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(vs: nn::Path<'_>, cfg: &ViTConfig) -> Result<DinoVisionTransformer> {
        cfg.validate()?;
        let d = cfg.embed_dim as i64;
        let patch_embed = PatchEmbed::new(
            &vs / "patch_embed",
            &PatchEmbedConfig {
                patch_size: cfg.patch_size as i64,
                in_chans: cfg.in_chans as i64,
                embed_dim: d,
            },
        );
        let cls_token = vs.zeros("cls_token", &[1, 1, d]);
        let storage_tokens = (cfg.n_storage_tokens > 0)
            .then(|| vs.zeros("storage_tokens", &[1, cfg.n_storage_tokens as i64, d]));
        let rope_embed = RopePositionEmbedding::new(
            &vs / "rope_embed",
            &RopeConfig {
                head_dim: cfg.head_dim() as i64,
                base: cfg.pos_embed_rope_base,
                min_period: cfg.pos_embed_rope_min_period,
                max_period: cfg.pos_embed_rope_max_period,
                normalize_coords: cfg.pos_embed_rope_normalize_coords,
                shift_coords: cfg.pos_embed_rope_shift_coords,
                jitter_coords: cfg.pos_embed_rope_jitter_coords,
                rescale_coords: cfg.pos_embed_rope_rescale_coords,
                dtype: cfg.pos_embed_rope_dtype.kind(),
            },
        );
        let block_cfg = BlockConfig {
            attn: AttentionConfig {
                dim: d,
                num_heads: cfg.num_heads as i64,
                qkv_bias: cfg.qkv_bias,
                proj_bias: cfg.proj_bias,
                mask_k_bias: cfg.mask_k_bias,
            },
            ffn: FfnConfig {
                kind: cfg.ffn_layer,
                dim: d,
                hidden: cfg.ffn_hidden() as i64,
                bias: cfg.ffn_bias,
            },
            norm: cfg.norm_layer,
            layerscale_init: cfg.layerscale_init,
            drop_path: cfg.drop_path_rate,
        };
        let blocks_vs = &vs / "blocks";
        let blocks =
            (0..cfg.depth).map(|i| SelfAttentionBlock::new(&blocks_vs / i, &block_cfg)).collect();
        let norm = Norm::new(&vs / "norm", d, cfg.norm_layer);
        let cls_norm =
            cfg.untie_cls_and_patch_norms.then(|| Norm::new(&vs / "cls_norm", d, cfg.norm_layer));
        let local_cls_norm = cfg
            .untie_global_and_local_cls_norm
            .then(|| Norm::new(&vs / "local_cls_norm", d, cfg.norm_layer));
        let mask_token = vs.zeros("mask_token", &[1, d]);
        Ok(DinoVisionTransformer {
            cfg: cfg.clone(),
            patch_embed,
            cls_token,
            storage_tokens,
            mask_token,
            rope_embed,
            blocks,
            norm,
            cls_norm,
            local_cls_norm,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ViTConfig {
        &self.cfg
    }

    /// The reference initialisation for training from scratch (`init_weights`): periods from
    /// the base, CLS and registers normal(0, 0.02), mask token 0, linears truncated-normal
    /// (std 0.02) with zero bias, norms identity, LayerScale at its initial value, patch
    /// embedding uniform.
    pub fn init_weights(&self) {
        use geodino_nn::init;
        self.rope_embed.init();
        init::normal_(&self.cls_token, 0.0, 0.02);
        if let Some(s) = &self.storage_tokens {
            init::normal_(s, 0.0, 0.02);
        }
        init::constant_(&self.mask_token, 0.0);
        for b in &self.blocks {
            b.init();
        }
        self.norm.init();
        for n in [&self.cls_norm, &self.local_cls_norm].into_iter().flatten() {
            n.init();
        }
        self.patch_embed.init();
    }

    /// Set the stochastic-depth rate of every block (training only).
    pub fn set_drop_path_rate(&mut self, p: f64) {
        self.cfg.drop_path_rate = p;
        for b in &mut self.blocks {
            b.set_drop_path(p);
        }
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let s = x.size();
        if s.len() != 4 {
            return Err(Error::Input(format!("expected images (b, c, h, w), got shape {s:?}")));
        }
        if s[1] != self.cfg.in_chans as i64 {
            return Err(Error::Input(format!(
                "images have {} channels, the backbone takes {} (see in_chans / patch-embedding inflation)",
                s[1], self.cfg.in_chans
            )));
        }
        let p = self.cfg.patch_size as i64;
        if s[2] < p || s[3] < p {
            return Err(Error::Input(format!(
                "images of {}×{} are smaller than one {p}×{p} patch",
                s[2], s[3]
            )));
        }
        let want = self.cls_token.kind();
        if x.kind() != want {
            return Err(Error::Input(format!(
                "images are {:?}, the backbone is {want:?}",
                x.kind()
            )));
        }
        if x.device() != self.patch_embed.weight.device() {
            return Err(Error::Input(format!(
                "images are on {:?}, the backbone on {:?}",
                x.device(),
                self.patch_embed.weight.device()
            )));
        }
        Ok(())
    }

    /// Patch embedding, mask-token substitution and the `[cls, registers, patches]` sequence.
    ///
    /// # Shapes
    /// `x (b, c, H, W)`, `masks (b, h·w)` bool → `(b, 1 + r + h·w, d)`, `h`, `w`.
    pub fn prepare_tokens_with_masks(
        &self,
        x: &Tensor,
        masks: Option<&Tensor>,
    ) -> (Tensor, i64, i64) {
        let pt = self.patch_embed.forward(x);
        let b = pt.tokens.size()[0];
        let d = self.cfg.embed_dim as i64;
        let (patches, cls) = match masks {
            Some(m) => {
                let mt = self.mask_token.to_kind(pt.tokens.kind()).unsqueeze(0); // (1, 1, d)
                (mt.where_self(&m.unsqueeze(-1), &pt.tokens), self.cls_token.shallow_clone())
            }
            None => (pt.tokens, &self.cls_token + &self.mask_token * 0.0),
        };
        let storage = match &self.storage_tokens {
            Some(s) => s.shallow_clone(),
            None => Tensor::empty([1, 0, d], (cls.kind(), cls.device())),
        };
        // The residual stream has the tokens' kind: f32 also in mixed precision, where the patch
        // embedding (and the mask substitution, as under autocast) ran in bf16/f16.
        let patches = patches.to_kind(cls.kind());
        let x = Tensor::cat(
            &[cls.expand([b, -1, -1], false), storage.expand([b, -1, -1], false), patches],
            1,
        );
        (x, pt.h, pt.w)
    }

    /// RoPE tables for an `h × w` grid (augmented in training mode).
    pub fn rope_tables(&self, h: i64, w: i64, train: bool) -> RopeTables {
        self.rope_embed.forward(h, w, train)
    }

    fn check_masks(&self, m: &Tensor, x: &Tensor) -> Result<Tensor> {
        let s = x.size();
        let p = self.cfg.patch_size as i64;
        let want = [s[0], (s[2] / p) * (s[3] / p)];
        if m.size() != want {
            return Err(Error::Input(format!(
                "masks have shape {:?}, expected {want:?} (b, h·w)",
                m.size()
            )));
        }
        Ok(if m.kind() == Kind::Bool {
            m.to_device(x.device())
        } else {
            m.ne(0).to_device(x.device())
        })
    }

    /// `forward_features` on one batch in evaluation mode.
    ///
    /// # Shapes
    /// `x (b, c, H, W)`, `masks (b, h·w)` (bool or 0/1) → [`Features`].
    ///
    /// # Errors
    /// Bad input rank, channels, size, kind, device or mask shape.
    pub fn forward_features(&self, x: &Tensor, masks: Option<&Tensor>) -> Result<Features> {
        let mut v = self.forward_features_list(
            std::slice::from_ref(x),
            &[masks.map(|m| m.shallow_clone())],
            false,
        )?;
        Ok(v.pop().expect("one output"))
    }

    /// `forward_features_list`: a list of batches (e.g. global and local crops, each of its own
    /// size), each with an optional iBOT mask. With `train`, RoPE coordinates are augmented,
    /// drop path is active, and with `untie_global_and_local_cls_norm` the **second** element's
    /// CLS and registers go through `local_cls_norm`.
    ///
    /// # Shapes
    /// element `i`: `x (b_i, c, H_i, W_i)`, mask `(b_i, h_i·w_i)` → [`Features`].
    ///
    /// # Errors
    /// As [`DinoVisionTransformer::forward_features`]; also `xs.len() != masks.len()`.
    pub fn forward_features_list(
        &self,
        xs: &[Tensor],
        masks: &[Option<Tensor>],
        train: bool,
    ) -> Result<Vec<Features>> {
        if xs.len() != masks.len() {
            return Err(Error::Input(format!(
                "{} inputs but {} mask entries",
                xs.len(),
                masks.len()
            )));
        }
        let mut tokens = Vec::with_capacity(xs.len());
        let mut grids = Vec::with_capacity(xs.len());
        let mut ms = Vec::with_capacity(xs.len());
        for (x, m) in xs.iter().zip(masks) {
            self.check_input(x)?;
            let m = m.as_ref().map(|m| self.check_masks(m, x)).transpose()?;
            let (t, h, w) = self.prepare_tokens_with_masks(x, m.as_ref());
            tokens.push(t);
            grids.push((h, w));
            ms.push(m);
        }
        // The reference recomputes the tables in every block; without augmentation they are
        // identical, so compute them once. With augmentation each block draws its own.
        let fixed: Vec<RopeTables> =
            grids.iter().map(|&(h, w)| self.rope_tables(h, w, false)).collect();
        for blk in &self.blocks {
            let drawn: Vec<RopeTables>;
            let ropes: Vec<Option<&RopeTables>> = if train && self.augments_rope() {
                drawn = grids.iter().map(|&(h, w)| self.rope_tables(h, w, true)).collect();
                drawn.iter().map(Some).collect()
            } else {
                fixed.iter().map(Some).collect()
            };
            tokens = blk.forward_list(&tokens, &ropes, train);
        }
        let r = self.cfg.n_storage_tokens as i64;
        let mut out = Vec::with_capacity(tokens.len());
        for (idx, ((x, (h, w)), m)) in tokens.into_iter().zip(grids).zip(ms).enumerate() {
            let n = x.size()[1];
            let (cls_reg, patch) =
                if self.cfg.untie_cls_and_patch_norms || self.cfg.untie_global_and_local_cls_norm {
                    let head = x.narrow(1, 0, r + 1);
                    let cls_reg = match (&self.local_cls_norm, &self.cls_norm) {
                        (Some(l), _) if train && idx == 1 => l.forward(&head),
                        (_, Some(c)) => c.forward(&head),
                        _ => self.norm.forward(&head),
                    };
                    (cls_reg, self.norm.forward(&x.narrow(1, r + 1, n - r - 1)))
                } else {
                    let xn = self.norm.forward(&x);
                    (xn.narrow(1, 0, r + 1), xn.narrow(1, r + 1, n - r - 1))
                };
            out.push(Features {
                x_norm_clstoken: cls_reg.select(1, 0),
                x_storage_tokens: cls_reg.narrow(1, 1, r),
                x_norm_patchtokens: patch,
                x_prenorm: x,
                masks: m,
                h,
                w,
            });
        }
        Ok(out)
    }

    fn augments_rope(&self) -> bool {
        let c = &self.cfg;
        c.pos_embed_rope_shift_coords.is_some()
            || c.pos_embed_rope_jitter_coords.is_some()
            || c.pos_embed_rope_rescale_coords.is_some()
    }

    /// `get_intermediate_layers` in evaluation mode: the outputs of blocks `layers` (0-based,
    /// returned in the order given), with the final norm applied when `norm` (`cls_norm` for CLS
    /// and registers when untied), patches reshaped to `(b, d, h, w)` when `reshape`.
    ///
    /// # Shapes
    /// `x (b, c, H, W)` → per layer `patch (b, d, h, w)` or `(b, h·w, d)`, `cls (b, d)`,
    /// `registers (b, r, d)`.
    ///
    /// # Errors
    /// Bad input, or a layer index `≥ depth`.
    pub fn get_intermediate_layers(
        &self,
        x: &Tensor,
        layers: &[usize],
        norm: bool,
        reshape: bool,
    ) -> Result<Vec<LayerFeatures>> {
        self.check_input(x)?;
        if let Some(&bad) = layers.iter().find(|&&l| l >= self.blocks.len()) {
            return Err(Error::Input(format!(
                "layer {bad} requested from a backbone of {} blocks (0-based)",
                self.blocks.len()
            )));
        }
        let last = layers.iter().copied().max().unwrap_or(0);
        let (mut t, h, w) = self.prepare_tokens_with_masks(x, None);
        let rope = self.rope_tables(h, w, false);
        let mut taken: Vec<Option<Tensor>> = (0..layers.len()).map(|_| None).collect();
        for (i, blk) in self.blocks.iter().enumerate().take(last + 1) {
            t = blk.forward(&t, Some(&rope), false);
            for (slot, &l) in taken.iter_mut().zip(layers) {
                if l == i {
                    *slot = Some(t.shallow_clone());
                }
            }
        }
        let r = self.cfg.n_storage_tokens as i64;
        let b = x.size()[0];
        let d = self.cfg.embed_dim as i64;
        let mut out = Vec::with_capacity(layers.len());
        for o in taken.into_iter().map(|o| o.expect("every requested layer ran")) {
            let n = o.size()[1];
            let o = if !norm {
                o
            } else if let Some(c) = &self.cls_norm {
                Tensor::cat(
                    &[
                        c.forward(&o.narrow(1, 0, r + 1)),
                        self.norm.forward(&o.narrow(1, r + 1, n - r - 1)),
                    ],
                    1,
                )
            } else {
                self.norm.forward(&o)
            };
            let patch = o.narrow(1, r + 1, n - r - 1);
            let patch = if reshape {
                patch.reshape([b, h, w, d]).permute([0, 3, 1, 2]).contiguous() // (b, d, h, w)
            } else {
                patch
            };
            out.push(LayerFeatures { patch, cls: o.select(1, 0), registers: o.narrow(1, 1, r) });
        }
        Ok(out)
    }
}
