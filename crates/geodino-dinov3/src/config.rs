//! [`ViTConfig`]: the architecture of a DINOv3 ViT, with the field names of dinov3's
//! `DinoVisionTransformer` constructor (and of its YAML `student:` section), and presets named
//! after the hub entries (`dinov3/hub/backbones.py`).

use geodino_nn::layers::{FfnLayer, NormLayer, NormalizeCoords};
use serde::{Deserialize, Serialize};
use tch::Kind;

use crate::{Error, Result};

/// The dtype of the RoPE tables (`pos_embed_rope_dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RopeDtype {
    /// float32 (every hub model).
    #[default]
    Fp32,
    /// bfloat16 (most training configs).
    Bf16,
    /// float16.
    Fp16,
}

impl RopeDtype {
    /// The libtorch kind.
    pub fn kind(self) -> Kind {
        match self {
            RopeDtype::Fp32 => Kind::Float,
            RopeDtype::Bf16 => Kind::BFloat16,
            RopeDtype::Fp16 => Kind::Half,
        }
    }
}

/// Architecture of a DINOv3 ViT. Every default is the value shared by the released hub models
/// (where dinov3's Python class default differs, the doc says so); widths default to ViT-B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViTConfig {
    /// Patch size in pixels. Default 16.
    pub patch_size: usize,
    /// Input channels. Default 3 (RGB); more after patch-embedding inflation (multispectral).
    pub in_chans: usize,
    /// RoPE base: `period_j = base^(4j/dh)`. Default 100.
    pub pos_embed_rope_base: Option<f64>,
    /// RoPE minimum period (alternative to `base`; unused by released models). Default none.
    pub pos_embed_rope_min_period: Option<f64>,
    /// RoPE maximum period (alternative to `base`). Default none.
    pub pos_embed_rope_max_period: Option<f64>,
    /// Coordinate normalisation. Default `separate`.
    pub pos_embed_rope_normalize_coords: NormalizeCoords,
    /// Training-only coordinate shift. Default none.
    pub pos_embed_rope_shift_coords: Option<f64>,
    /// Training-only per-axis jitter. Default none.
    pub pos_embed_rope_jitter_coords: Option<f64>,
    /// Training-only shared rescale ("RoPE-box jittering"), log-uniform in `[1/r, r]`.
    /// Default 2.
    pub pos_embed_rope_rescale_coords: Option<f64>,
    /// Dtype of the RoPE tables. Default `fp32` (the Python class default is `bf16`).
    pub pos_embed_rope_dtype: RopeDtype,
    /// Token width `D`. Default 768.
    pub embed_dim: usize,
    /// Number of blocks `L`. Default 12.
    pub depth: usize,
    /// Number of heads (`D / heads` is the head width, a multiple of 4). Default 12.
    pub num_heads: usize,
    /// FFN width ratio. Default 4.
    pub ffn_ratio: f64,
    /// Exact FFN hidden width, overriding `ffn_ratio` and the SwiGLU rule (not a reference
    /// option; set when a checkpoint's width fits no ratio). Default none.
    pub ffn_hidden_features: Option<usize>,
    /// Bias on `qkv`. Default true (false for the 7B).
    pub qkv_bias: bool,
    /// Stochastic depth rate, the same for every block (training only). Default 0.
    pub drop_path_rate: f64,
    /// LayerScale initial value; none disables LayerScale. Default 1e-5 (class default none).
    pub layerscale_init: Option<f64>,
    /// Norm layer. Default `layernormbf16` (LayerNorm, eps 1e-5; class default `layernorm`).
    pub norm_layer: NormLayer,
    /// FFN kind. Default `mlp`.
    pub ffn_layer: FfnLayer,
    /// Biases in the FFN. Default true.
    pub ffn_bias: bool,
    /// Bias on the attention output projection. Default true.
    pub proj_bias: bool,
    /// Register ("storage") tokens. Default 4 (class default 0).
    pub n_storage_tokens: usize,
    /// Mask the K part of the qkv bias. Default true (class default false).
    pub mask_k_bias: bool,
    /// Separate `cls_norm` for CLS and registers. Default false.
    pub untie_cls_and_patch_norms: bool,
    /// Separate `local_cls_norm` for the local crops' CLS and registers in training (ViT-7B and
    /// ViT-L SAT). Default false.
    pub untie_global_and_local_cls_norm: bool,
}

impl Default for ViTConfig {
    fn default() -> Self {
        ViTConfig {
            patch_size: 16,
            in_chans: 3,
            pos_embed_rope_base: Some(100.0),
            pos_embed_rope_min_period: None,
            pos_embed_rope_max_period: None,
            pos_embed_rope_normalize_coords: NormalizeCoords::Separate,
            pos_embed_rope_shift_coords: None,
            pos_embed_rope_jitter_coords: None,
            pos_embed_rope_rescale_coords: Some(2.0),
            pos_embed_rope_dtype: RopeDtype::Fp32,
            embed_dim: 768,
            depth: 12,
            num_heads: 12,
            ffn_ratio: 4.0,
            ffn_hidden_features: None,
            qkv_bias: true,
            drop_path_rate: 0.0,
            layerscale_init: Some(1e-5),
            norm_layer: NormLayer::LayerNormBf16,
            ffn_layer: FfnLayer::Mlp,
            ffn_bias: true,
            proj_bias: true,
            n_storage_tokens: 4,
            mask_k_bias: true,
            untie_cls_and_patch_norms: false,
            untie_global_and_local_cls_norm: false,
        }
    }
}

/// Names accepted by [`ViTConfig::preset`], as the hub entries (without `dinov3_`).
pub const PRESETS: &[&str] =
    &["vits16", "vits16plus", "vitb16", "vitl16", "vitl16plus", "vith16plus", "vit7b16"];

impl ViTConfig {
    /// A hub architecture by name: `vits16`, `vits16plus`, `vitb16`, `vitl16`, `vitl16plus`,
    /// `vith16plus`, `vit7b16` (a `dinov3_` prefix is accepted). `vitl16_sat493m` is ViT-L with
    /// the untied local CLS norm of the SAT-493M weights (the 7B has it for both weights).
    ///
    /// # Errors
    /// An unknown name (the message lists the known ones).
    pub fn preset(name: &str) -> Result<ViTConfig> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.strip_prefix("dinov3_").unwrap_or(&n);
        let base = ViTConfig::default();
        let swiglu6 = |d, l, h| ViTConfig {
            embed_dim: d,
            depth: l,
            num_heads: h,
            ffn_ratio: 6.0,
            ffn_layer: FfnLayer::SwiGlu,
            ..base.clone()
        };
        let mlp4 = |d, l, h| ViTConfig { embed_dim: d, depth: l, num_heads: h, ..base.clone() };
        Ok(match n {
            "vits16" => mlp4(384, 12, 6),
            "vits16plus" => swiglu6(384, 12, 6),
            "vitb16" => mlp4(768, 12, 12),
            "vitl16" | "vitl16_lvd1689m" => mlp4(1024, 24, 16),
            "vitl16_sat493m" | "vitl16_sat" => {
                ViTConfig { untie_global_and_local_cls_norm: true, ..mlp4(1024, 24, 16) }
            }
            "vitl16plus" => swiglu6(1024, 24, 16),
            "vith16plus" => swiglu6(1280, 32, 20),
            "vit7b16" | "vit7b16_lvd1689m" | "vit7b16_sat493m" => ViTConfig {
                embed_dim: 4096,
                depth: 40,
                num_heads: 32,
                ffn_ratio: 3.0,
                ffn_layer: FfnLayer::SwiGlu64,
                qkv_bias: false,
                untie_global_and_local_cls_norm: true,
                ..base
            },
            _ => {
                return Err(Error::Config(format!(
                    "unknown preset {name:?}; known: {} (and vitl16_sat493m)",
                    PRESETS.join(", ")
                )));
            }
        })
    }

    /// Parse a JSON config (unknown fields are errors; missing fields take the defaults).
    ///
    /// # Errors
    /// JSON syntax errors, unknown fields, or an invalid configuration.
    pub fn from_json(text: &str) -> Result<ViTConfig> {
        let c: ViTConfig =
            serde_json::from_str(text).map_err(|e| Error::Config(format!("config JSON: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Head width `D / num_heads`.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads.max(1)
    }

    /// The FFN hidden width as built.
    pub fn ffn_hidden(&self) -> usize {
        self.ffn_hidden_features
            .unwrap_or_else(|| self.ffn_layer.hidden_features(self.embed_dim, self.ffn_ratio))
    }

    /// Check the invariants the model relies on.
    ///
    /// # Errors
    /// The first violated rule, named.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.embed_dim == 0 || self.depth == 0 || self.num_heads == 0 || self.patch_size == 0 {
            return bad("embed_dim, depth, num_heads and patch_size must be positive".into());
        }
        if self.in_chans == 0 {
            return bad("in_chans must be positive".into());
        }
        if !self.embed_dim.is_multiple_of(4 * self.num_heads) {
            return bad(format!(
                "embed_dim {} must be a multiple of 4·num_heads ({}) for RoPE",
                self.embed_dim,
                4 * self.num_heads
            ));
        }
        let periods =
            self.pos_embed_rope_min_period.is_some() && self.pos_embed_rope_max_period.is_some();
        if self.pos_embed_rope_base.is_some() == periods {
            return bad("give either pos_embed_rope_base or both min and max periods".into());
        }
        if !(0.0..1.0).contains(&self.drop_path_rate) {
            return bad(format!("drop_path_rate {} must be in [0, 1)", self.drop_path_rate));
        }
        if self.ffn_hidden() == 0 {
            return bad("the FFN hidden width is 0".into());
        }
        for (n, v) in [
            ("pos_embed_rope_jitter_coords", self.pos_embed_rope_jitter_coords),
            ("pos_embed_rope_rescale_coords", self.pos_embed_rope_rescale_coords),
        ] {
            if let Some(v) = v
                && v < 1.0
            {
                return bad(format!("{n} {v} must be at least 1"));
            }
        }
        Ok(())
    }

    /// Every state-dict key of this architecture with its shape (official layout, buffers
    /// included), torch-free: lets tools validate a checkpoint without building the model.
    pub fn state_dict_shapes(&self) -> std::collections::BTreeMap<String, Vec<usize>> {
        let d = self.embed_dim;
        let h = self.ffn_hidden();
        let mut m = std::collections::BTreeMap::new();
        let mut put = |k: String, s: Vec<usize>| {
            m.insert(k, s);
        };
        let norm = |put: &mut dyn FnMut(String, Vec<usize>), p: &str| {
            put(format!("{p}.weight"), vec![d]);
            if self.norm_layer != NormLayer::RmsNorm {
                put(format!("{p}.bias"), vec![d]);
            }
        };
        put("cls_token".into(), vec![1, 1, d]);
        if self.n_storage_tokens > 0 {
            put("storage_tokens".into(), vec![1, self.n_storage_tokens, d]);
        }
        put("mask_token".into(), vec![1, d]);
        put(
            "patch_embed.proj.weight".into(),
            vec![d, self.in_chans, self.patch_size, self.patch_size],
        );
        put("patch_embed.proj.bias".into(), vec![d]);
        put("rope_embed.periods".into(), vec![self.head_dim() / 4]);
        for i in 0..self.depth {
            let p = format!("blocks.{i}");
            norm(&mut put, &format!("{p}.norm1"));
            norm(&mut put, &format!("{p}.norm2"));
            put(format!("{p}.attn.qkv.weight"), vec![3 * d, d]);
            if self.qkv_bias {
                put(format!("{p}.attn.qkv.bias"), vec![3 * d]);
                if self.mask_k_bias {
                    put(format!("{p}.attn.qkv.bias_mask"), vec![3 * d]);
                }
            }
            put(format!("{p}.attn.proj.weight"), vec![d, d]);
            if self.proj_bias {
                put(format!("{p}.attn.proj.bias"), vec![d]);
            }
            if self.layerscale_init.is_some() {
                put(format!("{p}.ls1.gamma"), vec![d]);
                put(format!("{p}.ls2.gamma"), vec![d]);
            }
            let lin = |put: &mut dyn FnMut(String, Vec<usize>), n: &str, i: usize, o: usize| {
                put(format!("{p}.mlp.{n}.weight"), vec![o, i]);
                if self.ffn_bias {
                    put(format!("{p}.mlp.{n}.bias"), vec![o]);
                }
            };
            if self.ffn_layer == FfnLayer::Mlp {
                lin(&mut put, "fc1", d, h);
                lin(&mut put, "fc2", h, d);
            } else {
                lin(&mut put, "w1", d, h);
                lin(&mut put, "w2", d, h);
                lin(&mut put, "w3", h, d);
            }
        }
        norm(&mut put, "norm");
        if self.untie_cls_and_patch_norms {
            norm(&mut put, "cls_norm");
        }
        if self.untie_global_and_local_cls_norm {
            norm(&mut put, "local_cls_norm");
        }
        m
    }

    /// Number of parameters (excluding buffers), from the key/shape rules.
    pub fn n_params(&self) -> usize {
        let d = self.embed_dim;
        let h = self.ffn_hidden();
        let p = self.patch_size;
        let norm = if self.norm_layer == NormLayer::RmsNorm { d } else { 2 * d };
        let mut n = d + self.n_storage_tokens * d + d + d * self.in_chans * p * p + d;
        let ffn = if self.ffn_layer == FfnLayer::Mlp {
            2 * d * h + if self.ffn_bias { h + d } else { 0 }
        } else {
            3 * d * h + if self.ffn_bias { 2 * h + d } else { 0 }
        };
        let block = 2 * norm
            + 3 * d * d
            + if self.qkv_bias { 3 * d } else { 0 }
            + d * d
            + if self.proj_bias { d } else { 0 }
            + if self.layerscale_init.is_some() { 2 * d } else { 0 }
            + ffn;
        n += self.depth * block + norm;
        if self.untie_cls_and_patch_norms {
            n += norm;
        }
        if self.untie_global_and_local_cls_norm {
            n += norm;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_reproduce_the_published_parameter_counts() {
        // README / spec §1.1 (computed from the key rules): S 21.60M, S+ 28.70M, B 85.67M,
        // L 303.2M, H+ 840.6M, 7B 6716.0M.
        let m = |n: &str| ViTConfig::preset(n).unwrap().n_params() as f64 / 1e6;
        assert!((m("vits16") - 21.60).abs() < 0.01, "{}", m("vits16"));
        assert!((m("vits16plus") - 28.70).abs() < 0.01, "{}", m("vits16plus"));
        assert!((m("vitb16") - 85.67).abs() < 0.01, "{}", m("vitb16"));
        assert!((m("vitl16") - 303.2).abs() < 0.1, "{}", m("vitl16"));
        assert!((m("vith16plus") - 840.6).abs() < 0.1, "{}", m("vith16plus"));
        assert!((m("vit7b16") - 6716.0).abs() < 0.1, "{}", m("vit7b16"));
        for p in PRESETS {
            ViTConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(ViTConfig::preset("vitz").unwrap_err().to_string().contains("vits16plus"));
    }

    #[test]
    fn configs_are_strict_json_with_reference_defaults() {
        let c = ViTConfig::from_json(r#"{"embed_dim": 64, "depth": 3, "num_heads": 2}"#).unwrap();
        assert_eq!(c.n_storage_tokens, 4);
        assert_eq!(c.pos_embed_rope_rescale_coords, Some(2.0));
        let e = ViTConfig::from_json(r#"{"embed_dim": 64, "depht": 3}"#).unwrap_err().to_string();
        assert!(e.contains("depht"), "{e}");
        let e =
            ViTConfig::from_json(r#"{"embed_dim": 66, "num_heads": 2}"#).unwrap_err().to_string();
        assert!(e.contains("multiple of 4"), "{e}");
        let json = serde_json::to_string(&ViTConfig::preset("vit7b16").unwrap()).unwrap();
        assert!(json.contains("\"ffn_layer\":\"swiglu64\""), "{json}");
        assert_eq!(ViTConfig::from_json(&json).unwrap(), ViTConfig::preset("vit7b16").unwrap());
    }
}
