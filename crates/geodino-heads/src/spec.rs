//! [`HeadSpec`]: everything needed to run a head besides its tensors — task, decoder
//! architecture, depth bins or classes (names and colours), backbone layers, input
//! normalisation and patch adaptation. Stored as JSON in the head file's safetensors
//! `__metadata__` under [`HEAD_METADATA_KEY`], so a head file is self-describing
//! (`docs/heads.md`).

use serde::{Deserialize, Serialize};

use crate::depth::DepthConfig;
use crate::dpt::{DPT_LEVELS, DptConfig};
use crate::geometry::PatchAdaptation;
use crate::linear::LinearHeadConfig;
use crate::{Error, Result};

/// safetensors `__metadata__` key holding the [`HeadSpec`] as JSON.
pub const HEAD_METADATA_KEY: &str = "geodino.head";
/// safetensors `__metadata__` `format` value of head files.
pub const HEAD_FORMAT: &str = "geodino-head";
/// Current version of the head file description.
pub const HEAD_FORMAT_VERSION: u32 = 1;
/// Names accepted by [`HeadSpec::preset`].
pub const PRESETS: &[&str] = &["chmv2"];

/// What a head predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Canopy height in metres, one channel (bins turned into heights by [`DepthConfig`]).
    CanopyHeight,
    /// Land cover: one logit per class.
    LandCover,
}

/// The decoder architecture, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DecoderConfig {
    /// The DPT head (CHMv2, or a class head).
    Dpt(DptConfig),
    /// The linear head (land cover).
    Linear(LinearHeadConfig),
}

impl DecoderConfig {
    /// Output channels (bins or classes).
    pub fn n_output_channels(&self) -> i64 {
        match self {
            DecoderConfig::Dpt(c) => c.n_output_channels,
            DecoderConfig::Linear(c) => c.n_output_channels,
        }
    }

    /// Backbone width expected by each input layer.
    pub fn in_channels(&self) -> &[i64] {
        match self {
            DecoderConfig::Dpt(c) => &c.in_channels,
            DecoderConfig::Linear(c) => &c.in_channels,
        }
    }
}

/// A land-cover class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassInfo {
    /// Display name, e.g. `"tree cover"`.
    pub name: String,
    /// Display colour (sRGB).
    pub color: [u8; 3],
    /// The code written to class rasters for this class (e.g. ESA WorldCover's 10, 20, …).
    /// Default: the class index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

impl ClassInfo {
    /// A class with a name and a colour, coded by its index.
    pub fn new(name: impl Into<String>, color: [u8; 3]) -> ClassInfo {
        ClassInfo { name: name.into(), color, value: None }
    }

    /// `n` classes named `class 0`, `class 1`, … with [`default_color`]s (for heads whose
    /// file names none).
    pub fn numbered(n: usize) -> Vec<ClassInfo> {
        (0..n).map(|i| ClassInfo::new(format!("class {i}"), default_color(i))).collect()
    }
}

/// A distinct colour for class `i` (a 20-colour qualitative palette, then golden-ratio hues).
pub fn default_color(i: usize) -> [u8; 3] {
    const P: [[u8; 3]; 20] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
        [174, 199, 232],
        [255, 187, 120],
        [152, 223, 138],
        [255, 152, 150],
        [197, 176, 213],
        [196, 156, 148],
        [247, 182, 210],
        [199, 199, 199],
        [219, 219, 141],
        [158, 218, 229],
    ];
    if i < P.len() {
        return P[i];
    }
    let h = (i as f64 * 0.618_033_988_75).fract() * 6.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    let (r, g, b) = match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let c = |v: f64| (40.0 + 180.0 * v).round() as u8;
    [c(r), c(g), c(b)]
}

/// Which backbone features the head reads, and what backbone it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneSpec {
    /// 0-based block indices; negative values count from the end (`-1` is the last block).
    pub layers: Vec<i64>,
    /// Apply the backbone's final norm to each layer (`use_backbone_norm`). Default true.
    #[serde(default = "yes")]
    pub use_norm: bool,
    /// Patch size the head was trained with (checked against the backbone when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_size: Option<i64>,
    /// Input bands the backbone takes (checked when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_chans: Option<i64>,
    /// The backbone weights the head was trained on (informative), e.g.
    /// `dinov3_vitl16_sat493m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

fn yes() -> bool {
    true
}

/// The input normalisation the head expects: `(x / scale − mean) / std` per band (the
/// fields of `geodino_data::Normalization`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizationSpec {
    /// The preset these values come from (`chmv2`, `sat493m`, `lvd1689m`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Per-band means in units of `x / scale`.
    pub mean: Vec<f32>,
    /// Per-band standard deviations.
    pub std: Vec<f32>,
    /// Raw values are divided by this first. Default 255.
    #[serde(default = "default_scale")]
    pub scale: f32,
}

fn default_scale() -> f32 {
    255.0
}

impl NormalizationSpec {
    /// A named preset: `chmv2` (red mean **0.420**, the CHMv2 head's), `sat493m` (0.430),
    /// `lvd1689m`/`imagenet`.
    ///
    /// # Errors
    /// An unknown name.
    pub fn preset(name: &str) -> Result<NormalizationSpec> {
        let sat_std = vec![0.213, 0.156, 0.143];
        let (key, mean, std) = match name.trim().to_ascii_lowercase().as_str() {
            "chmv2" => ("chmv2", vec![0.420, 0.411, 0.296], sat_std),
            "sat" | "sat493m" => ("sat493m", vec![0.430, 0.411, 0.296], sat_std),
            "lvd" | "lvd1689m" | "imagenet" => {
                ("lvd1689m", vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])
            }
            other => {
                return Err(Error::Config(format!(
                    "unknown normalisation preset {other:?}; known: chmv2, sat493m, lvd1689m"
                )));
            }
        };
        Ok(NormalizationSpec { preset: Some(key.into()), mean, std, scale: 255.0 })
    }

    fn validate(&self) -> Result<()> {
        let ok = !self.mean.is_empty()
            && self.mean.len() == self.std.len()
            && self.std.iter().all(|s| s.is_finite() && *s > 0.0)
            && self.mean.iter().all(|m| m.is_finite())
            && self.scale.is_finite()
            && self.scale > 0.0;
        if !ok {
            return Err(Error::Config(format!(
                "normalisation mean {:?} / std {:?} / scale {}: need equal non-empty lists, positive stds and scale",
                self.mean, self.std, self.scale
            )));
        }
        Ok(())
    }
}

/// The description of a head stored with its weights (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    /// Version of this description ([`HEAD_FORMAT_VERSION`]).
    #[serde(default = "version")]
    pub version: u32,
    /// What the head predicts.
    pub task: Task,
    /// A short name (e.g. `chmv2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The decoder.
    pub decoder: DecoderConfig,
    /// Canopy height: how bins become metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthConfig>,
    /// Land cover: one entry per output channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassInfo>,
    /// Backbone layers and provenance.
    pub backbone: BackboneSpec,
    /// Input normalisation.
    pub normalization: NormalizationSpec,
    /// Patch-size adaptation. Default centre padding.
    #[serde(default)]
    pub adaptation: PatchAdaptation,
}

fn version() -> u32 {
    HEAD_FORMAT_VERSION
}

impl HeadSpec {
    /// A head by name: `chmv2` (the released CHMv2 canopy-height head: [`DptConfig::chmv2`]
    /// on ViT-L/16 SAT-493M layers `[5, 11, 17, 23]` with the final norm, CHMv2 bins
    /// 0.001–96 m, `chmv2` normalisation (red mean 0.420), centre padding).
    ///
    /// # Errors
    /// An unknown name (the message lists the known ones).
    pub fn preset(name: &str) -> Result<HeadSpec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "chmv2" | "dinov3_vitl16_chmv2" => Ok(HeadSpec {
                version: HEAD_FORMAT_VERSION,
                task: Task::CanopyHeight,
                name: Some("chmv2".into()),
                decoder: DecoderConfig::Dpt(DptConfig::chmv2()),
                depth: Some(DepthConfig::chmv2()),
                classes: Vec::new(),
                backbone: BackboneSpec {
                    layers: vec![5, 11, 17, 23],
                    use_norm: true,
                    patch_size: Some(16),
                    in_chans: Some(3),
                    weights: Some("dinov3_vitl16_sat493m".into()),
                },
                normalization: NormalizationSpec::preset("chmv2")?,
                adaptation: PatchAdaptation::CenterPadding,
            }),
            other => Err(Error::Config(format!(
                "unknown head preset {other:?}; known: {}",
                PRESETS.join(", ")
            ))),
        }
    }

    /// A linear land-cover head (the reference segmentation linear head: BatchNorm, no CLS)
    /// on `layers` of a backbone of width `embed_dim`.
    pub fn land_cover_linear(
        embed_dim: i64,
        layers: Vec<i64>,
        classes: Vec<ClassInfo>,
    ) -> HeadSpec {
        let cfg = LinearHeadConfig {
            in_channels: vec![embed_dim; layers.len()],
            n_output_channels: classes.len() as i64,
            ..Default::default()
        };
        HeadSpec::land_cover(DecoderConfig::Linear(cfg), layers, classes)
    }

    /// A DPT land-cover head (the CHMv2 trunk with one output per class, hidden width 128) on
    /// four `layers` of a backbone of width `embed_dim`.
    pub fn land_cover_dpt(embed_dim: i64, layers: Vec<i64>, classes: Vec<ClassInfo>) -> HeadSpec {
        let cfg = DptConfig {
            in_channels: vec![embed_dim; DPT_LEVELS],
            n_output_channels: classes.len() as i64,
            ..DptConfig::chmv2()
        };
        HeadSpec::land_cover(DecoderConfig::Dpt(cfg), layers, classes)
    }

    fn land_cover(decoder: DecoderConfig, layers: Vec<i64>, classes: Vec<ClassInfo>) -> HeadSpec {
        HeadSpec {
            version: HEAD_FORMAT_VERSION,
            task: Task::LandCover,
            name: None,
            decoder,
            depth: None,
            classes,
            backbone: BackboneSpec {
                layers,
                use_norm: true,
                patch_size: Some(16),
                in_chans: Some(3),
                weights: None,
            },
            normalization: NormalizationSpec::preset("sat493m").expect("known preset"),
            adaptation: PatchAdaptation::CenterPadding,
        }
    }

    /// Output channels of [`crate::Head::predict`]: 1 (metres) or the class count.
    pub fn out_channels(&self) -> i64 {
        match self.task {
            Task::CanopyHeight => 1,
            Task::LandCover => self.decoder.n_output_channels(),
        }
    }

    /// Check that the parts agree with each other.
    ///
    /// # Errors
    /// Every inconsistency, described.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.version > HEAD_FORMAT_VERSION {
            return bad(format!(
                "head description version {} is newer than this geodino ({HEAD_FORMAT_VERSION})",
                self.version
            ));
        }
        match &self.decoder {
            DecoderConfig::Dpt(c) => c.validate()?,
            DecoderConfig::Linear(c) => c.validate()?,
        }
        let n_in = self.decoder.in_channels().len();
        if self.backbone.layers.len() != n_in {
            return bad(format!(
                "the decoder takes {n_in} backbone layers, but {} are listed ({:?})",
                self.backbone.layers.len(),
                self.backbone.layers
            ));
        }
        let n_out = self.decoder.n_output_channels();
        match self.task {
            Task::CanopyHeight => {
                if !matches!(self.decoder, DecoderConfig::Dpt(_)) {
                    return bad("a canopy-height head must be a DPT head".into());
                }
                match &self.depth {
                    Some(d) => d.validate()?,
                    None => return bad("a canopy-height head needs a `depth` section".into()),
                }
                if !self.classes.is_empty() {
                    return bad("a canopy-height head has no classes".into());
                }
            }
            Task::LandCover => {
                if self.depth.is_some() {
                    return bad("a land-cover head has no `depth` section".into());
                }
                if self.classes.len() as i64 != n_out {
                    return bad(format!(
                        "the decoder has {n_out} outputs but {} classes are listed",
                        self.classes.len()
                    ));
                }
                let mut names: Vec<&str> = self.classes.iter().map(|c| c.name.as_str()).collect();
                names.sort_unstable();
                if names.iter().any(|n| n.trim().is_empty())
                    || names.windows(2).any(|w| w[0] == w[1])
                {
                    return bad("class names must be non-empty and distinct".into());
                }
            }
        }
        self.normalization.validate()?;
        if let Some(c) = self.backbone.in_chans
            && c as usize != self.normalization.mean.len()
        {
            return bad(format!(
                "the backbone takes {c} bands but the normalisation has {}",
                self.normalization.mean.len()
            ));
        }
        Ok(())
    }

    /// The layer indices for a backbone of `n_blocks` blocks (negative indices resolved).
    ///
    /// # Errors
    /// An index outside the backbone.
    pub fn resolve_layers(&self, n_blocks: usize) -> Result<Vec<usize>> {
        self.backbone
            .layers
            .iter()
            .map(|&l| {
                let i = if l < 0 { n_blocks as i64 + l } else { l };
                if i < 0 || i >= n_blocks as i64 {
                    Err(Error::Input(format!(
                        "head layer {l} does not exist in a backbone of {n_blocks} blocks \
                         (layers {:?}; set them with --layers)",
                        self.backbone.layers
                    )))
                } else {
                    Ok(i as usize)
                }
            })
            .collect()
    }

    /// The JSON stored in head files.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data")
    }

    /// Parse (and validate) a head description.
    ///
    /// # Errors
    /// Malformed JSON, unknown fields, inconsistent parts.
    pub fn from_json(json: &str) -> Result<HeadSpec> {
        let spec: HeadSpec = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("head description: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmv2_preset_is_valid_and_round_trips_through_json() {
        let s = HeadSpec::preset("chmv2").unwrap();
        s.validate().unwrap();
        assert_eq!(s.normalization.mean[0], 0.420);
        assert_eq!(s.resolve_layers(24).unwrap(), vec![5, 11, 17, 23]);
        assert!(s.resolve_layers(4).unwrap_err().to_string().contains("--layers"));
        let back = HeadSpec::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert!(HeadSpec::preset("nope").unwrap_err().to_string().contains("chmv2"));
    }

    #[test]
    fn unknown_fields_and_inconsistencies_are_rejected() {
        let s = HeadSpec::preset("chmv2").unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        v["decoder"]["chanels"] = 3.into();
        let e = HeadSpec::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(e.contains("chanels"), "{e}");
        let classes =
            vec![ClassInfo::new("water", [0, 0, 255]), ClassInfo::new("tree", [0, 128, 0])];
        let mut lc = HeadSpec::land_cover_linear(64, vec![-1], classes.clone());
        lc.validate().unwrap();
        assert_eq!(lc.resolve_layers(12).unwrap(), vec![11]);
        lc.classes.pop();
        assert!(lc.validate().unwrap_err().to_string().contains("1 classes"));
        let mut lc = HeadSpec::land_cover_dpt(64, vec![0, 1, 2], classes);
        assert!(lc.validate().unwrap_err().to_string().contains("4 backbone layers"));
        lc.backbone.layers.push(3);
        lc.validate().unwrap();
    }

    #[test]
    fn default_colours_are_distinct() {
        let c: Vec<[u8; 3]> = (0..64).map(default_color).collect();
        for i in 0..c.len() {
            for j in 0..i {
                assert_ne!(c[i], c[j], "{i} {j}");
            }
        }
    }
}
