//! [`Dinov3Backbone`]: a [`DinoVisionTransformer`] with its parameters, loading, precision and
//! device handling, implementing [`geodino_nn::Backbone`].

use std::path::Path;

use geodino_nn::{Backbone, LayerFeatures, LoadReport, Precision};
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor, nn};

use crate::checkpoint::{
    CheckpointOptions, infer_config, inflate_patch_embed, load_policy, read_official,
};
use crate::{DinoVisionTransformer, Features, Result, ViTConfig};

/// A DINOv3 ViT and its variables.
#[derive(Debug)]
pub struct Dinov3Backbone {
    vs: nn::VarStore,
    model: DinoVisionTransformer,
    precision: Precision,
    report: LoadReport,
}

/// The variables that [`Dinov3Backbone::set_precision`] stores in reduced precision.
fn is_matmul_param(name: &str) -> bool {
    name.starts_with("patch_embed.proj.")
        || name.contains(".attn.qkv.")
        || name.contains(".attn.proj.")
        || name.contains(".mlp.")
}

impl Dinov3Backbone {
    /// A model with the reference random initialisation (`init_weights`), in f32 on `device`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(cfg: &ViTConfig, device: Device) -> Result<Dinov3Backbone> {
        let vs = nn::VarStore::new(device);
        let model = DinoVisionTransformer::new(vs.root(), cfg)?;
        model.init_weights();
        Ok(Dinov3Backbone { vs, model, precision: Precision::F32, report: LoadReport::default() })
    }

    /// Build from an official-layout state dict, strictly: every missing, unexpected or
    /// mis-shaped key is reported by name (`bias_mask` may be absent; `local_cls_norm` is
    /// ignored when `cfg` has no untied local norm).
    ///
    /// # Errors
    /// [`geodino_nn::Error::StateDictMismatch`] (inside [`Error::Nn`]), an invalid config.
    pub fn from_state_dict(
        sd: StateDict,
        cfg: &ViTConfig,
        device: Device,
    ) -> Result<Dinov3Backbone> {
        let vs = nn::VarStore::new(device);
        let model = DinoVisionTransformer::new(vs.root(), cfg)?;
        let report = geodino_nn::load_state_dict(&vs, sd, &load_policy(cfg))?;
        Ok(Dinov3Backbone { vs, model, precision: Precision::F32, report })
    }

    /// Load a checkpoint file: official `.pth` (flat or training checkpoint), our or official
    /// safetensors, or Hugging Face safetensors. The architecture is `opts.config`, else the one
    /// stored by geodino, else inferred from the tensors; then the precision and device of
    /// `opts` are applied.
    ///
    /// # Errors
    /// Unreadable or non-DINOv3 files, inconsistent configs, strict-loading failures (every
    /// bad key named), unavailable devices.
    pub fn from_checkpoint(path: &Path, opts: &CheckpointOptions) -> Result<Dinov3Backbone> {
        let mut off = read_official(path, opts)?;
        if let Some(n) = opts.in_chans {
            inflate_patch_embed(&mut off.state_dict, n, opts.inflate_rescale)?;
        }
        let mut cfg = match (&opts.config, off.stored_config) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => c,
            (None, None) => infer_config(&off.state_dict)?,
        };
        if let Some(n) = opts.in_chans {
            cfg.in_chans = n;
        }
        let mut bb = Dinov3Backbone::from_state_dict(off.state_dict, &cfg, Device::Cpu)?;
        bb.set_precision(opts.precision);
        if opts.device != Device::Cpu {
            bb.to_device(opts.device);
        }
        Ok(bb)
    }

    /// The model.
    pub fn model(&self) -> &DinoVisionTransformer {
        &self.model
    }

    /// The model, mutably (e.g. to set the drop-path rate).
    pub fn model_mut(&mut self) -> &mut DinoVisionTransformer {
        &mut self.model
    }

    /// The configuration.
    pub fn config(&self) -> &ViTConfig {
        self.model.config()
    }

    /// The variables (for optimisers, EMA teachers, saving).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The variables, mutably.
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// What loading did (keys kept at their defaults, keys ignored).
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// The current precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Set the compute precision the way `torch.autocast` does: the weights of the matrix
    /// products (patch embedding, `qkv`, attention projection, FFN) are stored in `p` and run in
    /// it, as does attention; tokens, norms, LayerScale and the residual stream stay f32, and
    /// RoPE is computed in f32. Inputs and outputs are f32 at every precision.
    pub fn set_precision(&mut self, p: Precision) {
        let kind = p.kind();
        tch::no_grad(|| {
            for (name, v) in self.vs.variables() {
                if !is_matmul_param(&name) || !v.is_floating_point() || v.kind() == kind {
                    continue;
                }
                let mut v = v.shallow_clone();
                v.set_data(&v.to_kind(kind));
            }
        });
        self.precision = p;
    }

    /// Move every variable to `device`.
    pub fn to_device(&mut self, device: Device) {
        self.vs.set_device(device);
    }

    /// All variables as an official-layout state dict (current precision).
    ///
    /// # Errors
    /// libtorch errors.
    pub fn state_dict(&self) -> Result<StateDict> {
        Ok(geodino_nn::state_dict_of(&self.vs)?)
    }

    /// Images as the backbone takes them: f32 on its device.
    pub fn prepare_input(&self, x: &Tensor) -> Tensor {
        x.to_device(self.vs.device()).to_kind(Kind::Float)
    }

    /// [`DinoVisionTransformer::forward_features`] in evaluation mode.
    ///
    /// # Errors
    /// Bad input (see there).
    pub fn forward_features(&self, x: &Tensor, masks: Option<&Tensor>) -> Result<Features> {
        self.model.forward_features(x, masks)
    }
}

impl Backbone for Dinov3Backbone {
    fn embed_dim(&self) -> i64 {
        self.config().embed_dim as i64
    }
    fn patch_size(&self) -> i64 {
        self.config().patch_size as i64
    }
    fn n_blocks(&self) -> usize {
        self.config().depth
    }
    fn in_chans(&self) -> i64 {
        self.config().in_chans as i64
    }
    fn device(&self) -> Device {
        self.vs.device()
    }
    fn kind(&self) -> Kind {
        // Activations (inputs and outputs) are f32 at every precision; see `set_precision`.
        Kind::Float
    }
    fn intermediate_layers(
        &self,
        x: &Tensor,
        layers: &[usize],
        norm: bool,
        reshape: bool,
    ) -> geodino_nn::Result<Vec<LayerFeatures>> {
        self.model.get_intermediate_layers(x, layers, norm, reshape).map_err(Into::into)
    }
}

impl From<Dinov3Backbone> for Box<dyn Backbone> {
    fn from(b: Dinov3Backbone) -> Self {
        Box::new(b)
    }
}
