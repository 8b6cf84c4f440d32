//! DINOv3 backbone key layouts, torch-free: bring any supported checkpoint to the **official**
//! layout (the keys of `facebookresearch/dinov3`'s `DinoVisionTransformer.state_dict()`, which
//! is what the released `.pth` files hold).
//!
//! Handled:
//! * training checkpoints: `module.` prefixes are removed, and when keys start with `backbone.`
//!   only those are kept (DINO/iBOT heads dropped), as dinov3's evaluation loader does;
//! * Hugging Face `transformers` (`DINOv3ViTModel`) safetensors, in both the current naming
//!   (`embeddings.patch_embeddings.weight`, `layer.N.attention.{q,k,v,o}_proj`,
//!   `layer_scale1.lambda1`, `mlp.{gate,up,down}_proj`) and the converter's older naming
//!   (`embeddings.patch_embeddings.proj`, `attention.{query,key,value,proj}`, `mlp.fc1/w1…`),
//!   with an optional `dinov3_vit.`/`model.` prefix: q/k/v are concatenated into `qkv`, the
//!   dropped key bias is restored as zeros with the official `bias_mask` `[1…, 0…, 1…]`, the
//!   `[1, 1, D]` mask token becomes `[1, D]`, and the RoPE periods (not stored by HF) are
//!   regenerated as `base^(4j/dh)` (base 100 unless given).

use std::collections::BTreeMap;

use crate::{Dtype, Error, Result, StateDict, TensorData};

/// Which key layout a state dict uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `facebookresearch/dinov3` keys (`blocks.N.attn.qkv.weight`, …).
    Official,
    /// Hugging Face `transformers` keys (`layer.N.attention.q_proj.weight`, …).
    HuggingFace,
}

/// Facts the HF layout does not store; `None` uses the defaults noted on each field.
#[derive(Debug, Clone, Default)]
pub struct HfHints {
    /// Number of attention heads. Default: width / 64 (width / 128 for width 4096, the 7B).
    pub num_heads: Option<usize>,
    /// RoPE base (`rope_theta`). Default 100.
    pub rope_base: Option<f64>,
}

impl HfHints {
    /// Read `num_attention_heads` and `rope_theta` from a transformers `config.json`.
    ///
    /// # Errors
    /// I/O or JSON errors naming the file.
    pub fn from_config_json(path: &std::path::Path) -> Result<HfHints> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("bad JSON: {e}")))?;
        Ok(HfHints {
            num_heads: v.get("num_attention_heads").and_then(|x| x.as_u64()).map(|x| x as usize),
            rope_base: v.get("rope_theta").and_then(|x| x.as_f64()),
        })
    }
}

/// Detect the layout from the keys (after training prefixes are removed).
pub fn detect_layout(sd: &StateDict) -> Layout {
    let hf = sd.keys().any(|k| {
        let k = k.strip_prefix("dinov3_vit.").or_else(|| k.strip_prefix("model.")).unwrap_or(k);
        k.starts_with("embeddings.") || k.starts_with("layer.")
    });
    if hf { Layout::HuggingFace } else { Layout::Official }
}

/// Remove training-checkpoint wrappers: `module.` prefixes, then, when any key starts with
/// `backbone.`, keep only those keys (without the prefix). Returns the dropped keys.
pub fn strip_training_prefixes(sd: &mut StateDict) -> Vec<String> {
    sd.strip_prefix("module.");
    if sd.keys().any(|k| k.starts_with("backbone.")) {
        sd.select_prefix("backbone.")
    } else {
        Vec::new()
    }
}

/// Bring `sd` to the official layout: strip training prefixes and convert the HF layout.
/// Returns the layout found and the keys dropped as not part of the backbone.
///
/// # Errors
/// An HF state dict whose q/k/v tensors are missing or inconsistent.
pub fn to_official(sd: StateDict, hints: &HfHints) -> Result<(StateDict, Layout, Vec<String>)> {
    let mut sd = sd;
    let dropped = strip_training_prefixes(&mut sd);
    let layout = detect_layout(&sd);
    let sd = match layout {
        Layout::Official => sd,
        Layout::HuggingFace => hf_to_official(sd, hints)?,
    };
    Ok((sd, layout, dropped))
}

/// The RoPE periods `base^(2j / (dh/2))`, `j < dh/4`, as the reference computes them (rounded
/// to f32).
pub fn rope_periods(base: f64, head_dim: usize) -> Vec<f32> {
    let n = head_dim / 4;
    (0..n).map(|j| base.powf(2.0 * j as f64 / (head_dim / 2) as f64) as f32).collect()
}

fn hf_block_key(rest: &str) -> Option<String> {
    // rest is what follows "layer.N."
    let map: &[(&str, &str)] = &[
        ("norm1.", "norm1."),
        ("norm2.", "norm2."),
        ("attention.o_proj.", "attn.proj."),
        ("attention.proj.", "attn.proj."),
        ("layer_scale1.lambda1", "ls1.gamma"),
        ("layer_scale2.lambda1", "ls2.gamma"),
        ("layer_scale1.gamma", "ls1.gamma"),
        ("layer_scale2.gamma", "ls2.gamma"),
        ("mlp.fc1.", "mlp.fc1."),
        ("mlp.fc2.", "mlp.fc2."),
        ("mlp.w1.", "mlp.w1."),
        ("mlp.w2.", "mlp.w2."),
        ("mlp.w3.", "mlp.w3."),
    ];
    map.iter().find_map(|(from, to)| rest.strip_prefix(from).map(|tail| format!("{to}{tail}")))
}

fn hf_to_official(sd: StateDict, hints: &HfHints) -> Result<StateDict> {
    let source = sd.source().to_string();
    let metadata = sd.metadata.clone();
    let mut blocks: BTreeMap<usize, BTreeMap<String, TensorData>> = BTreeMap::new();
    let mut out = StateDict::new();
    let mut unknown = Vec::new();
    for (k, t) in sd {
        let k0 = k.strip_prefix("dinov3_vit.").or_else(|| k.strip_prefix("model.")).unwrap_or(&k);
        let mapped = match k0 {
            "embeddings.cls_token" => Some("cls_token".to_string()),
            "embeddings.register_tokens" => Some("storage_tokens".to_string()),
            "embeddings.mask_token" => {
                let d = *t.shape().last().unwrap_or(&0);
                out.insert("mask_token", t.reshape(vec![1, d])?);
                continue;
            }
            "embeddings.patch_embeddings.weight" | "embeddings.patch_embeddings.proj.weight" => {
                Some("patch_embed.proj.weight".to_string())
            }
            "embeddings.patch_embeddings.bias" | "embeddings.patch_embeddings.proj.bias" => {
                Some("patch_embed.proj.bias".to_string())
            }
            "rope_embeddings.periods" => Some("rope_embed.periods".to_string()),
            "norm.weight" | "norm.bias" | "local_cls_norm.weight" | "local_cls_norm.bias" => {
                Some(k0.to_string())
            }
            _ => None,
        };
        if let Some(m) = mapped {
            out.insert(m, t);
            continue;
        }
        if let Some((idx, tail)) = k0.strip_prefix("layer.").and_then(|r| r.split_once('.'))
            && let Ok(i) = idx.parse::<usize>()
        {
            blocks.entry(i).or_default().insert(tail.to_string(), t);
            continue;
        }
        unknown.push(k);
    }
    if !unknown.is_empty() {
        return Err(Error::StateDict(format!(
            "{source}: Hugging Face layout with keys that have no DINOv3 meaning: {}",
            unknown.join(", ")
        )));
    }
    let width = out
        .get("cls_token")
        .and_then(|t| t.shape().last().copied())
        .ok_or_else(|| Error::StateDict(format!("{source}: embeddings.cls_token is missing")))?;
    for (i, mut b) in blocks {
        let take = |b: &mut BTreeMap<String, TensorData>, names: &[&str]| {
            names.iter().find_map(|n| b.remove(*n))
        };
        let gated = b.contains_key("mlp.gate_proj.weight");
        let q_w = take(&mut b, &["attention.q_proj.weight", "attention.query.weight"]);
        let k_w = take(&mut b, &["attention.k_proj.weight", "attention.key.weight"]);
        let v_w = take(&mut b, &["attention.v_proj.weight", "attention.value.weight"]);
        let q_b = take(&mut b, &["attention.q_proj.bias", "attention.query.bias"]);
        let k_b = take(&mut b, &["attention.k_proj.bias", "attention.key.bias"]);
        let v_b = take(&mut b, &["attention.v_proj.bias", "attention.value.bias"]);
        let (Some(q_w), Some(k_w), Some(v_w)) = (q_w, k_w, v_w) else {
            return Err(Error::StateDict(format!(
                "{source}: layer.{i}: query/key/value weights are incomplete"
            )));
        };
        let p = format!("blocks.{i}.");
        out.insert(format!("{p}attn.qkv.weight"), TensorData::cat0(&[q_w, k_w, v_w])?);
        match (q_b, v_b) {
            (Some(qb), Some(vb)) => {
                let had_k_bias = k_b.is_some();
                let kb = k_b.unwrap_or_else(|| TensorData::zeros(qb.dtype(), qb.shape().to_vec()));
                out.insert(format!("{p}attn.qkv.bias"), TensorData::cat0(&[qb, kb, vb])?);
                if !had_k_bias {
                    // The key bias was dropped because the reference masks it: restore the mask.
                    let mut m = vec![1.0f32; 3 * width];
                    m[width..2 * width].fill(0.0);
                    out.insert(
                        format!("{p}attn.qkv.bias_mask"),
                        TensorData::from_f32(vec![3 * width], &m),
                    );
                }
            }
            (None, None) if k_b.is_none() => {}
            _ => {
                return Err(Error::StateDict(format!(
                    "{source}: layer.{i}: query/value biases must both be present or absent"
                )));
            }
        }
        for (tail, t) in std::mem::take(&mut b) {
            let official = if let Some(rest) = tail.strip_prefix("mlp.gate_proj.") {
                Some(format!("mlp.w1.{rest}"))
            } else if let Some(rest) = tail.strip_prefix("mlp.up_proj.") {
                Some(if gated { format!("mlp.w2.{rest}") } else { format!("mlp.fc1.{rest}") })
            } else if let Some(rest) = tail.strip_prefix("mlp.down_proj.") {
                Some(if gated { format!("mlp.w3.{rest}") } else { format!("mlp.fc2.{rest}") })
            } else {
                hf_block_key(&tail)
            };
            match official {
                Some(o) => {
                    out.insert(format!("{p}{o}"), t);
                }
                None => {
                    return Err(Error::StateDict(format!(
                        "{source}: layer.{i}.{tail} has no DINOv3 meaning"
                    )));
                }
            }
        }
    }
    if !out.contains("rope_embed.periods") {
        let heads = hints.num_heads.unwrap_or(if width == 4096 { 32 } else { width / 64 });
        if heads == 0 || !width.is_multiple_of(heads) || !(width / heads).is_multiple_of(4) {
            return Err(Error::StateDict(format!(
                "{source}: cannot derive the RoPE periods: width {width} with {heads} heads"
            )));
        }
        let periods = rope_periods(hints.rope_base.unwrap_or(100.0), width / heads);
        out.insert("rope_embed.periods", TensorData::from_f32(vec![periods.len()], &periods));
    }
    out.metadata = metadata;
    out.set_source(format!("{source} (Hugging Face layout)"));
    Ok(out)
}

/// Cast every floating tensor of `sd` to `dtype` except the RoPE periods, which stay `F32`
/// (they are bf16-representable in the released files, and the reference computes RoPE in f32).
pub fn cast_for_storage(sd: &mut StateDict, dtype: Dtype) {
    let periods = sd.remove("rope_embed.periods");
    sd.to_float_dtype(dtype);
    if let Some(p) = periods {
        sd.insert("rope_embed.periods", p.to_float_dtype(Dtype::F32));
    }
}
