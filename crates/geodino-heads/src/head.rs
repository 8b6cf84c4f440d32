//! [`DenseHead`]: a decoder with its variables and its [`HeadSpec`]; loading (official `.pth`
//! / safetensors, or geodino head files), saving, precision, and the full per-pixel pipeline
//! (adapt to the patch size → backbone layers → decoder → metres or class logits → back to
//! the input's pixels) behind the [`Head`] trait.

use std::path::Path;

use geodino_nn::{Backbone, LayerFeatures, LoadPolicy, LoadReport, Precision};
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor, nn};

use crate::dpt::{DptConfig, DptHead, Readout};
use crate::geometry::{Geometry, OutputSize};
use crate::linear::{LinearHead, LinearHeadConfig};
use crate::spec::{
    ClassInfo, DecoderConfig, HEAD_FORMAT, HEAD_METADATA_KEY, HeadSpec, NormalizationSpec, Task,
};
use crate::{Error, Result};

/// What a dense head computes for a batch: per-pixel outputs of a head.
///
/// Implemented by [`DenseHead`]; the whole-scene engine holds a `Box<dyn Head>`.
pub trait Head: std::fmt::Debug + Send {
    /// The head's description (task, classes, layers, normalisation, …).
    fn spec(&self) -> &HeadSpec;

    /// Run `backbone` and the head on a normalised batch, without gradients, adapting the input
    /// to the patch size and the outputs back as `size` asks. Inputs of any floating kind and
    /// device are moved to the backbone's; outputs are f32 on the backbone's device.
    ///
    /// # Shapes
    /// `x (b, c, H, W)` → logits `(b, n, H', W')`, heights `(b, 1, H', W')` (canopy heads).
    ///
    /// # Errors
    /// Bad input rank or bands, a backbone that does not fit the head, libtorch errors.
    fn run(&self, backbone: &dyn Backbone, x: &Tensor, size: OutputSize) -> Result<HeadOutput>;

    /// Per-pixel outputs on the input's pixel grid: heights in metres (`k = 1`) for canopy
    /// heads, class logits (`k = C`) for land-cover heads.
    ///
    /// # Shapes
    /// `(b, c, H, W) → (b, k, H, W)`.
    ///
    /// # Errors
    /// As [`Head::run`].
    fn predict(&self, backbone: &dyn Backbone, x: &Tensor) -> Result<Tensor> {
        let out = self.run(backbone, x, OutputSize::Crop)?;
        Ok(out.height.unwrap_or(out.logits))
    }

    /// Output channels of [`Head::predict`].
    fn out_channels(&self) -> i64 {
        self.spec().out_channels()
    }
}

/// The outputs of [`Head::run`], f32.
#[derive(Debug)]
pub struct HeadOutput {
    /// Bin logits (canopy) or class logits (land cover) `(b, n, H', W')`.
    pub logits: Tensor,
    /// Heights in metres `(b, 1, H', W')` (canopy heads).
    pub height: Option<Tensor>,
}

impl HeadOutput {
    /// Class indices `(b, 1, H', W')` (int64): the argmax over the logits.
    pub fn classes(&self) -> Tensor {
        self.logits.argmax(1, true)
    }
}

/// A decoder of either architecture.
#[derive(Debug)]
pub enum Decoder {
    /// DPT.
    Dpt(Box<DptHead>),
    /// Linear.
    Linear(LinearHead),
}

/// How to read a head file ([`DenseHead::from_file`]).
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// For files without a geodino description (official `.pth`, plain safetensors): the preset
    /// whose task, bins, layers and normalisation apply to a DPT head (default `chmv2`); the
    /// architecture always comes from the tensors.
    pub preset: Option<String>,
    /// Override the backbone layers (negative = from the end). Default: the file's, else the
    /// preset's (DPT) or `[-1]` (linear).
    pub layers: Option<Vec<i64>>,
    /// Name (and colour) the classes: for files without a description, this makes a DPT head a
    /// land-cover head and names a linear head's classes (default `class 0`, `class 1`, …);
    /// for geodino head files it replaces the stored classes (same count).
    pub classes: Option<Vec<ClassInfo>>,
    /// For linear heads without a description: the CLS is concatenated to each layer.
    pub cls_token: bool,
    /// For heads without a description that are not canopy heads: the normalisation preset
    /// (default `sat493m`).
    pub normalization: Option<String>,
    /// `.pth` training checkpoints: the entry holding the state dict (default: found).
    pub checkpoint_key: Option<String>,
    /// Device of the parameters. Default CPU.
    pub device: Device,
    /// Precision of the parameters. Default f32.
    pub precision: Precision,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            preset: None,
            layers: None,
            classes: None,
            cls_token: false,
            normalization: None,
            checkpoint_key: None,
            device: Device::Cpu,
            precision: Precision::F32,
        }
    }
}

/// A dense head: decoder, variables and description.
#[derive(Debug)]
pub struct DenseHead {
    vs: nn::VarStore,
    spec: HeadSpec,
    decoder: Decoder,
    precision: Precision,
    report: LoadReport,
    /// Convolution weights and 4-D inputs in channels-last strides (see
    /// [`DenseHead::set_channels_last`]).
    channels_last: bool,
}

/// `t` in channels-last strides when `on` (4-D tensors only), else contiguous.
fn to_layout(t: &Tensor, on: bool) -> Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    if on { t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]) } else { t.contiguous() }
}

fn build(vs: &nn::VarStore, spec: &HeadSpec) -> Result<Decoder> {
    spec.validate()?;
    Ok(match &spec.decoder {
        DecoderConfig::Dpt(c) => Decoder::Dpt(Box::new(DptHead::new(vs.root(), c)?)),
        DecoderConfig::Linear(c) => Decoder::Linear(LinearHead::new(vs.root(), c)?),
    })
}

/// Bring an official head state dict to bare decoder keys: strip `module.`, take the `decoder.`
/// part of a whole depther (dropping its `encoder.` backbone).
fn bare_decoder_keys(sd: &mut StateDict) -> Result<()> {
    if sd.keys().all(|k| k.starts_with("module.")) {
        sd.strip_prefix("module.");
    }
    if sd.keys().any(|k| k.starts_with("decoder.")) {
        let src = sd.source().to_string();
        let dropped = sd.select_prefix("decoder.");
        let foreign: Vec<&String> = dropped.iter().filter(|k| !k.starts_with("encoder.")).collect();
        if !foreign.is_empty() {
            return Err(Error::checkpoint(
                src,
                format!(
                    "keys outside `decoder.` and `encoder.` in a depther checkpoint: {}",
                    foreign.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn strict_policy() -> LoadPolicy {
    // Checkpoints from PyTorch < 0.4.1 have no `num_batches_tracked`; it only counts batches.
    let mut optional = vec!["batchnorm_layer.num_batches_tracked".to_string()];
    optional.extend(
        (0..4).map(|i| format!("reassemble_blocks.batchnorm_layers.{i}.num_batches_tracked")),
    );
    LoadPolicy { optional, ignorable: Vec::new() }
}

impl DenseHead {
    /// A head with the reference random initialisation, in f32 on `device` (for training).
    ///
    /// # Errors
    /// An invalid description.
    pub fn new(spec: HeadSpec, device: Device) -> Result<DenseHead> {
        let vs = nn::VarStore::new(device);
        let decoder = build(&vs, &spec)?;
        if let Decoder::Dpt(d) = &decoder {
            d.init_weights();
        }
        Ok(DenseHead {
            vs,
            spec,
            decoder,
            precision: Precision::F32,
            report: LoadReport::default(),
            channels_last: false,
        })
    }

    /// Build from a state dict with bare decoder keys, strictly: every missing, unexpected or
    /// mis-shaped key is reported by name (`num_batches_tracked` may be absent).
    ///
    /// # Errors
    /// [`geodino_nn::Error::StateDictMismatch`] (inside [`Error::Nn`]), an invalid description.
    pub fn from_state_dict(sd: StateDict, spec: HeadSpec, device: Device) -> Result<DenseHead> {
        let vs = nn::VarStore::new(device);
        let decoder = build(&vs, &spec)?;
        let report = geodino_nn::load_state_dict(&vs, sd, &strict_policy())?;
        Ok(DenseHead { vs, spec, decoder, precision: Precision::F32, report, channels_last: false })
    }

    /// Read a head file: a geodino head file (safetensors with a [`HeadSpec`] in its metadata),
    /// or an official head checkpoint (`.pth` or safetensors, keys with or without `decoder.`,
    /// e.g. `dinov3_vitl16_chmv2_dpt_head-3703d643.pth`), whose architecture is inferred from
    /// the tensors ([`DptConfig::infer`], [`LinearHeadConfig::infer`]) and whose other settings
    /// come from `opts` (preset `chmv2` by default). Then `opts.precision` and `opts.device`
    /// are applied.
    ///
    /// # Errors
    /// Unreadable files, tensors that form no known head, strict-loading failures (every bad
    /// key named), an invalid description.
    pub fn from_file(path: &Path, opts: &HeadOptions) -> Result<DenseHead> {
        let mut sd = geodino_weights::load(
            path,
            &geodino_weights::LoadOptions { checkpoint_key: opts.checkpoint_key.clone() },
        )?;
        let src = path.display().to_string();
        sd.set_source(src.clone());
        let with_src = |e: Error| match e {
            Error::Config(m) => Error::checkpoint(src.clone(), m),
            other => other,
        };
        let mut spec = match sd.metadata.get(HEAD_METADATA_KEY) {
            Some(json) => {
                let mut spec = HeadSpec::from_json(json).map_err(with_src)?;
                if let Some(c) = &opts.classes {
                    spec.classes = c.clone();
                }
                spec
            }
            None => {
                bare_decoder_keys(&mut sd)?;
                spec_from_tensors(&sd, opts).map_err(with_src)?
            }
        };
        if let Some(l) = &opts.layers {
            spec.backbone.layers = l.clone();
            spec.validate().map_err(with_src)?;
        }
        let mut head = DenseHead::from_state_dict(sd, spec, Device::Cpu)?;
        head.set_precision(opts.precision);
        if opts.device != Device::Cpu {
            head.to_device(opts.device);
        }
        Ok(head)
    }

    /// All variables (current precision) with the description in the metadata.
    ///
    /// # Errors
    /// libtorch errors.
    pub fn state_dict(&self) -> Result<StateDict> {
        let mut sd = geodino_nn::state_dict_of(&self.vs)?;
        sd.metadata.insert("format".into(), HEAD_FORMAT.into());
        sd.metadata.insert(HEAD_METADATA_KEY.into(), self.spec.to_json());
        Ok(sd)
    }

    /// Write a geodino head file (safetensors, atomically).
    ///
    /// # Errors
    /// I/O errors (naming the file).
    pub fn save(&self, path: &Path) -> Result<()> {
        geodino_weights::write_safetensors(path, &self.state_dict()?)?;
        Ok(())
    }

    /// The description.
    pub fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The variables (for optimisers and saving).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// What loading did (optional keys kept at their defaults).
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// The current precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Read other backbone layers (negative = from the end).
    ///
    /// # Errors
    /// A layer count the decoder does not take.
    pub fn set_layers(&mut self, layers: Vec<i64>) -> Result<()> {
        let mut spec = self.spec.clone();
        spec.backbone.layers = layers;
        spec.validate()?;
        self.spec = spec;
        Ok(())
    }

    /// Rename the classes (and recolour them) of a land-cover head.
    ///
    /// # Errors
    /// A count that differs from the outputs, a canopy head.
    pub fn set_classes(&mut self, classes: Vec<ClassInfo>) -> Result<()> {
        let mut spec = self.spec.clone();
        spec.classes = classes;
        spec.validate()?;
        self.spec = spec;
        Ok(())
    }

    /// Convert the floating parameters to `p`, except BatchNorm parameters and statistics,
    /// which stay f32 (the bins and their normalisation are computed in f32 in any case).
    pub fn set_precision(&mut self, p: Precision) {
        let keep = match &self.decoder {
            Decoder::Dpt(d) => d.f32_variables(),
            Decoder::Linear(l) => l.f32_variables(),
        };
        let kind = p.kind();
        tch::no_grad(|| {
            for (name, v) in self.vs.variables() {
                if keep.contains(&name) || !v.is_floating_point() || v.kind() == kind {
                    continue;
                }
                let mut v = v.shallow_clone();
                v.set_data(&v.to_kind(kind));
            }
        });
        self.precision = p;
    }

    /// Store every 4-D variable (the convolution weights) and feed the decoder its 4-D inputs in
    /// channels-last strides (`(b, c, h, w)` shapes with `c` innermost in memory, PyTorch's
    /// `torch.channels_last`), or back to the default contiguous layout.
    ///
    /// Shapes, names and values are unchanged; only the memory layout differs, which lets
    /// oneDNN run the DPT's convolutions without reordering every activation to its blocked
    /// format and back. On the CPU in f32 this makes a whole ViT-S or ViT-L + CHMv2 DPT scene
    /// job 4–5 % faster (`docs/inference.md`); results agree with the default layout to float
    /// rounding (the convolutions accumulate in another order). Call it after
    /// [`DenseHead::set_precision`].
    pub fn set_channels_last(&mut self, on: bool) {
        tch::no_grad(|| {
            for (_, v) in self.vs.variables() {
                if v.dim() == 4 {
                    let mut v = v.shallow_clone();
                    v.set_data(&to_layout(&v, on));
                }
            }
        });
        self.channels_last = on;
    }

    /// Move every variable to `device`.
    pub fn to_device(&mut self, device: Device) {
        self.vs.set_device(device);
    }

    /// The device of the parameters.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    fn kind(&self) -> Kind {
        match &self.decoder {
            Decoder::Dpt(d) => d.kind(),
            Decoder::Linear(l) => l.kind(),
        }
    }

    /// Check that `backbone` can feed this head.
    ///
    /// # Errors
    /// Width, patch size, band count or layer indices that do not fit (each described).
    pub fn check_backbone(&self, backbone: &dyn Backbone) -> Result<Vec<usize>> {
        let d = backbone.embed_dim();
        if let Some(&w) = self.spec.decoder.in_channels().iter().find(|&&w| w != d) {
            return Err(Error::Input(format!(
                "the head takes features of width {w}, the backbone produces {d}"
            )));
        }
        if let Some(p) = self.spec.backbone.patch_size
            && p != backbone.patch_size()
        {
            return Err(Error::Input(format!(
                "the head was trained with patch size {p}, the backbone has {}",
                backbone.patch_size()
            )));
        }
        if let Some(c) = self.spec.backbone.in_chans
            && c != backbone.in_chans()
        {
            return Err(Error::Input(format!(
                "the head was trained on {c}-band inputs, the backbone takes {}",
                backbone.in_chans()
            )));
        }
        self.spec.resolve_layers(backbone.n_blocks())
    }

    /// Adapt `x` to the patch size and run the backbone layers the head reads (in the current
    /// gradient mode; wrap in `tch::no_grad` when the backbone is frozen). Features are in the
    /// backbone's kind.
    ///
    /// # Shapes
    /// `x (b, c, H, W)` → per layer `patch (b, D, h, w)`, `cls (b, D)`, with the geometry that
    /// maps outputs back to `(H, W)`.
    ///
    /// # Errors
    /// As [`DenseHead::check_backbone`]; bad input rank or bands.
    pub fn features(
        &self,
        backbone: &dyn Backbone,
        x: &Tensor,
    ) -> Result<(Vec<LayerFeatures>, Geometry)> {
        let layers = self.check_backbone(backbone)?;
        let s = x.size();
        if s.len() != 4 || s[1] != backbone.in_chans() {
            return Err(Error::Input(format!(
                "expected a normalised batch (b, {}, h, w), got shape {s:?}",
                backbone.in_chans()
            )));
        }
        if !x.is_floating_point() {
            return Err(Error::Input(format!(
                "expected floating-point images, got {:?}",
                x.kind()
            )));
        }
        let g = Geometry::new(s[2], s[3], backbone.patch_size(), self.spec.adaptation);
        let x = x.to_device(backbone.device()).to_kind(backbone.kind());
        let feats = backbone.intermediate_layers(
            &g.apply(&x),
            &layers,
            self.spec.backbone.use_norm,
            true,
        )?;
        Ok((feats, g))
    }

    /// The decoder's raw output (bin or class logits) from backbone features, in the head's
    /// kind; `train` enables dropout and BatchNorm batch statistics.
    ///
    /// # Shapes
    /// DPT: `(b, n, 32·⌈h/2⌉, 32·⌈w/2⌉)`; linear: `(b, C, h, w)`.
    ///
    /// # Errors
    /// Features that do not fit the decoder.
    pub fn forward_t(&self, feats: &[LayerFeatures], train: bool) -> Result<Tensor> {
        let kind = self.kind();
        let dev = self.device();
        let feats: Vec<LayerFeatures> = feats
            .iter()
            .map(|f| LayerFeatures {
                patch: match f.patch.to_device(dev).to_kind(kind) {
                    p if self.channels_last => to_layout(&p, true),
                    p => p,
                },
                cls: f.cls.to_device(dev).to_kind(kind),
                registers: f.registers.shallow_clone(),
            })
            .collect();
        match &self.decoder {
            Decoder::Dpt(d) => d.forward_t(&feats, train),
            Decoder::Linear(l) => l.forward_t(&feats, train),
        }
    }

    /// Turn the decoder's raw output into f32 logits and heights, sized as `size` asks.
    pub fn outputs(&self, raw: &Tensor, geometry: &Geometry, size: OutputSize) -> HeadOutput {
        let logits = raw.to_kind(Kind::Float);
        let height = match (self.spec.task, &self.spec.depth) {
            (Task::CanopyHeight, Some(d)) => Some(geometry.restore(&d.to_depth(&logits), size)),
            _ => None,
        };
        HeadOutput { logits: geometry.restore(&logits, size), height }
    }
}

impl Head for DenseHead {
    fn spec(&self) -> &HeadSpec {
        &self.spec
    }

    fn run(&self, backbone: &dyn Backbone, x: &Tensor, size: OutputSize) -> Result<HeadOutput> {
        tch::no_grad(|| {
            let (feats, g) = self.features(backbone, x)?;
            let raw = self.forward_t(&feats, false)?;
            Ok(self.outputs(&raw, &g, size))
        })
    }
}

/// The description of a head file that has none: the architecture from the tensors, the rest
/// from the options.
fn spec_from_tensors(sd: &StateDict, opts: &HeadOptions) -> Result<HeadSpec> {
    let norm =
        |default: &str| NormalizationSpec::preset(opts.normalization.as_deref().unwrap_or(default));
    if sd.contains("reassemble_blocks.projects.0.conv.weight") {
        let mut cfg = DptConfig::infer(sd)?;
        let preset = HeadSpec::preset(opts.preset.as_deref().unwrap_or("chmv2"))?;
        if let DecoderConfig::Dpt(p) = &preset.decoder
            && cfg.readout == Readout::Ignore
            && p.readout == Readout::Add
        {
            cfg.readout = Readout::Add;
        }
        let d = cfg.in_channels[0];
        let spec = match &opts.classes {
            None => {
                let same = preset.decoder == DecoderConfig::Dpt(cfg.clone());
                let mut spec = HeadSpec { decoder: DecoderConfig::Dpt(cfg), ..preset };
                if !same {
                    // Another architecture than the preset's: not the preset's trained head.
                    spec.name = None;
                    spec.backbone.weights = None;
                }
                if let Some(n) = &opts.normalization {
                    spec.normalization = NormalizationSpec::preset(n)?;
                }
                spec
            }
            Some(classes) => {
                let layers = opts.layers.clone().unwrap_or(preset.backbone.layers.clone());
                let mut spec = HeadSpec::land_cover_dpt(d, layers, classes.clone());
                spec.decoder = DecoderConfig::Dpt(cfg);
                spec.normalization = norm("sat493m")?;
                spec
            }
        };
        Ok(spec)
    } else if sd.contains("conv.weight") {
        let layers = opts.layers.clone().unwrap_or(vec![-1]);
        let cfg = LinearHeadConfig::infer(sd, layers.len(), opts.cls_token)?;
        let classes = opts
            .classes
            .clone()
            .unwrap_or_else(|| ClassInfo::numbered(cfg.n_output_channels as usize));
        let mut spec = HeadSpec::land_cover_linear(cfg.in_channels[0], layers, classes);
        spec.decoder = DecoderConfig::Linear(cfg);
        spec.normalization = norm("sat493m")?;
        Ok(spec)
    } else {
        Err(Error::checkpoint(
            sd.source(),
            "not a head checkpoint: neither DPT keys (reassemble_blocks.*) nor a linear head \
             (conv.weight); is this a backbone?",
        ))
    }
}
