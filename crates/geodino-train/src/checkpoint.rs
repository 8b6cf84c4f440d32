//! Training checkpoints: one safetensors file per save, written atomically (temporary file in the
//! destination folder, then rename), holding everything an exact resume needs, and the export of
//! the result backbone in the official key layout.
//!
//! File `RUN/checkpoints/ckpt-NNNNNNN.safetensors` (`NNNNNNN` = iterations completed):
//!
//! | tensors | content |
//! |---|---|
//! | `student.backbone.*`, `student.dino_head.*`, `student.ibot_head.*` | student (f32 values) |
//! | `teacher.*` | EMA teacher (SSL runs) |
//! | `model_ema.*` | student EMA (distillation; the frozen teacher is reloaded from its file) |
//! | `gram_teacher.*` | Gram-teacher backbone (official keys) |
//! | `optim.exp_avg.<param>`, `optim.exp_avg_sq.<param>` | AdamW state |
//!
//! Metadata: `format` = `geodino-pretrain-checkpoint`, `iteration`, `optim_step`,
//! `gram_updates`, `gram_initialized`, `seed`, `teacher_prefix` (`teacher` or `model_ema`: the
//! network export writes), `vit_config` (JSON) and `config` (the resolved TOML). Randomness
//! needs no saved generator state: every draw of iteration `s` derives from `(seed, s)`
//! ([`crate::seed`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use geodino_dinov3::{Dinov3Backbone, ViTConfig};
use geodino_weights::StateDict;
use tch::{Device, Tensor};

use crate::config::PretrainConfig;
use crate::error::{Error, Result};
use crate::model::{Network, SslModel, load_backbone, sub_dict};
use crate::optim::AdamW;

/// `format` metadata of training checkpoints.
pub const FORMAT: &str = "geodino-pretrain-checkpoint";

/// Counters saved with the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrainCounters {
    /// Iterations completed (the next iteration to run).
    pub iteration: usize,
    /// Gram-teacher refreshes done.
    pub gram_updates: usize,
}

/// The file name of the checkpoint after `iteration` completed iterations.
pub fn file_name(iteration: usize) -> String {
    format!("ckpt-{iteration:07}.safetensors")
}

/// The completed-iteration count of a checkpoint file name, if it is one.
pub fn parse_file_name(name: &str) -> Option<usize> {
    name.strip_prefix("ckpt-")?.strip_suffix(".safetensors")?.parse().ok()
}

/// Checkpoints in `dir`, sorted by iteration.
pub fn list(dir: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<(usize, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            parse_file_name(&n).map(|i| (i, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The latest checkpoint in `dir`.
pub fn latest(dir: &Path) -> Option<(usize, PathBuf)> {
    list(dir).pop()
}

/// Delete all but the newest `max_to_keep` checkpoints, sparing iterations that are multiples of
/// `keep_every`.
///
/// # Errors
/// A checkpoint that cannot be deleted.
pub fn keep_last(dir: &Path, max_to_keep: usize, keep_every: Option<usize>) -> Result<()> {
    let all = list(dir);
    let n = all.len();
    for (i, (it, path)) in all.into_iter().enumerate() {
        if i + max_to_keep >= n || keep_every.is_some_and(|k| k > 0 && it % k == 0) {
            continue;
        }
        std::fs::remove_file(&path).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(())
}

fn put(sd: &mut StateDict, key: String, t: &Tensor) -> Result<()> {
    sd.insert(key, geodino_nn::from_tensor(&t.detach())?);
    Ok(())
}

/// Write a checkpoint of `model`, `optim` and `counters` to `path` atomically.
///
/// # Errors
/// IO errors (naming the file), libtorch errors.
pub fn save(
    path: &Path,
    model: &SslModel,
    optim: &AdamW,
    counters: TrainCounters,
    threads: i32,
) -> Result<()> {
    let cfg = model.config();
    let mut sd = StateDict::new();
    let student_vals = optim.values();
    for (k, v) in model.student.variables() {
        let t = student_vals.get(&k).map_or(v, Tensor::shallow_clone);
        put(&mut sd, format!("student.{k}"), &t)?;
    }
    let ema_vals = model.ema_values();
    let prefix = if model.model_ema.is_some() { "model_ema" } else { "teacher" };
    for (k, v) in model.result_network().variables() {
        let t = ema_vals.get(&k).map_or(v, Tensor::shallow_clone);
        put(&mut sd, format!("{prefix}.{k}"), &t)?;
    }
    if let Some(g) = &model.gram_teacher {
        for (k, v) in g.var_store().variables() {
            put(&mut sd, format!("gram_teacher.{k}"), &v.to_kind(tch::Kind::Float))?;
        }
    }
    let (state, step) = optim.state();
    for (k, v) in state {
        put(&mut sd, format!("optim.{k}"), &v)?;
    }
    let m = &mut sd.metadata;
    m.insert("format".into(), FORMAT.into());
    m.insert("version".into(), "1".into());
    m.insert("iteration".into(), counters.iteration.to_string());
    m.insert("gram_updates".into(), counters.gram_updates.to_string());
    m.insert("gram_initialized".into(), model.gram_initialized.to_string());
    m.insert("optim_step".into(), step.to_string());
    m.insert("seed".into(), cfg.train.seed.to_string());
    m.insert("torch_threads".into(), threads.to_string());
    m.insert("teacher_prefix".into(), prefix.into());
    m.insert(
        "vit_config".into(),
        serde_json::to_string(model.student.backbone.config()).expect("plain struct"),
    );
    m.insert("config".into(), cfg.to_toml());
    m.insert("geodino_version".into(), env!("CARGO_PKG_VERSION").into());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?;
    }
    geodino_weights::write_safetensors(path, &sd)?;
    Ok(())
}

/// A training checkpoint read back.
#[derive(Debug)]
pub struct TrainingCheckpoint {
    /// The file.
    pub path: PathBuf,
    /// All tensors.
    pub tensors: StateDict,
    /// Counters.
    pub counters: TrainCounters,
    /// AdamW steps taken.
    pub optim_step: u64,
    /// Whether the Gram teacher held weights.
    pub gram_initialized: bool,
    /// libtorch threads of the run that wrote it.
    pub torch_threads: Option<i32>,
    /// `teacher` or `model_ema`.
    pub teacher_prefix: String,
    /// The student backbone architecture.
    pub vit_config: ViTConfig,
    /// The resolved configuration of the run.
    pub config: PretrainConfig,
}

fn meta<'a>(sd: &'a StateDict, key: &str, path: &Path) -> Result<&'a str> {
    sd.metadata.get(key).map(String::as_str).ok_or_else(|| {
        Error::Checkpoint(format!("{}: metadata {key:?} is missing", path.display()))
    })
}

/// Whether `path` is a geodino training checkpoint (safetensors with our `format`).
pub fn is_training_checkpoint(path: &Path) -> bool {
    geodino_weights::read_header(path)
        .ok()
        .and_then(|(_, m)| m.get("format").cloned())
        .is_some_and(|f| f == FORMAT)
}

impl TrainingCheckpoint {
    /// Read a checkpoint file.
    ///
    /// # Errors
    /// Unreadable files, files that are not training checkpoints, bad metadata.
    pub fn read(path: &Path) -> Result<TrainingCheckpoint> {
        let tensors = geodino_weights::read_safetensors(path)?;
        let f = meta(&tensors, "format", path).map_err(|_| {
            Error::Checkpoint(format!("{}: not a geodino training checkpoint", path.display()))
        })?;
        if f != FORMAT {
            return Err(Error::Checkpoint(format!(
                "{}: format {f:?} is not a geodino training checkpoint",
                path.display()
            )));
        }
        let num = |k: &str| -> Result<u64> {
            meta(&tensors, k, path)?
                .parse::<u64>()
                .map_err(|e| Error::Checkpoint(format!("{}: metadata {k}: {e}", path.display())))
        };
        let counters = TrainCounters {
            iteration: num("iteration")? as usize,
            gram_updates: num("gram_updates")? as usize,
        };
        let optim_step = num("optim_step")?;
        let gram_initialized = meta(&tensors, "gram_initialized", path)? == "true";
        let torch_threads = tensors.metadata.get("torch_threads").and_then(|s| s.parse().ok());
        let teacher_prefix = meta(&tensors, "teacher_prefix", path)?.to_string();
        let vit_config = ViTConfig::from_json(meta(&tensors, "vit_config", path)?)
            .map_err(|e| Error::Checkpoint(format!("{}: vit_config: {e}", path.display())))?;
        let config = PretrainConfig::from_toml(meta(&tensors, "config", path)?)
            .map_err(|e| Error::Checkpoint(format!("{}: stored config: {e}", path.display())))?;
        Ok(TrainingCheckpoint {
            path: path.to_path_buf(),
            tensors,
            counters,
            optim_step,
            gram_initialized,
            torch_threads,
            teacher_prefix,
            vit_config,
            config,
        })
    }

    fn tensors_under(&self, prefix: &str) -> Result<BTreeMap<String, Tensor>> {
        self.tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(prefix).map(|r| (r.to_string(), t)))
            .map(|(k, t)| Ok((k, geodino_nn::to_tensor(t)?)))
            .collect()
    }

    /// The result network (`teacher.*` or `model_ema.*`) as `backbone.*` / `dino_head.*` /
    /// `ibot_head.*` tensors.
    pub fn teacher_network(&self) -> StateDict {
        sub_dict(&self.tensors, &format!("{}.", self.teacher_prefix))
    }

    /// The result backbone in the official layout (`cls_token`, `blocks.0.…`).
    pub fn teacher_backbone(&self) -> StateDict {
        sub_dict(&self.tensors, &format!("{}.backbone.", self.teacher_prefix))
    }

    /// Restore `model` and `optim` (same configuration) from this checkpoint.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors (named), libtorch errors.
    pub fn restore(&self, model: &mut SslModel, optim: &mut AdamW) -> Result<()> {
        let ctx = |e: Error| Error::Checkpoint(format!("{}: {e}", self.path.display()));
        let student = self.tensors_under("student.")?;
        tch::no_grad(|| -> Result<()> {
            for (k, v) in model.student.variables() {
                let s = student.get(&k).ok_or_else(|| {
                    Error::Checkpoint(format!("{}: student.{k} is missing", self.path.display()))
                })?;
                if s.size() != v.size() {
                    return Err(Error::Checkpoint(format!(
                        "{}: student.{k} has shape {:?}, the model {:?} (another architecture?)",
                        self.path.display(),
                        s.size(),
                        v.size()
                    )));
                }
                v.shallow_clone().f_copy_(s)?;
            }
            Ok(())
        })?;
        optim.set_values(&student).map_err(ctx)?;
        let prefix = if model.model_ema.is_some() { "model_ema." } else { "teacher." };
        let teacher = self.tensors_under(prefix)?;
        tch::no_grad(|| -> Result<()> {
            for (k, v) in model.result_network().variables() {
                let s = teacher.get(&k).ok_or_else(|| {
                    Error::Checkpoint(format!("{}: {prefix}{k} is missing", self.path.display()))
                })?;
                if s.size() != v.size() {
                    return Err(Error::Checkpoint(format!(
                        "{}: {prefix}{k} has shape {:?}, the model {:?}",
                        self.path.display(),
                        s.size(),
                        v.size()
                    )));
                }
                v.shallow_clone().f_copy_(s)?;
            }
            Ok(())
        })?;
        model.set_ema_values(&teacher).map_err(ctx)?;
        if let Some(g) = &model.gram_teacher {
            let sd = sub_dict(&self.tensors, "gram_teacher.");
            load_backbone(g, &sd, "").map_err(ctx)?;
        }
        model.gram_initialized = self.gram_initialized;
        let state: BTreeMap<String, Tensor> = self.tensors_under("optim.")?;
        optim.load_state(state, self.optim_step).map_err(ctx)?;
        Ok(())
    }
}

/// An official-layout backbone state dict from any source: a geodino training checkpoint (its
/// result network's backbone), an exported backbone, an official `.pth` or safetensors file.
///
/// # Errors
/// Unreadable or unrecognised files.
pub fn read_backbone(path: &Path) -> Result<StateDict> {
    if is_training_checkpoint(path) {
        return Ok(TrainingCheckpoint::read(path)?.teacher_backbone());
    }
    let off = geodino_dinov3::checkpoint::read_official(path, &Default::default())?;
    Ok(off.state_dict)
}

/// The result network (backbone and heads) of a geodino training checkpoint.
///
/// # Errors
/// The file is not a training checkpoint.
pub fn read_teacher_network(path: &Path) -> Result<StateDict> {
    if !is_training_checkpoint(path) {
        return Err(Error::Checkpoint(format!(
            "{}: student.resume_from_teacher_chkpt needs a geodino training checkpoint (with heads)",
            path.display()
        )));
    }
    Ok(TrainingCheckpoint::read(path)?.teacher_network())
}

/// The frozen teacher of distillation (see `DistillationConfig`).
///
/// # Errors
/// Unreadable files, an architecture that cannot be inferred, heads whose prototypes differ
/// from the student's, a different patch size.
pub fn build_distillation_teacher(cfg: &PretrainConfig, device: Device) -> Result<Network> {
    let d = &cfg.distillation;
    if d.checkpoint_path.is_empty() {
        return Err(Error::Config(
            "distillation.enabled needs distillation.checkpoint_path (the teacher)".into(),
        ));
    }
    let path = Path::new(&d.checkpoint_path);
    let full = if d.full_cfg_path.is_empty() {
        None
    } else {
        Some(PretrainConfig::load(&d.full_cfg_path, &[])?)
    };
    let (vit, backbone_sd, heads_sd, head_src) = if is_training_checkpoint(path) {
        let ck = TrainingCheckpoint::read(path)?;
        let net = ck.teacher_network();
        let heads = ck.config.clone();
        (ck.vit_config.clone(), sub_dict(&net, "backbone."), Some(net), Some(heads))
    } else {
        let off = geodino_dinov3::checkpoint::read_official(path, &Default::default())?;
        let vit = match (&full, off.stored_config) {
            (Some(f), _) => f.student.vit_config()?,
            (None, Some(c)) => c,
            (None, None) => geodino_dinov3::infer_config(&off.state_dict)?,
        };
        let heads = if d.heads_path.is_empty() {
            None
        } else {
            Some(read_teacher_network(Path::new(&d.heads_path))?)
        };
        (vit, off.state_dict, heads, full.clone())
    };
    let src = head_src.unwrap_or_else(|| cfg.clone());
    let w = vit.embed_dim as i64;
    let (dino, ibot) = (src.dino.head(w), src.ibot.head(w));
    if dino.n_prototypes != cfg.dino.head_n_prototypes
        || ibot.n_prototypes != cfg.ibot.head_n_prototypes
    {
        return Err(Error::Config(format!(
            "distillation: the teacher's heads have {}/{} prototypes, the student's {}/{} \
             (dino/ibot.head_n_prototypes must match, as the reference asserts)",
            dino.n_prototypes,
            ibot.n_prototypes,
            cfg.dino.head_n_prototypes,
            cfg.ibot.head_n_prototypes
        )));
    }
    if vit.patch_size != cfg.student.patch_size {
        return Err(Error::Config(format!(
            "distillation: teacher patch size {} differs from the student's {}",
            vit.patch_size, cfg.student.patch_size
        )));
    }
    let mut net = Network::new(&vit, &dino, &ibot, device)?;
    load_backbone(&net.backbone, &backbone_sd, "")?;
    if let Some(h) = heads_sd {
        for (prefix, head) in [("dino_head.", &net.dino_head), ("ibot_head.", &net.ibot_head)] {
            geodino_nn::load_state_dict(
                head.var_store(),
                sub_dict(&h, prefix),
                &Default::default(),
            )?;
        }
    }
    net.freeze();
    Ok(net)
}

/// Export the result backbone of training checkpoint `ckpt` (the EMA teacher, or the student
/// EMA of distillation) in the official key layout: `.safetensors` with geodino's config
/// metadata (loadable by `geodino backbone-run` and [`Dinov3Backbone::from_checkpoint`]) or
/// `.pth` (a `torch.save` state dict that `DinoVisionTransformer.load_state_dict(strict=True)`
/// accepts).
///
/// # Errors
/// Unreadable checkpoints, an unknown output extension, write errors.
pub fn export_backbone(ckpt: &Path, out: &Path) -> Result<ViTConfig> {
    let ck = TrainingCheckpoint::read(ckpt)?;
    let mut sd = ck.teacher_backbone();
    if sd.is_empty() {
        return Err(Error::Checkpoint(format!(
            "{}: no {}.backbone.* tensors",
            ckpt.display(),
            ck.teacher_prefix
        )));
    }
    // A sanity load: the exported file must build the backbone it claims.
    Dinov3Backbone::from_state_dict(sd.clone(), &ck.vit_config, Device::Cpu)?;
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => {
            sd = geodino_dinov3::checkpoint::with_metadata(sd, &ck.vit_config, None);
            sd.metadata.insert("source".into(), ckpt.display().to_string());
            geodino_weights::write_safetensors(out, &sd)?;
        }
        "pth" | "pt" => geodino_weights::write_pth(out, &sd)?,
        _ => {
            return Err(Error::Config(format!(
                "{}: the output must end in .safetensors or .pth",
                out.display()
            )));
        }
    }
    Ok(ck.vit_config)
}
