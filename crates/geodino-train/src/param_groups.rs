//! Optimiser parameter groups, after `get_vit_lr_decay_rate` and `get_params_groups_with_decay_fsdp`
//! (`dinov3/train/param_groups.py`, facebookresearch/dinov3 at 6876159).
//!
//! The reference builds groups per student sub-module (`backbone`, `dino_head`, `ibot_head`) with
//! names relative to it; we take full names (`backbone.blocks.3.attn.qkv.weight`,
//! `dino_head.mlp.0.weight`; a name without a known prefix is a backbone name, the layout of the
//! official release files) and return what the reference computes:
//!
//! * **layer id**: 0 for `patch_embed`, `cls_token`, `storage_tokens`, `mask_token` (and
//!   `pos_embed`); `i + 1` for `blocks.i`; `L + 1` for everything else of the backbone (final
//!   norms, `local_cls_norm`);
//! * **lr multiplier**: `layerwise_decay^(L + 1 − layer_id)`, times `patch_embed_lr_mult` (0.2)
//!   for `patch_embed`; heads get 1;
//! * **weight-decay multiplier**: 0 for names ending in `bias` or containing `norm` or `gamma`
//!   (and `fourier_w`), else 1. The learned tokens **are** decayed: the reference's comment says
//!   they are not, its code does;
//! * **last layer**: names containing `last_layer` (the heads' prototypes) follow the last-layer
//!   learning rate, 0 during `freeze_last_layer_epochs`.
//!
//! `dino_head_wd_multiplier` is not modelled: the reference tests `"dino_head" in name` on names
//! relative to the sub-module, which never contain it, so the option has no effect (and is 1.0 in
//! every config).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Options of the grouping (`optim.layerwise_decay`, `optim.patch_embed_lr_mult`). `Default` is the
/// 7B configs' (0.98, 0.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParamGroupConfig {
    /// Layer-wise learning-rate decay. Default 0.98 (0.9 in `ssl_default_config.yaml`).
    pub layerwise_decay: f64,
    /// Learning-rate multiplier of the patch embedding. Default 0.2.
    pub patch_embed_lr_mult: f64,
}

impl Default for ParamGroupConfig {
    fn default() -> Self {
        ParamGroupConfig { layerwise_decay: 0.98, patch_embed_lr_mult: 0.2 }
    }
}

/// Which student sub-module a parameter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubModule {
    /// The ViT backbone.
    Backbone,
    /// The DINO head.
    DinoHead,
    /// The iBOT head.
    IbotHead,
}

/// The group attributes of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParamGroup {
    /// The sub-module.
    pub module: SubModule,
    /// Layer id (backbone only; `None` for heads).
    pub layer_id: Option<usize>,
    /// Learning-rate multiplier.
    pub lr_multiplier: f64,
    /// Weight-decay multiplier.
    pub wd_multiplier: f64,
    /// Follows the last-layer learning rate (frozen at first).
    pub is_last_layer: bool,
}

impl ParamGroup {
    /// `(lr, weight_decay)` of this group given the schedules' values (`apply_optim_scheduler`).
    pub fn apply(&self, lr: f64, last_layer_lr: f64, weight_decay: f64) -> (f64, f64) {
        let base = if self.is_last_layer { last_layer_lr } else { lr };
        (base * self.lr_multiplier, weight_decay * self.wd_multiplier)
    }
}

fn split_module(name: &str) -> (SubModule, &str) {
    for (prefix, m) in [
        ("backbone.", SubModule::Backbone),
        ("dino_head.", SubModule::DinoHead),
        ("ibot_head.", SubModule::IbotHead),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return (m, rest);
        }
    }
    (SubModule::Backbone, name)
}

/// The layer id of a backbone parameter name (relative to the backbone) in a backbone of `depth`
/// blocks.
pub fn layer_id(rel: &str, depth: usize) -> usize {
    const FIRST: [&str; 5] =
        ["pos_embed", "patch_embed", "mask_token", "cls_token", "storage_tokens"];
    if FIRST.iter().any(|k| rel.contains(k)) {
        return 0;
    }
    if let Some(pos) = rel.find("blocks.")
        && !rel.contains("residual.")
        && let Some(i) =
            rel[pos + "blocks.".len()..].split('.').next().and_then(|s| s.parse::<usize>().ok())
    {
        return i + 1;
    }
    depth + 1
}

/// The group attributes of parameter `name` in a student whose backbone has `depth` blocks.
pub fn param_group(name: &str, depth: usize, cfg: &ParamGroupConfig) -> ParamGroup {
    let (module, rel) = split_module(name);
    let (layer, mut lr_multiplier) = match module {
        SubModule::Backbone => {
            let id = layer_id(rel, depth);
            (Some(id), cfg.layerwise_decay.powi((depth + 1 - id) as i32))
        }
        // The heads are grouped with n_blocks = 0: layer_id = 1 = L + 1, multiplier 1.
        _ => (None, 1.0),
    };
    let wd_multiplier = if rel.ends_with("bias")
        || rel.contains("norm")
        || rel.contains("gamma")
        || rel.contains("fourier_w")
    {
        0.0
    } else {
        1.0
    };
    if rel.contains("patch_embed") {
        lr_multiplier *= cfg.patch_embed_lr_mult;
    }
    ParamGroup {
        module,
        layer_id: layer,
        lr_multiplier,
        wd_multiplier,
        is_last_layer: rel.contains("last_layer"),
    }
}

/// Parameters sharing the same attributes (`fuse_params_groups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusedGroup {
    /// Learning-rate multiplier.
    pub lr_multiplier: f64,
    /// Weight-decay multiplier.
    pub wd_multiplier: f64,
    /// Follows the last-layer learning rate.
    pub is_last_layer: bool,
    /// Member parameter names, sorted.
    pub names: Vec<String>,
}

/// Group `names` by `(lr multiplier, wd multiplier, last layer)`, for optimisers that take a
/// learning rate and weight decay per group (tch's `VarStore` groups). Groups are ordered by first
/// appearance in `names`.
pub fn fuse_param_groups<'a, I>(names: I, depth: usize, cfg: &ParamGroupConfig) -> Vec<FusedGroup>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut order: Vec<(u64, u64, bool)> = Vec::new();
    let mut groups: BTreeMap<(u64, u64, bool), FusedGroup> = BTreeMap::new();
    for name in names {
        let g = param_group(name, depth, cfg);
        let key = (g.lr_multiplier.to_bits(), g.wd_multiplier.to_bits(), g.is_last_layer);
        let entry = groups.entry(key).or_insert_with(|| {
            order.push(key);
            FusedGroup {
                lr_multiplier: g.lr_multiplier,
                wd_multiplier: g.wd_multiplier,
                is_last_layer: g.is_last_layer,
                names: Vec::new(),
            }
        });
        entry.names.push(name.to_string());
    }
    order
        .into_iter()
        .map(|k| {
            let mut g = groups.remove(&k).expect("key recorded on insertion");
            g.names.sort();
            g
        })
        .collect()
}
