//! The networks of a run and one forward-backward pass, after `SSLMetaArch`
//! (`dinov3/train/ssl_meta_arch.py`, facebookresearch/dinov3 at 6876159).
//!
//! * [`Network`]: a backbone with its DINO and iBOT heads, each in its own `VarStore`; variable
//!   names are `backbone.<official key>`, `dino_head.<key>`, `ibot_head.<key>`;
//! * [`SslModel`]: the student; the teacher (the EMA of the student, or in distillation a frozen
//!   teacher, possibly of another architecture); the student EMA of distillation
//!   (`model_ema`); and the Gram teacher (a backbone, refreshed from the EMA teacher). Teachers
//!   always run in evaluation mode (no drop path, no RoPE jitter) and without gradients;
//! * [`SslModel::forward_backward`]: teacher targets (Sinkhorn-Knopp on the DINO head of the
//!   class tokens and the iBOT head of the student-masked patch tokens), the student forward of
//!   the global (masked) and local crops as one list, the Gram targets (Gram teacher on the Gram
//!   crops, bicubically resized to the student grid, or the EMA teacher's own patches), the
//!   weighted objective and `backward`.
//!
//! Mixed precision (`compute_precision.param_dtype = "bf16"` on CUDA): the backbones' matrix
//! weights are held in bf16 for compute ([`geodino_dinov3::Dinov3Backbone::set_precision`]),
//! while the optimiser and the EMA keep f32 master copies ([`MasterWeights`]) that are what the
//! checkpoints store, as FSDP's `param_dtype=bf16, reduce_dtype=fp32` does in the reference.

use std::collections::BTreeMap;
use std::path::Path;

use geodino_dinov3::{Dinov3Backbone, ViTConfig};
use geodino_nn::{LoadPolicy, Precision};
use geodino_ssl::loss::{PatchGrid, downsample_patch_features};
use geodino_ssl::{
    DinoHead, DinoHeadConfig, GramInputs, LossBreakdown, SslLossInputs, SslObjective, StepWeights,
};
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor, nn};

use crate::batch::Batch;
use crate::config::{GramTokens, PretrainConfig};
use crate::error::{Error, Result};
use crate::param_groups::SubModule;

/// A DINO or iBOT head in its own variable store.
#[derive(Debug)]
pub struct Head {
    vs: nn::VarStore,
    head: DinoHead,
}

impl Head {
    /// A head with the reference initialisation (libtorch's generator) on `device`.
    ///
    /// # Errors
    /// An invalid head configuration.
    pub fn new(cfg: &DinoHeadConfig, device: Device) -> Result<Head> {
        let vs = nn::VarStore::new(device);
        let head = DinoHead::new(&vs.root(), cfg)?;
        Ok(Head { vs, head })
    }

    /// The head.
    pub fn head(&self) -> &DinoHead {
        &self.head
    }

    /// The variables.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}

/// A backbone and its two heads.
#[derive(Debug)]
pub struct Network {
    /// The backbone.
    pub backbone: Dinov3Backbone,
    /// The DINO head (class tokens).
    pub dino_head: Head,
    /// The iBOT head (masked patch tokens).
    pub ibot_head: Head,
}

/// The sub-module prefixes of a [`Network`]'s variable names.
pub const MODULES: [(SubModule, &str); 3] = [
    (SubModule::Backbone, "backbone."),
    (SubModule::DinoHead, "dino_head."),
    (SubModule::IbotHead, "ibot_head."),
];

impl Network {
    /// A network with the reference initialisation, drawn from libtorch's generator.
    ///
    /// # Errors
    /// Invalid configurations.
    pub fn new(
        vit: &ViTConfig,
        dino: &DinoHeadConfig,
        ibot: &DinoHeadConfig,
        device: Device,
    ) -> Result<Network> {
        Ok(Network {
            backbone: Dinov3Backbone::new(vit, device)?,
            dino_head: Head::new(dino, device)?,
            ibot_head: Head::new(ibot, device)?,
        })
    }

    fn stores(&self) -> [(&'static str, &nn::VarStore); 3] {
        [
            ("backbone.", self.backbone.var_store()),
            ("dino_head.", self.dino_head.var_store()),
            ("ibot_head.", self.ibot_head.var_store()),
        ]
    }

    /// Every variable (parameters and buffers) by its prefixed name, sorted.
    pub fn variables(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (p, vs) in self.stores() {
            for (k, v) in vs.variables() {
                out.insert(format!("{p}{k}"), v);
            }
        }
        out
    }

    /// The trainable parameters by prefixed name, sorted.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        self.variables().into_iter().filter(|(_, v)| v.requires_grad()).collect()
    }

    /// Stop gradients for every variable (teachers).
    pub fn freeze(&mut self) {
        self.backbone.var_store_mut().freeze();
        self.dino_head.vs.freeze();
        self.ibot_head.vs.freeze();
    }

    /// Copy every variable of `src` (same architecture) into this network.
    ///
    /// # Errors
    /// Missing or mis-shaped variables.
    pub fn copy_from(&self, src: &Network) -> Result<()> {
        copy_variables(&self.variables(), &src.variables(), &[])
    }

    /// Load `backbone.*`, `dino_head.*`, `ibot_head.*` tensors of `sd` (strict per sub-module:
    /// every variable of a loaded sub-module must be present; `heads` false loads the backbone
    /// only).
    ///
    /// # Errors
    /// Missing, unexpected or mis-shaped keys, named.
    pub fn load(&self, sd: &StateDict, heads: bool) -> Result<()> {
        load_backbone(&self.backbone, sd, "backbone.")?;
        if heads {
            for (prefix, h) in [("dino_head.", &self.dino_head), ("ibot_head.", &self.ibot_head)] {
                let sub = sub_dict(sd, prefix);
                geodino_nn::load_state_dict(&h.vs, sub, &LoadPolicy::default())?;
            }
        }
        Ok(())
    }
}

/// The tensors of `sd` under `prefix`, with the prefix removed.
pub fn sub_dict(sd: &StateDict, prefix: &str) -> StateDict {
    let mut out = StateDict::new();
    out.set_source(format!("{} [{prefix}*]", sd.source()));
    for (k, t) in sd.iter() {
        if let Some(rest) = k.strip_prefix(prefix) {
            out.insert(rest.to_string(), t.clone());
        }
    }
    out
}

/// Load an official-layout backbone (keys under `prefix` in `sd`) strictly into `bb`
/// (`bias_mask` may be absent; `local_cls_norm` is dropped when the model has none).
///
/// # Errors
/// Missing, unexpected or mis-shaped keys, named.
pub fn load_backbone(bb: &Dinov3Backbone, sd: &StateDict, prefix: &str) -> Result<()> {
    let sub = if prefix.is_empty() { sd.clone() } else { sub_dict(sd, prefix) };
    let cfg = bb.config();
    let policy = LoadPolicy {
        optional: (0..cfg.depth).map(|i| format!("blocks.{i}.attn.qkv.bias_mask")).collect(),
        ignorable: vec!["local_cls_norm.weight".into(), "local_cls_norm.bias".into()],
    };
    geodino_nn::load_state_dict(bb.var_store(), sub, &policy)?;
    Ok(())
}

/// `dst[k] ← src[k]` for every key of `dst` not starting with a `skip` prefix.
fn copy_variables(
    dst: &BTreeMap<String, Tensor>,
    src: &BTreeMap<String, Tensor>,
    skip: &[&str],
) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for (k, d) in dst {
            if skip.iter().any(|p| k.starts_with(p)) {
                continue;
            }
            let s =
                src.get(k).ok_or_else(|| Error::Model(format!("{k} is missing in the source")))?;
            if s.size() != d.size() {
                return Err(Error::Model(format!("{k}: {:?} vs {:?}", d.size(), s.size())));
            }
            d.shallow_clone().f_copy_(s)?;
        }
        Ok(())
    })
}

/// f32 master copies of parameters held in a lower precision for compute. `None` entries are
/// f32 parameters that are their own master.
#[derive(Debug, Default)]
pub struct MasterWeights {
    masters: BTreeMap<String, Tensor>,
}

impl MasterWeights {
    /// Masters for every non-f32 floating variable of `vars`.
    pub fn new(vars: &BTreeMap<String, Tensor>) -> MasterWeights {
        let masters = tch::no_grad(|| {
            vars.iter()
                .filter(|(_, v)| v.is_floating_point() && v.kind() != Kind::Float)
                .map(|(k, v)| (k.clone(), v.to_kind(Kind::Float).detach()))
                .collect()
        });
        MasterWeights { masters }
    }

    /// The f32 value of variable `name` (its master, or the variable itself).
    pub fn value(&self, name: &str, var: &Tensor) -> Tensor {
        self.masters.get(name).map_or_else(|| var.shallow_clone(), Tensor::shallow_clone)
    }

    /// True when there are no masters (everything f32).
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty()
    }
}

/// A teacher kept as the exponential moving average of the student's f32 values:
/// `θ_t ← m·θ_t + (1−m)·θ_s` over every student parameter, by name (`SSLMetaArch.update_ema`).
#[derive(Debug)]
pub struct Ema {
    /// (name, teacher variable, teacher f32 master if the variable is not f32).
    targets: Vec<(String, Tensor, Option<Tensor>)>,
}

impl Ema {
    /// Pair the teacher's variables with the student's parameters by name.
    ///
    /// # Errors
    /// A student parameter missing from the teacher, or a shape mismatch.
    pub fn new(teacher: &Network, student: &Network) -> Result<Ema> {
        let tv = teacher.variables();
        let mut targets = Vec::new();
        for (name, s) in student.parameters() {
            let t = tv
                .get(&name)
                .ok_or_else(|| Error::Model(format!("EMA: {name} is missing in the teacher")))?;
            if t.size() != s.size() {
                return Err(Error::Model(format!("EMA: {name} {:?} vs {:?}", t.size(), s.size())));
            }
            let master = (t.kind() != Kind::Float).then(|| tch::no_grad(|| t.to_kind(Kind::Float)));
            targets.push((name, t.shallow_clone(), master));
        }
        Ok(Ema { targets })
    }

    /// One update with momentum `m` towards the student values `source(name)` (f32).
    ///
    /// # Errors
    /// libtorch errors; a student value missing.
    pub fn update(&self, m: f64, source: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (name, var, master) in &self.targets {
                let s = source(name)
                    .ok_or_else(|| Error::Model(format!("EMA: no student value for {name}")))?;
                let mut dst = master.as_ref().unwrap_or(var).shallow_clone();
                let _ = dst.f_mul_scalar_(m)?;
                let _ = dst.f_add_(&s.f_mul_scalar(1.0 - m)?)?;
                if let Some(ms) = master {
                    var.shallow_clone().f_copy_(ms)?;
                }
            }
            Ok(())
        })
    }

    /// The f32 value of every target (masters where there are any).
    pub fn values(&self) -> BTreeMap<String, Tensor> {
        self.targets
            .iter()
            .map(|(n, v, m)| (n.clone(), m.as_ref().unwrap_or(v).shallow_clone()))
            .collect()
    }

    /// Overwrite the f32 values (masters and variables) from `vals` (checkpoint restore).
    ///
    /// # Errors
    /// Missing or mis-shaped values.
    pub fn set_values(&self, vals: &BTreeMap<String, Tensor>) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (name, var, master) in &self.targets {
                let v = vals
                    .get(name)
                    .ok_or_else(|| Error::Checkpoint(format!("{name} is missing")))?;
                if v.size() != var.size() {
                    return Err(Error::Checkpoint(format!(
                        "{name}: saved {:?}, model {:?}",
                        v.size(),
                        var.size()
                    )));
                }
                if let Some(m) = master {
                    m.shallow_clone().f_copy_(v)?;
                }
                var.shallow_clone().f_copy_(v)?;
            }
            Ok(())
        })
    }
}

/// The device and precision of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Where the networks live.
    pub device: Device,
    /// Compute precision of the backbones' matrix weights.
    pub precision: Precision,
}

impl Placement {
    /// From `train.device` and `compute_precision.param_dtype`: bf16/fp16 apply on CUDA only
    /// (CPU computes in f32).
    ///
    /// # Errors
    /// An unknown or unavailable device.
    pub fn from_config(cfg: &PretrainConfig) -> Result<Placement> {
        let device = geodino_nn::parse_device(&cfg.train.device)?;
        let precision = match (device, cfg.compute_precision.param_dtype.as_str()) {
            (Device::Cuda(_), "bf16") => Precision::Bf16,
            (Device::Cuda(_), "fp16") => Precision::F16,
            _ => Precision::F32,
        };
        Ok(Placement { device, precision })
    }
}

/// What one forward-backward produced.
#[derive(Debug)]
pub struct StepLosses {
    /// Every loss term (the total carried the gradient).
    pub losses: LossBreakdown,
    /// Masked patch tokens in the batch.
    pub n_masked: usize,
    /// Extra Gram statistics (`gram.compute_stats`): loss over masked and unmasked tokens.
    pub gram_stats: Option<(f64, f64)>,
}

/// All networks of a run.
#[derive(Debug)]
pub struct SslModel {
    cfg: PretrainConfig,
    placement: Placement,
    /// The trained network.
    pub student: Network,
    /// The EMA teacher, or the frozen teacher of distillation.
    pub teacher: Network,
    /// Distillation only: the student EMA (`model_ema`).
    pub model_ema: Option<Network>,
    /// The Gram teacher (a backbone), when the Gram loss uses one.
    pub gram_teacher: Option<Dinov3Backbone>,
    /// Whether the Gram teacher holds weights yet.
    pub gram_initialized: bool,
    ema: Ema,
    objective: SslObjective,
}

impl SslModel {
    /// Build every network on `placement` with the reference initialisation drawn from
    /// libtorch's generator (seed it first), load the configured starting points
    /// (`student.pretrained_weights`, `student.resume_from_teacher_chkpt`, `gram.ckpt`,
    /// `distillation.checkpoint_path` / `heads_path`), and copy the student into the teacher(s).
    ///
    /// # Errors
    /// Invalid configurations, unreadable or mismatching weight files (keys named).
    pub fn new(cfg: &PretrainConfig, placement: Placement) -> Result<SslModel> {
        let vit = cfg.student.vit_config()?;
        let d = vit.embed_dim as i64;
        let dev = placement.device;
        let student = Network::new(&vit, &cfg.dino.head(d), &cfg.ibot.head(d), dev)?;
        if !cfg.student.pretrained_weights.is_empty() {
            let sd = crate::checkpoint::read_backbone(Path::new(&cfg.student.pretrained_weights))?;
            load_backbone(&student.backbone, &sd, "")?;
        }
        if !cfg.student.resume_from_teacher_chkpt.is_empty() {
            let p = Path::new(&cfg.student.resume_from_teacher_chkpt);
            let sd = crate::checkpoint::read_teacher_network(p)?;
            student.load(&sd, true)?;
        }

        let (teacher, model_ema) = if cfg.distillation.enabled {
            let t = crate::checkpoint::build_distillation_teacher(cfg, dev)?;
            let mut ema = Network::new(&vit, &cfg.dino.head(d), &cfg.ibot.head(d), dev)?;
            ema.copy_from(&student)?;
            ema.freeze();
            (t, Some(ema))
        } else {
            let mut t = Network::new(&vit, &cfg.dino.head(d), &cfg.ibot.head(d), dev)?;
            t.copy_from(&student)?;
            t.freeze();
            (t, None)
        };

        let mut gram_teacher = None;
        let mut gram_initialized = false;
        if cfg.gram.has_gram_teacher() {
            let mut g = Dinov3Backbone::new(&vit, dev)?;
            if let Some(p) = &cfg.gram.ckpt {
                let sd = crate::checkpoint::read_backbone(Path::new(p))?;
                load_backbone(&g, &sd, "")?;
                gram_initialized = true;
            }
            g.var_store_mut().freeze();
            gram_teacher = Some(g);
        }

        let mut model = SslModel {
            cfg: cfg.clone(),
            placement,
            ema: Ema::new(model_ema.as_ref().unwrap_or(&teacher), &student)?,
            student,
            teacher,
            model_ema,
            gram_teacher,
            gram_initialized,
            objective: SslObjective::new(&cfg.loss_config())?,
        };
        if placement.precision != Precision::F32 {
            model.set_compute_precision(placement.precision)?;
        }
        Ok(model)
    }

    fn set_compute_precision(&mut self, p: Precision) -> Result<()> {
        self.student.backbone.set_precision(p);
        self.teacher.backbone.set_precision(p);
        if let Some(e) = &mut self.model_ema {
            e.backbone.set_precision(p);
        }
        if let Some(g) = &mut self.gram_teacher {
            g.set_precision(p);
        }
        // The EMA keeps f32 masters of the (now lower-precision) teacher variables.
        self.ema = Ema::new(self.model_ema.as_ref().unwrap_or(&self.teacher), &self.student)?;
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &PretrainConfig {
        &self.cfg
    }

    /// Device and precision.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The network whose backbone is the run's result (exported, evaluated): the EMA teacher,
    /// or in distillation the student EMA.
    pub fn result_network(&self) -> &Network {
        self.model_ema.as_ref().unwrap_or(&self.teacher)
    }

    /// The EMA target's f32 values by name.
    pub fn ema_values(&self) -> BTreeMap<String, Tensor> {
        self.ema.values()
    }

    /// Restore the EMA target's f32 values.
    ///
    /// # Errors
    /// Missing or mis-shaped values.
    pub fn set_ema_values(&self, vals: &BTreeMap<String, Tensor>) -> Result<()> {
        self.ema.set_values(vals)
    }

    /// `θ_ema ← m·θ_ema + (1−m)·θ_student` with the student's f32 values `source`.
    ///
    /// # Errors
    /// libtorch errors.
    pub fn update_ema(&self, m: f64, source: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        self.ema.update(m, source)
    }

    /// Copy the EMA teacher's backbone into the Gram teacher (`gram_load_ema_teacher`,
    /// `update_gram(m=0)`). No-op without a Gram teacher.
    ///
    /// # Errors
    /// libtorch errors.
    pub fn refresh_gram_teacher(&mut self) -> Result<()> {
        let Some(g) = &self.gram_teacher else { return Ok(()) };
        let ema = self.ema.values();
        let src: BTreeMap<String, Tensor> = self
            .teacher
            .variables()
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix("backbone.")?.to_string();
                let val = ema.get(&k).map_or(v, Tensor::shallow_clone);
                Some((rest, val))
            })
            .collect();
        copy_variables(&g.var_store().variables().into_iter().collect(), &src, &[])?;
        self.gram_initialized = true;
        Ok(())
    }

    fn to_input(&self, a: &ndarray::Array4<f32>) -> Result<Tensor> {
        let shape: Vec<i64> = a.shape().iter().map(|&s| s as i64).collect();
        let t = match a.as_slice() {
            Some(s) => Tensor::f_from_slice(s)?,
            None => Tensor::f_from_slice(&a.iter().copied().collect::<Vec<f32>>())?,
        };
        Ok(t.f_reshape(&shape)?.f_to_device(self.placement.device)?)
    }

    /// One forward-backward on `batch` with teacher temperature `teacher_temp` and the scheduled
    /// loss weights; gradients accumulate into the student's parameters.
    ///
    /// # Errors
    /// Shape errors, a Gram loss with positive weight before the Gram teacher is initialised,
    /// libtorch errors.
    pub fn forward_backward(
        &self,
        batch: &Batch,
        teacher_temp: f64,
        weights: StepWeights,
    ) -> Result<StepLosses> {
        let dev = self.placement.device;
        let b = batch.crops.batch_size as i64;
        let n_global = 2i64;
        let n_local = self.cfg.crops.local_crops_number as i64;
        let global = self.to_input(&batch.crops.global_crops)?;
        let local = self.to_input(&batch.crops.local_crops)?;
        let m = &batch.masks;
        let n_tokens = m.n_tokens as i64;
        let masks = Tensor::f_from_slice(&m.masks)?
            .f_reshape([m.n_images as i64, n_tokens])?
            .f_to_device(dev)?;
        let mask_idx = Tensor::f_from_slice(&m.mask_indices)?.f_to_device(dev)?;
        let masks_weight = Tensor::f_from_slice(&m.masks_weight)?.f_to_device(dev)?;
        let n_masked = m.n_masked_patches();
        if n_masked == 0 {
            return Err(Error::Data(
                "the batch has no masked patch (raise the batch size or the global crop size)"
                    .into(),
            ));
        }

        // Teacher (eval mode, no gradient).
        let (targets, teacher_patches) = tch::no_grad(|| -> Result<_> {
            let t = &self.teacher;
            let f = t.backbone.forward_features(&global, None)?;
            let d = f.x_norm_patchtokens.size()[2];
            let buffer = f.x_norm_patchtokens.f_reshape([-1, d])?.f_index_select(0, &mask_idx)?;
            let masked_logits = t.ibot_head.head.forward(&buffer)?.f_to_kind(Kind::Float)?;
            let cls_logits =
                t.dino_head.head.forward(&f.x_norm_clstoken)?.f_to_kind(Kind::Float)?;
            let targets = self.objective.teacher_targets(
                &cls_logits,
                n_global,
                &masked_logits,
                teacher_temp,
            )?;
            Ok((targets, f.x_norm_patchtokens))
        })?;

        // Student: global (masked unless distilling) and local crops in one list.
        let s = &self.student;
        let student_masks =
            if self.cfg.distillation.enabled { None } else { Some(masks.shallow_clone()) };
        let mut outs = s.backbone.model().forward_features_list(
            &[global.shallow_clone(), local],
            &[student_masks, None],
            true,
        )?;
        let l_out = outs.pop().expect("two outputs");
        let g_out = outs.pop().expect("two outputs");
        let d = g_out.x_norm_clstoken.size()[1];
        let masked_pre =
            g_out.x_norm_patchtokens.f_reshape([-1, d])?.f_index_select(0, &mask_idx)?;
        let s_masked_logits = s.ibot_head.head.forward(&masked_pre)?.f_to_kind(Kind::Float)?;
        let cls_all = Tensor::f_cat(&[&g_out.x_norm_clstoken, &l_out.x_norm_clstoken], 0)?;
        let cls_logits = s.dino_head.head.forward(&cls_all)?.f_to_kind(Kind::Float)?;
        let k = cls_logits.size()[1];
        let s_global_logits =
            cls_logits.f_narrow(0, 0, n_global * b)?.f_reshape([n_global, b, k])?;
        let s_local_logits =
            cls_logits.f_narrow(0, n_global * b, n_local * b)?.f_reshape([n_local, b, k])?;
        let g_cls = g_out.x_norm_clstoken.f_to_kind(Kind::Float)?.f_reshape([n_global, b, d])?;

        // Gram targets.
        let gram_on = self.cfg.gram.use_loss
            && (self.cfg.gram.ema_teacher || self.gram_initialized || weights.w_gram != 0.0);
        let mut gram_pair: Option<(Tensor, Tensor)> = None;
        let mut gram_stats = None;
        if gram_on {
            let teacher_p = if self.cfg.gram.ema_teacher {
                teacher_patches.shallow_clone()
            } else {
                if !self.gram_initialized {
                    return Err(Error::Config(format!(
                        "the Gram weight is {} at iteration {} but the Gram teacher is not initialised \
                         (set gram.ckpt or a gram.it_load_ema_teacher before the weight rises)",
                        weights.w_gram, batch.step
                    )));
                }
                let g = self.gram_teacher.as_ref().expect("Gram teacher present");
                let crops = batch.crops.gram_teacher_crops.as_ref().ok_or_else(|| {
                    Error::Config("the Gram teacher needs crops.gram_teacher_crops_size".into())
                })?;
                let x = self.to_input(crops)?;
                tch::no_grad(|| -> Result<Tensor> {
                    let f = g.forward_features(&x, None)?;
                    let grid_s = batch.grid as i64;
                    Ok(downsample_patch_features(
                        &f.x_norm_patchtokens,
                        PatchGrid { h: f.h, w: f.w },
                        PatchGrid { h: grid_s, w: grid_s },
                        self.cfg.gram.global_teacher_resize_antialias,
                    )?)
                })?
            };
            let student_p = g_out.x_norm_patchtokens.shallow_clone();
            if self.cfg.gram.compute_stats {
                let gl = geodino_ssl::GramLoss::new(&geodino_ssl::GramLossConfig {
                    img_level: false,
                    ..self.cfg.gram.loss_config()
                })?;
                let mflat = masks.f_reshape([-1])?;
                let sd = student_p.detach().f_reshape([-1, d])?;
                let td = teacher_p.f_reshape([-1, d])?;
                let sel = |t: &Tensor, m: &Tensor| t.f_index(&[Some(m)]);
                let notm = mflat.f_logical_not()?;
                let a = gl.forward(&sel(&sd, &mflat)?, &sel(&td, &mflat)?)?.f_double_value(&[])?;
                let u = gl.forward(&sel(&sd, &notm)?, &sel(&td, &notm)?)?.f_double_value(&[])?;
                gram_stats = Some((a, u));
            }
            let (sp, tp) = match self.cfg.gram.tokens_used {
                GramTokens::All => (student_p, teacher_p),
                GramTokens::Masked | GramTokens::Unmasked => {
                    let mut mflat = masks.f_reshape([-1])?;
                    if self.cfg.gram.tokens_used == GramTokens::Unmasked {
                        mflat = mflat.f_logical_not()?;
                    }
                    (
                        student_p.f_reshape([-1, d])?.f_index(&[Some(&mflat)])?,
                        teacher_p.f_reshape([-1, d])?.f_index(&[Some(&mflat)])?,
                    )
                }
            };
            gram_pair = Some((sp, tp));
        }

        let inputs = SslLossInputs {
            student_global_logits: &s_global_logits,
            student_local_logits: &s_local_logits,
            teacher_global_probs: &targets.cls_probs,
            student_masked_patch_logits: &s_masked_logits,
            teacher_masked_patch_probs: &targets.masked_patch_probs,
            masks: &masks,
            masks_weight: Some(&masks_weight),
            student_global_cls: &g_cls,
            gram: gram_pair
                .as_ref()
                .map(|(s, t)| GramInputs { student_patches: s, teacher_patches: t }),
        };
        let losses = self.objective.forward(&inputs, weights)?;
        losses.total.f_backward()?;
        Ok(StepLosses { losses, n_masked, gram_stats })
    }
}
