//! What the engine runs on each batch of tiles: a backbone with a dense head (canopy height,
//! land cover) or a backbone alone (patch features), behind [`TileModel`].

use std::path::{Path, PathBuf};

use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_heads::{DenseHead, Head, HeadOptions, HeadSpec, OutputSize, Task};
use geodino_nn::{Backbone, Precision};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// A model the engine can slide over a scene.
///
/// It maps a normalised batch `(b, c, t, t)` (f32, on the CPU) to `(b, k, t / s, t / s)`
/// (f32, on the CPU, contiguous), where `s` is [`TileModel::stride`].
pub trait TileModel {
    /// Input channels `c`.
    fn in_channels(&self) -> usize;
    /// Output channels `k`.
    fn out_channels(&self) -> usize;
    /// Input pixels per output pixel along each axis (1 for per-pixel heads).
    fn stride(&self) -> usize;
    /// The backbone's patch size (tiles are multiples of it).
    fn patch_size(&self) -> usize;
    /// Run the model.
    ///
    /// # Shapes
    /// `(b, c, t, t) → (b, k, t / s, t / s)`.
    ///
    /// # Errors
    /// libtorch errors, inputs that do not fit.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}

/// Device, precision and threads for loading and running models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelOptions {
    /// Where the parameters live and the forward pass runs.
    pub device: Device,
    /// Parameter / compute precision of backbone and head.
    pub precision: Precision,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { device: Device::Cpu, precision: Precision::F32 }
    }
}

/// Load a DINOv3 backbone (`.pth`, official or geodino safetensors, Hugging Face) on
/// `opts.device` in `opts.precision`.
///
/// # Errors
/// Unreadable or non-DINOv3 files (named), unavailable devices.
pub fn load_backbone(path: &Path, opts: &ModelOptions) -> Result<Dinov3Backbone> {
    let co = CheckpointOptions {
        device: opts.device,
        precision: opts.precision,
        ..CheckpointOptions::default()
    };
    Ok(Dinov3Backbone::from_checkpoint(path, &co)?)
}

/// A backbone with a dense head: per-pixel canopy heights (`k = 1`, metres) or land-cover class
/// probabilities (`k = C`, softmax of the logits, so that overlapping tiles blend as
/// probabilities).
#[derive(Debug)]
pub struct HeadModel {
    backbone: Box<dyn Backbone>,
    head: DenseHead,
    sources: Option<(PathBuf, PathBuf)>,
}

impl HeadModel {
    /// Pair a backbone and a head, checking that they fit together.
    ///
    /// # Errors
    /// [`Error::Mismatch`]: the head reads another width, patch size, band count or layers
    /// the backbone does not have, or normalises another number of bands.
    pub fn new(backbone: Box<dyn Backbone>, head: DenseHead) -> Result<HeadModel> {
        check_fit(backbone.as_ref(), &head).map_err(Error::Mismatch)?;
        Ok(HeadModel { backbone, head, sources: None })
    }

    /// Load the backbone `weights` and the head file `head` and pair them.
    ///
    /// # Errors
    /// Unreadable files (named), and [`Error::Mismatch`] naming both files when they do not
    /// fit together.
    pub fn load(weights: &Path, head: &Path, opts: &ModelOptions) -> Result<HeadModel> {
        let backbone = load_backbone(weights, opts)?;
        let ho = HeadOptions {
            device: opts.device,
            precision: opts.precision,
            ..HeadOptions::default()
        };
        let mut h = DenseHead::from_file(head, &ho)?;
        h.set_channels_last(channels_last_pays(opts));
        check_fit(&backbone, &h).map_err(|e| {
            Error::Mismatch(format!(
                "the head {} does not fit the backbone {}: {e}",
                head.display(),
                weights.display()
            ))
        })?;
        Ok(HeadModel {
            backbone: Box::new(backbone),
            head: h,
            sources: Some((weights.to_path_buf(), head.to_path_buf())),
        })
    }

    /// Run the head's convolutions in channels-last memory layout (on) or PyTorch's default
    /// contiguous layout (off); [`HeadModel::load`] turns it on where it measurably pays (CPU,
    /// f32: see [`DenseHead::set_channels_last`]).
    pub fn set_channels_last(&mut self, on: bool) {
        self.head.set_channels_last(on);
    }

    /// The head's description (task, classes, normalisation, layers).
    pub fn spec(&self) -> &HeadSpec {
        self.head.spec()
    }

    /// The backbone.
    pub fn backbone(&self) -> &dyn Backbone {
        self.backbone.as_ref()
    }

    /// The files the model was loaded from (backbone, head), if any.
    pub fn sources(&self) -> Option<&(PathBuf, PathBuf)> {
        self.sources.as_ref()
    }
}

/// Whether the head runs faster in channels-last layout on this device and precision:
/// oneDNN's f32 convolutions on the CPU (4–5 % of a whole ViT + CHMv2 DPT job, `docs/inference.md`).
fn channels_last_pays(opts: &ModelOptions) -> bool {
    opts.device == Device::Cpu && opts.precision == Precision::F32
}

/// Why `head` cannot read `backbone`'s features, in words.
fn check_fit(backbone: &dyn Backbone, head: &DenseHead) -> std::result::Result<(), String> {
    let spec = head.spec();
    let layers = spec.backbone.layers.clone();
    head.check_backbone(backbone).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.strip_prefix("invalid input: ").unwrap_or(&msg).to_string();
        format!(
            "{msg} (the head reads layers {layers:?} of width {:?}; the backbone has {} blocks of \
             width {}, patch {}, {} input bands)",
            spec.decoder.in_channels(),
            backbone.n_blocks(),
            backbone.embed_dim(),
            backbone.patch_size(),
            backbone.in_chans()
        )
    })?;
    let n = spec.normalization.mean.len() as i64;
    if n != backbone.in_chans() {
        return Err(format!(
            "the head normalises {n} bands, the backbone takes {}",
            backbone.in_chans()
        ));
    }
    Ok(())
}

/// Output to the engine's convention: f32 on the CPU, contiguous.
fn to_host(t: Tensor) -> Tensor {
    t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous()
}

impl TileModel for HeadModel {
    fn in_channels(&self) -> usize {
        self.backbone.in_chans() as usize
    }
    fn out_channels(&self) -> usize {
        self.head.out_channels() as usize
    }
    fn stride(&self) -> usize {
        1
    }
    fn patch_size(&self) -> usize {
        self.backbone.patch_size() as usize
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.head.run(self.backbone.as_ref(), x, OutputSize::Crop)?;
        Ok(match (self.spec().task, out.height) {
            (Task::CanopyHeight, Some(h)) => to_host(h),
            _ => to_host(tch::no_grad(|| out.logits.softmax(1, Kind::Float))),
        })
    }
}

/// A backbone alone: normalised patch features `(b, D, t / p, t / p)` of one block.
#[derive(Debug)]
pub struct EmbedModel {
    backbone: Box<dyn Backbone>,
    layer: usize,
    norm: bool,
}

impl EmbedModel {
    /// Features of block `layer` (default: the last), through the final norm when `norm`.
    ///
    /// # Errors
    /// A layer index beyond the backbone's blocks.
    pub fn new(backbone: Box<dyn Backbone>, layer: Option<usize>, norm: bool) -> Result<Self> {
        let n = backbone.n_blocks();
        let layer = layer.unwrap_or(n - 1);
        if layer >= n {
            return Err(Error::Config(format!(
                "--layer {layer}: the backbone has {n} blocks (0..{})",
                n - 1
            )));
        }
        Ok(EmbedModel { backbone, layer, norm })
    }

    /// The backbone.
    pub fn backbone(&self) -> &dyn Backbone {
        self.backbone.as_ref()
    }

    /// The block whose features are returned.
    pub fn layer(&self) -> usize {
        self.layer
    }
}

impl TileModel for EmbedModel {
    fn in_channels(&self) -> usize {
        self.backbone.in_chans() as usize
    }
    fn out_channels(&self) -> usize {
        self.backbone.embed_dim() as usize
    }
    fn stride(&self) -> usize {
        self.backbone.patch_size() as usize
    }
    fn patch_size(&self) -> usize {
        self.backbone.patch_size() as usize
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let bb = self.backbone.as_ref();
        let mut f = tch::no_grad(|| {
            let x = x.to_device(bb.device()).to_kind(bb.kind());
            bb.intermediate_layers(&x, &[self.layer], self.norm, true)
        })?;
        let f = f.pop().ok_or_else(|| Error::Pipeline("the backbone returned no layer".into()))?;
        Ok(to_host(f.patch))
    }
}
