//! Checkpoint import: any supported file → official-layout state dict → inferred (or given)
//! [`ViTConfig`] → strictly loaded model.

use std::path::Path;

use geodino_nn::layers::{FfnLayer, NormLayer};
use geodino_nn::{LoadPolicy, ShapeMismatch};
use geodino_weights::dinov3::{HfHints, Layout};
use geodino_weights::{Dtype, StateDict};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result, ViTConfig};

/// safetensors metadata key holding the [`ViTConfig`] (JSON) in files written by geodino.
pub const CONFIG_METADATA_KEY: &str = "geodino.dinov3.config";
/// safetensors metadata `format` value of files written by geodino.
pub const FORMAT_METADATA: &str = "geodino-dinov3";

/// How to read a checkpoint into a backbone.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// `.pth` training checkpoints: the entry holding the state dict (`teacher`, `model`, …).
    /// Default: found automatically.
    pub checkpoint_key: Option<String>,
    /// The architecture; default: the config stored by geodino, else inferred from the tensors.
    pub config: Option<ViTConfig>,
    /// Hugging Face files: the number of heads (default: `config.json` beside the file, else
    /// width / 64).
    pub num_heads: Option<usize>,
    /// Build the backbone for this many input bands, inflating an RGB patch embedding (see
    /// [`inflate_patch_embed`]). Default: the checkpoint's channel count.
    pub in_chans: Option<usize>,
    /// With `in_chans`: multiply the inflated patch-embedding weight by `c_old / c_new` (the
    /// FINO branch's `expand_patch_embed` default). Default true.
    pub inflate_rescale: bool,
    /// Device of the parameters. Default CPU.
    pub device: Device,
    /// Precision of the parameters. Default f32.
    pub precision: geodino_nn::Precision,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        CheckpointOptions {
            checkpoint_key: None,
            config: None,
            num_heads: None,
            in_chans: None,
            inflate_rescale: true,
            device: Device::Cpu,
            precision: geodino_nn::Precision::F32,
        }
    }
}

/// What strict loading tolerates: `bias_mask` may be absent (a port may drop it and zero the K
/// bias instead, spec §1.5; the reference mask `[1…, 0…, 1…]` then gives the same result), and
/// `local_cls_norm` is dropped when the model has none (it is training-only, spec §1.7).
pub fn load_policy(cfg: &ViTConfig) -> LoadPolicy {
    LoadPolicy {
        optional: (0..cfg.depth).map(|i| format!("blocks.{i}.attn.qkv.bias_mask")).collect(),
        ignorable: vec!["local_cls_norm.weight".into(), "local_cls_norm.bias".into()],
    }
}

/// Check `sd` against the keys and shapes of `cfg` without building the model (torch-free
/// tables, [`ViTConfig::state_dict_shapes`]), with the tolerance of [`load_policy`].
///
/// # Errors
/// [`geodino_nn::Error::StateDictMismatch`] naming every missing, unexpected and mis-shaped key.
pub fn check_state_dict(sd: &StateDict, cfg: &ViTConfig) -> Result<()> {
    let want = cfg.state_dict_shapes();
    let policy = load_policy(cfg);
    let missing: Vec<String> =
        want.keys().filter(|k| !sd.contains(k) && !policy.optional.contains(k)).cloned().collect();
    let unexpected: Vec<String> = sd
        .keys()
        .filter(|k| !want.contains_key(*k) && !policy.ignorable.contains(k))
        .cloned()
        .collect();
    let mismatched: Vec<ShapeMismatch> = sd
        .iter()
        .filter_map(|(k, t)| {
            let w = want.get(k)?;
            (w.as_slice() != t.shape()).then(|| ShapeMismatch {
                key: k.clone(),
                expected: w.iter().map(|&x| x as i64).collect(),
                found: t.shape().to_vec(),
            })
        })
        .collect();
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        return Ok(());
    }
    Err(geodino_nn::Error::StateDictMismatch {
        source_name: sd.source().to_string(),
        missing,
        unexpected,
        mismatched,
    }
    .into())
}

/// A state dict in the official layout with where it came from.
#[derive(Debug)]
pub struct OfficialStateDict {
    /// The tensors (official keys).
    pub state_dict: StateDict,
    /// The layout found in the file.
    pub layout: Layout,
    /// Keys dropped because they are not part of the backbone (training heads).
    pub dropped: Vec<String>,
    /// The config stored in the file by geodino, if any.
    pub stored_config: Option<ViTConfig>,
}

/// Read `path` (`.pth`, official/our safetensors, or Hugging Face safetensors) and bring it to
/// the official layout.
///
/// # Errors
/// Unreadable files, no state dict, an inconsistent HF layout, or a bad stored config.
pub fn read_official(path: &Path, opts: &CheckpointOptions) -> Result<OfficialStateDict> {
    let sd = geodino_weights::load(
        path,
        &geodino_weights::LoadOptions { checkpoint_key: opts.checkpoint_key.clone() },
    )?;
    let stored_config = match sd.metadata.get(CONFIG_METADATA_KEY) {
        Some(json) => Some(ViTConfig::from_json(json).map_err(|e| Error::Checkpoint {
            path: path.display().to_string(),
            msg: format!("stored config: {e}"),
        })?),
        None => None,
    };
    let mut hints = HfHints { num_heads: opts.num_heads, rope_base: None };
    if let Some(cfg_json) = path.parent().map(|p| p.join("config.json")).filter(|p| p.is_file())
        && let Ok(h) = HfHints::from_config_json(&cfg_json)
    {
        hints.num_heads = hints.num_heads.or(h.num_heads);
        hints.rope_base = h.rope_base;
    }
    let (state_dict, layout, dropped) = geodino_weights::dinov3::to_official(sd, &hints)?;
    Ok(OfficialStateDict { state_dict, layout, dropped, stored_config })
}

fn shape<'a>(sd: &'a StateDict, key: &str, src: &str) -> Result<&'a [usize]> {
    sd.get(key).map(|t| t.shape()).ok_or_else(|| Error::Checkpoint {
        path: src.to_string(),
        msg: format!("not a DINOv3 ViT state dict: {key} is missing"),
    })
}

/// Infer the architecture from the tensors: width (`cls_token`), depth (`blocks.N`), patch size
/// and channels (`patch_embed.proj.weight`), registers, heads (head width = 4·len(periods)),
/// FFN kind (`mlp.fc1` or `mlp.w1`) and hidden width, biases, LayerScale, norms
/// (`cls_norm`, `local_cls_norm`). Settings the tensors cannot show (RoPE base, eps, training
/// augmentations) take the hub defaults.
///
/// # Errors
/// Keys the inference needs are missing or inconsistent.
pub fn infer_config(sd: &StateDict) -> Result<ViTConfig> {
    let src = sd.source().to_string();
    let err = |msg: String| Error::Checkpoint { path: src.clone(), msg };
    let d = *shape(sd, "cls_token", &src)?.last().unwrap_or(&0);
    let pe = shape(sd, "patch_embed.proj.weight", &src)?;
    if pe.len() != 4 || pe[2] != pe[3] {
        return Err(err(format!(
            "patch_embed.proj.weight has shape {pe:?}, expected (d, c, p, p)"
        )));
    }
    let depth = sd
        .keys()
        .filter_map(|k| k.strip_prefix("blocks.")?.split('.').next()?.parse::<usize>().ok())
        .max()
        .map(|m| m + 1)
        .ok_or_else(|| err("no blocks.N.* keys".into()))?;
    let n_periods = shape(sd, "rope_embed.periods", &src)?.first().copied().unwrap_or(0);
    if n_periods == 0 || d % (4 * n_periods) != 0 {
        return Err(err(format!(
            "rope_embed.periods has {n_periods} entries: width {d} is not a multiple of 4·{n_periods}"
        )));
    }
    let head_dim = 4 * n_periods;
    let mut cfg = ViTConfig {
        patch_size: pe[2],
        in_chans: pe[1],
        embed_dim: d,
        depth,
        num_heads: d / head_dim,
        n_storage_tokens: sd.get("storage_tokens").map(|t| t.shape()[1]).unwrap_or(0),
        qkv_bias: sd.contains("blocks.0.attn.qkv.bias"),
        mask_k_bias: sd.contains("blocks.0.attn.qkv.bias_mask"),
        proj_bias: sd.contains("blocks.0.attn.proj.bias"),
        layerscale_init: sd.contains("blocks.0.ls1.gamma").then_some(1e-5),
        norm_layer: if sd.contains("norm.bias") {
            NormLayer::LayerNormBf16
        } else {
            NormLayer::RmsNorm
        },
        untie_cls_and_patch_norms: sd.contains("cls_norm.weight"),
        untie_global_and_local_cls_norm: sd.contains("local_cls_norm.weight"),
        ..ViTConfig::default()
    };
    if let Some(fc1) = sd.get("blocks.0.mlp.fc1.weight") {
        let hidden = fc1.shape()[0];
        cfg.ffn_layer = FfnLayer::Mlp;
        cfg.ffn_bias = sd.contains("blocks.0.mlp.fc1.bias");
        cfg.ffn_ratio = hidden as f64 / d as f64;
        if cfg.ffn_layer.hidden_features(d, cfg.ffn_ratio) != hidden {
            cfg.ffn_hidden_features = Some(hidden);
        }
    } else if let Some(w1) = sd.get("blocks.0.mlp.w1.weight") {
        let hidden = w1.shape()[0];
        cfg.ffn_bias = sd.contains("blocks.0.mlp.w1.bias");
        let found = [6.0, 4.0, 3.0, 8.0, 2.0, 5.0]
            .iter()
            .flat_map(|&r| {
                [FfnLayer::SwiGlu, FfnLayer::SwiGlu32, FfnLayer::SwiGlu64, FfnLayer::SwiGlu128]
                    .map(|k| (k, r))
            })
            .find(|&(k, r)| k.hidden_features(d, r) == hidden);
        match found {
            Some((k, r)) => {
                cfg.ffn_layer = k;
                cfg.ffn_ratio = r;
            }
            None => {
                cfg.ffn_layer = FfnLayer::SwiGlu;
                cfg.ffn_hidden_features = Some(hidden);
            }
        }
    } else {
        return Err(err("blocks.0.mlp has neither fc1 (MLP) nor w1 (SwiGLU)".into()));
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Inflate an RGB patch embedding `(d, c_old, p, p)` to `in_chans` bands: the new bands get the
/// mean of the existing filters, and with `rescale` the whole weight is multiplied by
/// `c_old / in_chans` so the expected activation magnitude is unchanged (the FINO branch's
/// `expand_patch_embed`; the DINOv3 paper's Open-Canopy 4-band model adds the mean filter
/// without the rescale). The weight keeps its dtype.
///
/// # Errors
/// A missing or non-4-d weight, or `in_chans` smaller than the stored channel count.
pub fn inflate_patch_embed(sd: &mut StateDict, in_chans: usize, rescale: bool) -> Result<()> {
    const KEY: &str = "patch_embed.proj.weight";
    let src = sd.source().to_string();
    let w = sd
        .get(KEY)
        .ok_or_else(|| Error::Checkpoint { path: src.clone(), msg: format!("{KEY} missing") })?;
    let s = w.shape().to_vec();
    if s.len() != 4 {
        return Err(Error::Checkpoint { path: src, msg: format!("{KEY} has shape {s:?}") });
    }
    let c_old = s[1];
    if in_chans == c_old {
        return Ok(());
    }
    if in_chans < c_old {
        return Err(Error::Config(format!(
            "cannot shrink the patch embedding from {c_old} to {in_chans} bands; select bands instead"
        )));
    }
    let dtype = w.dtype();
    let t = geodino_nn::to_tensor(w)?.to_kind(Kind::Double);
    let mean = t
        .mean_dim(1, true, Kind::Double)
        .expand([s[0] as i64, (in_chans - c_old) as i64, s[2] as i64, s[3] as i64], false);
    let mut out = Tensor::cat(&[t, mean], 1);
    if rescale {
        out *= c_old as f64 / in_chans as f64;
    }
    let out = geodino_nn::from_tensor(&out.to_kind(geodino_nn::kind_of(dtype)))?;
    sd.insert(KEY, out);
    Ok(())
}

/// The tensors of `sd` converted for storage in `dtype` (see
/// [`geodino_weights::dinov3::cast_for_storage`]), with the geodino metadata for `cfg`.
pub fn with_metadata(mut sd: StateDict, cfg: &ViTConfig, dtype: Option<Dtype>) -> StateDict {
    if let Some(d) = dtype {
        geodino_weights::dinov3::cast_for_storage(&mut sd, d);
    }
    sd.metadata.insert("format".into(), FORMAT_METADATA.into());
    sd.metadata
        .insert(CONFIG_METADATA_KEY.into(), serde_json::to_string(cfg).expect("plain struct"));
    sd
}
