//! Head training (`geodino train-head`): a canopy-height or land-cover head from
//! `geodino-heads` trained on a **frozen** backbone, with the pretraining engine's AdamW,
//! schedules, seeded streams, checkpoint files and JSONL/loss-curve reporting.
//!
//! 1. Image/label pairs are opened and checked to share a grid ([`data::check_same_grid`]),
//!    or, with `data.resample_labels` and the `gdal` feature, labels on another grid are warped
//!    onto the image's with GDAL ([`warp`]);
//!    chips are sampled where labels are valid ([`data::sample_chips`]), deterministically
//!    from the seed.
//! 2. The backbone runs **once** over every chip; the layers the head reads are cached in
//!    memory (`(n, D, h, w)` patch tokens and `(n, D)` CLS tokens per layer). Training epochs
//!    then cost only the head.
//! 3. Iteration `s` draws its batch from `(seed, s)`, reseeds libtorch (dropout) from
//!    `(seed, s)`, and takes one AdamW step. Losses:
//!    * canopy height: L1 in metres on the predicted height (bins → metres through the head's
//!      [`geodino_heads::DepthConfig`]), or SiLog, over valid pixels, plus `bin_ce_weight` ×
//!      the cross-entropy of the bin logits towards the bin nearest the true height;
//!    * land cover: cross-entropy with ignore index and optional class weights.
//! 4. Checkpoints `RUN/checkpoints/ckpt-NNNNNNN.safetensors` (format
//!    `geodino-head-checkpoint`: `head.*` variables including BatchNorm statistics,
//!    `optim.*` AdamW moments, counters and the configuration) allow an **exact resume** after
//!    SIGKILL: the cache is recomputed identically, and iteration `s` depends only on the
//!    checkpointed state and `(seed, s)`.
//! 5. The result is a self-describing head file (`RUN/head.safetensors`, `docs/heads.md`);
//!    held-out scenes are then predicted tile by tile and scored with the metrics of
//!    `geodino eval`, next to the baselines "training mean everywhere" (canopy) and
//!    "majority class everywhere" (land cover): `RUN/eval.json`.

pub mod config;
pub mod data;
pub mod warp;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use geodino_core::Window;
use geodino_data::metrics::{
    CanopyAccumulator, CanopyMetrics, CanopyMetricsConfig, LandCoverAccumulator, LandCoverMetrics,
    LandCoverMetricsConfig,
};
use geodino_dinov3::Dinov3Backbone;
use geodino_heads::{
    BackboneSpec, ClassInfo, DecoderConfig, DenseHead, DptConfig, Geometry, Head, HeadSpec,
    LinearHeadConfig, OutputSize, PatchAdaptation, Task,
};
use geodino_nn::{Backbone, LayerFeatures};
use geodino_viz::plot::LinePlot;
use geodino_weights::StateDict;
use ndarray::{Array2, Array3, Array4};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Reduction, Tensor};

use self::config::{DecoderKind, HeadTask, HeadTrainConfig, RegressionLoss};
use self::data::{OpenPair, Pair};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::optim::{AdamW, AdamWConfig};
use crate::param_groups::{ParamGroup, SubModule};
use crate::schedule::LinearWarmupCosineDecay;
use crate::seed::{Stream, rng, torch_seed};

/// `format` metadata of head-training checkpoints.
pub const FORMAT: &str = "geodino-head-checkpoint";

/// One line of `RUN/metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadStepRecord {
    /// Iteration (0-based).
    pub iteration: usize,
    /// Total loss.
    pub loss: f64,
    /// Canopy: mean absolute error (m) of the batch; land cover: none.
    pub mae_m: Option<f64>,
    /// Cross-entropy term (bins or classes).
    pub ce: Option<f64>,
    /// Land cover: pixel accuracy of the batch.
    pub accuracy: Option<f64>,
    /// Learning rate.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds of the iteration.
    pub seconds: f64,
}

/// What the caller hears about a run.
pub trait HeadObserver {
    /// The run goes from `start` to `end` iterations.
    fn started(&mut self, start: usize, end: usize) {
        let _ = (start, end);
    }
    /// One iteration finished.
    fn step(&mut self, rec: &HeadStepRecord) {
        let _ = rec;
    }
    /// A notable event.
    fn message(&mut self, msg: &str) {
        let _ = msg;
    }
}

/// Inputs of a head-training run.
#[derive(Debug, Clone)]
pub struct HeadTrainInputs {
    /// Training pairs.
    pub train: Vec<Pair>,
    /// Held-out pairs scored after training.
    pub eval: Vec<Pair>,
    /// The frozen backbone: an exported backbone, an official checkpoint, or a geodino
    /// pretraining checkpoint.
    pub backbone: PathBuf,
    /// Continue from the latest checkpoint of the run folder.
    pub resume: bool,
}

/// Scores of a held-out scene.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneEval {
    /// The image.
    pub image: PathBuf,
    /// The labels.
    pub labels: PathBuf,
    /// Canopy: the head's metrics.
    pub canopy: Option<CanopyMetrics>,
    /// Canopy: the metrics of predicting the training mean everywhere.
    pub canopy_baseline: Option<CanopyMetrics>,
    /// Land cover: the head's metrics.
    pub landcover: Option<LandCoverMetrics>,
    /// Land cover: the metrics of predicting the majority training class everywhere.
    pub landcover_baseline: Option<LandCoverMetrics>,
}

/// What a finished invocation reports.
#[derive(Debug, Clone)]
pub struct HeadRunSummary {
    /// Iteration this invocation started at.
    pub start: usize,
    /// Iterations completed.
    pub end: usize,
    /// The head file written.
    pub head: PathBuf,
    /// Held-out scores.
    pub eval: Vec<SceneEval>,
    /// Training mean height (canopy) over valid chip pixels.
    pub train_mean: Option<f64>,
    /// Majority class over valid chip pixels (land cover).
    pub majority_class: Option<usize>,
    /// Seconds spent caching backbone features.
    pub cache_seconds: f64,
    /// Seconds spent training (this invocation).
    pub train_seconds: f64,
}

/// Load a frozen backbone from `path`: a geodino pretraining checkpoint (its EMA teacher) or
/// any file `Dinov3Backbone::from_checkpoint` reads.
///
/// # Errors
/// Unreadable or unrecognised files.
pub fn load_backbone(path: &Path) -> Result<Dinov3Backbone> {
    let bb = if checkpoint::is_training_checkpoint(path) {
        let ck = checkpoint::TrainingCheckpoint::read(path)?;
        Dinov3Backbone::from_state_dict(ck.teacher_backbone(), &ck.vit_config, Device::Cpu)?
    } else {
        Dinov3Backbone::from_checkpoint(path, &Default::default())?
    };
    Ok(bb)
}

/// The head description for `cfg` on `backbone`.
///
/// # Errors
/// An invalid configuration.
pub fn head_spec(
    cfg: &HeadTrainConfig,
    backbone: &dyn Backbone,
    backbone_name: &str,
    classes: Vec<ClassInfo>,
) -> Result<HeadSpec> {
    let d = backbone.embed_dim();
    let h = &cfg.head;
    let n_out = match cfg.task {
        HeadTask::CanopyHeight => h.bins,
        HeadTask::Landcover => classes.len() as i64,
    };
    let decoder = match h.decoder {
        DecoderKind::Dpt => DecoderConfig::Dpt(DptConfig {
            in_channels: vec![d; 4],
            channels: h.channels,
            post_process_channels: h.post_process_channels.clone(),
            n_hidden_channels: h.n_hidden_channels,
            n_output_channels: n_out,
            use_bias: true,
            projection_after_fusion: false,
            ..DptConfig::default()
        }),
        DecoderKind::Linear => DecoderConfig::Linear(LinearHeadConfig {
            in_channels: vec![d; h.layers.len()],
            n_output_channels: n_out,
            ..LinearHeadConfig::default()
        }),
    };
    let (task, depth, classes) = match cfg.task {
        HeadTask::CanopyHeight => (Task::CanopyHeight, Some(h.depth), Vec::new()),
        HeadTask::Landcover => (Task::LandCover, None, classes),
    };
    let spec = HeadSpec {
        version: geodino_heads::HEAD_FORMAT_VERSION,
        task,
        name: h.name.clone(),
        decoder,
        depth,
        classes,
        backbone: BackboneSpec {
            layers: h.layers.clone(),
            use_norm: true,
            patch_size: Some(backbone.patch_size()),
            in_chans: Some(backbone.in_chans()),
            weights: Some(backbone_name.to_string()),
        },
        normalization: cfg.normalization()?,
        adaptation: PatchAdaptation::CenterPadding,
    };
    spec.validate().map_err(|e| Error::Config(format!("head: {e}")))?;
    Ok(spec)
}

/// Backbone features of every chip, cached.
#[derive(Debug)]
struct FeatureCache {
    /// Per layer: `(n, D, h, w)`.
    patch: Vec<Tensor>,
    /// Per layer: `(n, D)`.
    cls: Vec<Tensor>,
    /// `(n, s, s)` labels (NaN invalid).
    labels: Tensor,
    geometry: Geometry,
}

impl FeatureCache {
    fn build(
        chips: &data::Chips,
        head: &DenseHead,
        backbone: &dyn Backbone,
        batch: usize,
        observer: &mut dyn HeadObserver,
    ) -> Result<FeatureCache> {
        let n = chips.images.len();
        let (c, s, _) = chips.images[0].dim();
        let mut patch: Vec<Vec<Tensor>> = Vec::new();
        let mut cls: Vec<Vec<Tensor>> = Vec::new();
        let mut geometry = None;
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let mut a = Array4::<f32>::zeros((end - start, c, s, s));
            for i in start..end {
                a.slice_mut(ndarray::s![i - start, .., .., ..]).assign(&chips.images[i]);
            }
            let x = array4_to_tensor(&a);
            let (feats, g) = tch::no_grad(|| head.features(backbone, &x))?;
            if patch.is_empty() {
                patch = (0..feats.len()).map(|_| Vec::new()).collect();
                cls = (0..feats.len()).map(|_| Vec::new()).collect();
            }
            for (l, f) in feats.into_iter().enumerate() {
                patch[l].push(f.patch.to_kind(Kind::Float));
                cls[l].push(f.cls.to_kind(Kind::Float));
            }
            geometry = Some(g);
            observer.message(&format!("features cached for {end}/{n} chips"));
        }
        let mut lab = Array3::<f32>::zeros((n, s, s));
        for (i, l) in chips.labels.iter().enumerate() {
            lab.slice_mut(ndarray::s![i, .., ..]).assign(l);
        }
        let labels = Tensor::from_slice(lab.as_slice().expect("standard layout"))
            .reshape([n as i64, s as i64, s as i64]);
        Ok(FeatureCache {
            patch: patch.iter().map(|v| Tensor::cat(v, 0)).collect(),
            cls: cls.iter().map(|v| Tensor::cat(v, 0)).collect(),
            labels,
            geometry: geometry.expect("at least one chip"),
        })
    }

    fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    fn batch(&self, idx: &Tensor) -> (Vec<LayerFeatures>, Tensor) {
        let feats = self
            .patch
            .iter()
            .zip(&self.cls)
            .map(|(p, c)| LayerFeatures {
                patch: p.index_select(0, idx),
                cls: c.index_select(0, idx),
                registers: Tensor::zeros(
                    [idx.size()[0], 0, c.size()[1]],
                    (Kind::Float, Device::Cpu),
                ),
            })
            .collect();
        (feats, self.labels.index_select(0, idx))
    }
}

fn array4_to_tensor(a: &Array4<f32>) -> Tensor {
    let s: Vec<i64> = a.shape().iter().map(|&v| v as i64).collect();
    Tensor::from_slice(a.as_standard_layout().as_slice().expect("standard layout")).reshape(s)
}

fn param_group_of(name: &str) -> ParamGroup {
    let no_decay = name.ends_with("bias") || name.contains("norm") || name.contains("bn");
    ParamGroup {
        module: SubModule::DinoHead,
        layer_id: None,
        lr_multiplier: 1.0,
        wd_multiplier: if no_decay { 0.0 } else { 1.0 },
        is_last_layer: false,
    }
}

/// The optimiser over the head's trainable variables, **sorted by name**.
///
/// `VarStore::variables()` is a `HashMap`, whose iteration order is randomised per process;
/// the optimiser's global gradient norm (clipping) sums the per-parameter norms in slot order,
/// so an unsorted order changes the clip factor in the last bits from one process to the next
/// (and with it every later iteration). A fixed order makes training reproducible across
/// processes, which exact resume needs.
fn build_optimizer(head: &DenseHead) -> AdamW {
    let mut params: Vec<(String, Tensor, ParamGroup)> = head
        .var_store()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, t)| {
            let g = param_group_of(&n);
            (n, t, g)
        })
        .collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    AdamW::new(params, AdamWConfig::default())
}

fn save_checkpoint(
    path: &Path,
    head: &DenseHead,
    optim: &AdamW,
    iteration: usize,
    cfg: &HeadTrainConfig,
    threads: i32,
) -> Result<()> {
    let mut sd = StateDict::new();
    for (k, v) in head.var_store().variables() {
        sd.insert(format!("head.{k}"), geodino_nn::from_tensor(&v.detach())?);
    }
    let (state, step) = optim.state();
    for (k, v) in state {
        sd.insert(format!("optim.{k}"), geodino_nn::from_tensor(&v.detach())?);
    }
    let m = &mut sd.metadata;
    m.insert("format".into(), FORMAT.into());
    m.insert("iteration".into(), iteration.to_string());
    m.insert("optim_step".into(), step.to_string());
    m.insert("torch_threads".into(), threads.to_string());
    m.insert("config".into(), cfg.to_toml());
    m.insert(geodino_heads::HEAD_METADATA_KEY.into(), head.spec().to_json());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?;
    }
    geodino_weights::write_safetensors(path, &sd)?;
    Ok(())
}

fn restore_checkpoint(path: &Path, head: &DenseHead, optim: &mut AdamW) -> Result<usize> {
    let sd = geodino_weights::read_safetensors(path)?;
    let bad = |m: String| Error::Checkpoint(format!("{}: {m}", path.display()));
    if sd.metadata.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad("not a geodino head-training checkpoint".into()));
    }
    let num = |k: &str| -> Result<u64> {
        sd.metadata
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(format!("metadata {k} is missing or invalid")))
    };
    let iteration = num("iteration")? as usize;
    let step = num("optim_step")?;
    tch::no_grad(|| -> Result<()> {
        for (k, v) in head.var_store().variables() {
            let t =
                sd.get(&format!("head.{k}")).ok_or_else(|| bad(format!("head.{k} is missing")))?;
            let t = geodino_nn::to_tensor(t)?;
            if t.size() != v.size() {
                return Err(bad(format!(
                    "head.{k} has shape {:?}, the head {:?} (another configuration?)",
                    t.size(),
                    v.size()
                )));
            }
            v.shallow_clone().f_copy_(&t.to_kind(v.kind()))?;
        }
        Ok(())
    })?;
    let state = sd
        .iter()
        .filter_map(|(k, t)| k.strip_prefix("optim.").map(|r| (r.to_string(), t)))
        .map(|(k, t)| Ok((k, geodino_nn::to_tensor(t)?)))
        .collect::<Result<_>>()?;
    optim.load_state(state, step).map_err(|e| bad(e.to_string()))?;
    Ok(iteration)
}

/// Read `metrics.jsonl` (lines that do not parse, e.g. one cut by a kill, are skipped).
///
/// # Errors
/// An unreadable file.
pub fn read_metrics(path: &Path) -> Result<Vec<HeadStepRecord>> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io { path: path.into(), source: e })?;
    Ok(std::io::BufReader::new(f)
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io { path: path.into(), source: e })
}

fn truncate_metrics(path: &Path, start: usize) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut text = String::new();
    for r in read_metrics(path)?.into_iter().filter(|r| r.iteration < start) {
        text.push_str(&serde_json::to_string(&r).expect("plain record"));
        text.push('\n');
    }
    write_atomic(path, &text)
}

/// Draw the loss curve(s) of `metrics` into `out`.
///
/// # Errors
/// Unreadable metrics, an unwritable picture.
pub fn loss_plot(metrics: &Path, out: &Path, task: HeadTask) -> Result<()> {
    let recs = read_metrics(metrics)?;
    if recs.is_empty() {
        return Ok(());
    }
    let series = |f: &dyn Fn(&HeadStepRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        recs.iter().filter_map(|r| f(r).map(|v| (r.iteration as f64, v))).collect()
    };
    let title = match task {
        HeadTask::CanopyHeight => "canopy-height head training",
        HeadTask::Landcover => "land-cover head training",
    };
    let mut plot =
        LinePlot::new(format!("{title} ({} iterations)", recs.len()), "iteration", "loss")
            .with_series("loss", series(&|r| Some(r.loss)));
    let mae = series(&|r| r.mae_m);
    if !mae.is_empty() {
        plot = plot.with_series("batch MAE (m)", mae);
    }
    let ce = series(&|r| r.ce);
    if !ce.is_empty() {
        plot = plot.with_series("cross-entropy", ce);
    }
    plot.render().save_png(out).map_err(|e| Error::Data(format!("{}: {e}", out.display())))
}

struct StepOut {
    loss: Tensor,
    mae: Option<f64>,
    ce: Option<f64>,
    accuracy: Option<f64>,
}

fn canopy_loss(
    cfg: &HeadTrainConfig,
    head: &DenseHead,
    raw: &Tensor,
    g: &Geometry,
    labels: &Tensor,
) -> StepOut {
    let out = head.outputs(raw, g, OutputSize::Crop);
    let pred = out.height.expect("canopy head").squeeze_dim(1);
    let mask = labels.isfinite();
    let maskf = mask.to_kind(Kind::Float);
    let truth = labels.nan_to_num(0.0, 0.0, 0.0);
    let n = maskf.sum(Kind::Float).clamp_min(1.0);
    let abs = ((&pred - &truth).abs() * &maskf).sum(Kind::Float) / &n;
    let mae = abs.double_value(&[]);
    let mut loss = match cfg.loss.regression {
        RegressionLoss::L1 => abs,
        RegressionLoss::Silog => {
            let d = ((&pred + 1.0).log() - (&truth + 1.0).log()) * &maskf;
            let m1 = d.sum(Kind::Float) / &n;
            let m2 = (&d * &d).sum(Kind::Float) / &n;
            (m2 - cfg.loss.silog_lambda * &m1 * &m1).clamp_min(1e-8).sqrt()
        }
    };
    let mut ce = None;
    if cfg.loss.bin_ce_weight > 0.0 {
        let logits = &out.logits;
        let nb = logits.size()[1];
        let bins = cfg.head.depth.bins(nb, logits.device());
        let target = (truth.unsqueeze(-1) - bins).abs().argmin(-1, false);
        let target = target.where_self(&mask, &Tensor::from(data::IGNORE));
        let c =
            logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, data::IGNORE, 0.0);
        ce = Some(c.double_value(&[]));
        loss += cfg.loss.bin_ce_weight * c;
    }
    StepOut { loss, mae: Some(mae), ce, accuracy: None }
}

fn landcover_loss(
    cfg: &HeadTrainConfig,
    head: &DenseHead,
    raw: &Tensor,
    g: &Geometry,
    labels: &Tensor,
) -> StepOut {
    let out = head.outputs(raw, g, OutputSize::Crop);
    let mask = labels.isfinite();
    let target = labels.nan_to_num(0.0, 0.0, 0.0).to_kind(Kind::Int64);
    let target = target.where_self(&mask, &Tensor::from(data::IGNORE));
    let w = (!cfg.loss.class_weights.is_empty())
        .then(|| Tensor::from_slice(&cfg.loss.class_weights).to_kind(Kind::Float));
    let loss = out.logits.cross_entropy_loss(&target, w, Reduction::Mean, data::IGNORE, 0.0);
    let pred = out.logits.argmax(1, false);
    let correct = pred.eq_tensor(&target).logical_and(&mask).sum(Kind::Float);
    let acc = (correct / mask.sum(Kind::Float).clamp_min(1.0)).double_value(&[]);
    let ce = loss.double_value(&[]);
    StepOut { loss, mae: None, ce: Some(ce), accuracy: Some(acc) }
}

/// Train (or continue training) a head as `cfg` describes, into run folder `out`.
///
/// # Errors
/// Configuration, data, model and IO errors; a folder with checkpoints without `resume`.
pub fn train_head(
    cfg: &HeadTrainConfig,
    inputs: &HeadTrainInputs,
    out: &Path,
    observer: &mut dyn HeadObserver,
) -> Result<HeadRunSummary> {
    cfg.validate()?;
    if inputs.train.is_empty() {
        return Err(Error::Data("no training image/label pairs".into()));
    }
    let ckdir = out.join("checkpoints");
    std::fs::create_dir_all(&ckdir).map_err(|e| Error::Io { path: ckdir.clone(), source: e })?;
    tch::set_num_threads(cfg.train.num_threads as i32);
    let threads = tch::get_num_threads();
    let latest = checkpoint::latest(&ckdir);
    if latest.is_some() && !inputs.resume {
        return Err(Error::Config(format!(
            "{} already holds checkpoints: pass --resume to continue it, or choose another --out",
            out.display()
        )));
    }

    // Backbone (frozen) and data.
    let backbone = load_backbone(&inputs.backbone)?;
    let in_chans = backbone.in_chans() as usize;
    let p = backbone.patch_size() as usize;
    if !cfg.data.chip_size.is_multiple_of(p) {
        return Err(Error::Config(format!(
            "data.chip_size {} is not a multiple of the backbone's patch size {p}",
            cfg.data.chip_size
        )));
    }
    let resample = cfg.data.resample_labels.gdal_method(cfg.task);
    let pairs: Vec<OpenPair> = inputs
        .train
        .iter()
        .map(|pr| OpenPair::open(pr, cfg.data.label_band, in_chans, resample))
        .collect::<Result<_>>()?;
    for p in pairs.iter().filter(|p| p.warped.is_some()) {
        observer.message(&format!(
            "{} resampled onto the grid of {} (gdalwarp -r {})",
            p.pair.labels.display(),
            p.pair.image.display(),
            resample.unwrap_or_default()
        ));
    }
    let classes = match cfg.task {
        HeadTask::CanopyHeight => Vec::new(),
        HeadTask::Landcover => {
            let c = data::classes_of(
                pairs[0].label_source.meta(),
                cfg.data.label_band,
                cfg.data.num_classes,
            );
            if c.len() < 2 {
                return Err(Error::Data(format!(
                    "{}: the label raster names no classes; set data.num_classes",
                    pairs[0].pair.labels.display()
                )));
            }
            c
        }
    };
    let name =
        inputs.backbone.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let spec = head_spec(cfg, &backbone, &name, classes.clone())?;
    let norm = spec.normalization.clone();

    tch::manual_seed((crate::seed::derive(cfg.train.seed, 0, Stream::Init, 0) >> 1) as i64);
    let head = DenseHead::new(spec, Device::Cpu)?;
    let mut optim = build_optimizer(&head);
    let mut start = 0;
    if let (true, Some((_, path))) = (inputs.resume, &latest) {
        start = restore_checkpoint(path, &head, &mut optim)?;
        observer.message(&format!("resumed from {} (iteration {start})", path.display()));
    }
    write_atomic(&out.join("config.toml"), &cfg.to_toml())?;
    let metrics_path = out.join("metrics.jsonl");
    truncate_metrics(&metrics_path, start)?;

    let t_cache = Instant::now();
    let n_classes = classes.len();
    let chips = data::sample_chips(&pairs, cfg, n_classes, in_chans, &norm)?;
    observer.message(&format!(
        "{} chips of {} px sampled ({} rejected for too few valid labels)",
        chips.images.len(),
        cfg.data.chip_size,
        chips.rejected
    ));
    let (train_mean, majority) = label_stats(&chips, cfg.task, n_classes);
    let cache = FeatureCache::build(&chips, &head, &backbone, cfg.train.feature_batch, observer)?;
    drop(chips);
    let cache_seconds = t_cache.elapsed().as_secs_f64();

    let end = cfg.optim.iterations;
    let lr = LinearWarmupCosineDecay::new(
        0.0,
        cfg.optim.lr,
        cfg.optim.min_lr,
        cfg.optim.warmup_iterations,
        end,
        None,
    )?;
    observer.started(start, end);
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::Io { path: metrics_path.clone(), source: e })?;
    let t_train = Instant::now();
    let mut last_saved = start;
    for it in start..end {
        let t0 = Instant::now();
        let mut r = rng(cfg.train.seed, it as u64, Stream::Chip, 1);
        let idx: Vec<i64> =
            (0..cfg.optim.batch_size).map(|_| r.random_range(0..cache.len())).collect();
        let (feats, labels) = cache.batch(&Tensor::from_slice(&idx));
        tch::manual_seed(torch_seed(cfg.train.seed, it as u64));
        optim.zero_grad();
        let raw = head.forward_t(&feats, true)?;
        let so = match cfg.task {
            HeadTask::CanopyHeight => canopy_loss(cfg, &head, &raw, &cache.geometry, &labels),
            HeadTask::Landcover => landcover_loss(cfg, &head, &raw, &cache.geometry, &labels),
        };
        let loss_v = so.loss.double_value(&[]);
        if !loss_v.is_finite() {
            return Err(Error::Training(format!("non-finite loss at iteration {it}")));
        }
        so.loss.backward();
        let grad_norm = optim.clip_grad_norm(SubModule::DinoHead, cfg.optim.clip_grad)?;
        let lr_v = lr.at(it);
        optim.step(lr_v, lr_v, cfg.optim.weight_decay)?;
        let rec = HeadStepRecord {
            iteration: it,
            loss: loss_v,
            mae_m: so.mae,
            ce: so.ce,
            accuracy: so.accuracy,
            lr: lr_v,
            grad_norm,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let mut line = serde_json::to_string(&rec).expect("plain record");
        line.push('\n');
        metrics
            .write_all(line.as_bytes())
            .and_then(|_| metrics.flush())
            .map_err(|e| Error::Io { path: metrics_path.clone(), source: e })?;
        observer.step(&rec);
        let done = it + 1;
        if done.is_multiple_of(cfg.checkpoint.period) || done == end {
            let p = ckdir.join(checkpoint::file_name(done));
            save_checkpoint(&p, &head, &optim, done, cfg, threads)?;
            checkpoint::keep_last(&ckdir, cfg.checkpoint.max_to_keep, None)?;
            last_saved = done;
        }
        if cfg.eval.plot_period > 0 && done.is_multiple_of(cfg.eval.plot_period) {
            loss_plot(&metrics_path, &out.join("loss.png"), cfg.task)?;
        }
    }
    let _ = last_saved;
    let train_seconds = t_train.elapsed().as_secs_f64();
    loss_plot(&metrics_path, &out.join("loss.png"), cfg.task)?;

    let head_path = out.join("head.safetensors");
    head.save(&head_path)?;
    observer.message(&format!("head file {}", head_path.display()));

    let mut evals = Vec::new();
    for pr in &inputs.eval {
        let e = evaluate_scene(cfg, &head, &backbone, pr, train_mean, majority, n_classes)?;
        evals.push(e);
    }
    if !evals.is_empty() {
        let json = serde_json::json!({
            "train_mean_height_m": train_mean,
            "majority_class": majority,
            "scenes": evals,
        });
        write_atomic(&out.join("eval.json"), &serde_json::to_string_pretty(&json).expect("json"))?;
    }
    Ok(HeadRunSummary {
        start,
        end,
        head: head_path,
        eval: evals,
        train_mean,
        majority_class: majority,
        cache_seconds,
        train_seconds,
    })
}

fn label_stats(chips: &data::Chips, task: HeadTask, n: usize) -> (Option<f64>, Option<usize>) {
    match task {
        HeadTask::CanopyHeight => {
            let (mut s, mut k) = (0.0f64, 0u64);
            for l in &chips.labels {
                for &v in l.iter().filter(|v| v.is_finite()) {
                    s += v as f64;
                    k += 1;
                }
            }
            (Some(s / k.max(1) as f64), None)
        }
        HeadTask::Landcover => {
            let mut hist = vec![0u64; n.max(1)];
            for l in &chips.labels {
                for &v in l.iter().filter(|v| v.is_finite()) {
                    hist[v as usize] += 1;
                }
            }
            let maj = hist.iter().enumerate().max_by_key(|(_, c)| **c).map(|(i, _)| i);
            (None, maj)
        }
    }
}

/// Predict a whole scene tile by tile (tiles of `tile` pixels, padded to the patch size at the
/// borders): heights `(1, H, W)` in metres or class indices `(1, H, W)` as f32.
///
/// # Errors
/// Read and model errors.
pub fn predict_scene(
    head: &DenseHead,
    backbone: &dyn Backbone,
    pair: &OpenPair,
    tile: usize,
) -> Result<Array2<f32>> {
    let meta = pair.image.meta();
    let (w, h) = (meta.width, meta.height);
    let in_chans = backbone.in_chans() as usize;
    let norm = head.spec().normalization.clone();
    let mut out = Array2::<f32>::zeros((h, w));
    for y in (0..h).step_by(tile) {
        for x in (0..w).step_by(tile) {
            let (tw, th) = (tile.min(w - x), tile.min(h - y));
            let win = Window::new(x as i64, y as i64, tw, th);
            let (img, _) = pair.read_image(win, in_chans, &norm)?;
            let t = Tensor::from_slice(img.as_standard_layout().as_slice().expect("layout"))
                .reshape([1, in_chans as i64, th as i64, tw as i64]);
            let pred = head.predict(backbone, &t)?;
            let v: Tensor = match head.spec().task {
                Task::CanopyHeight => pred.squeeze(),
                Task::LandCover => pred.argmax(1, false).squeeze().to_kind(Kind::Float),
            };
            let v = v.contiguous().to_kind(Kind::Float);
            let data: Vec<f32> = Vec::<f32>::try_from(v.flatten(0, -1))?;
            let a = Array2::from_shape_vec((th, tw), data)
                .map_err(|e| Error::Model(format!("prediction tile: {e}")))?;
            out.slice_mut(ndarray::s![y..y + th, x..x + tw]).assign(&a);
        }
    }
    Ok(out)
}

fn evaluate_scene(
    cfg: &HeadTrainConfig,
    head: &DenseHead,
    backbone: &dyn Backbone,
    pr: &Pair,
    train_mean: Option<f64>,
    majority: Option<usize>,
    n_classes: usize,
) -> Result<SceneEval> {
    let resample = cfg.data.resample_labels.gdal_method(cfg.task);
    let p = OpenPair::open(pr, cfg.data.label_band, backbone.in_chans() as usize, resample)?;
    let tile =
        cfg.eval.tile.div_ceil(backbone.patch_size() as usize) * backbone.patch_size() as usize;
    let pred = predict_scene(head, backbone, &p, tile)?;
    let (h, w) = pred.dim();
    let win = Window::full(w, h);
    let m = |e: geodino_data::Error| Error::Data(format!("{}: {e}", pr.labels.display()));
    let mut ev = SceneEval {
        image: pr.image.clone(),
        labels: pr.labels.clone(),
        canopy: None,
        canopy_baseline: None,
        landcover: None,
        landcover_baseline: None,
    };
    match cfg.task {
        HeadTask::CanopyHeight => {
            let truth = p.read_labels(win, cfg.data.label_band, cfg.task, 0, -1)?;
            let mc = CanopyMetricsConfig::default();
            let mut a = CanopyAccumulator::new(&mc, w, h, None, None).map_err(m)?;
            a.update(win, pred.view(), truth.view()).map_err(m)?;
            ev.canopy = Some(a.finish());
            let base = Array2::from_elem((h, w), train_mean.unwrap_or(0.0) as f32);
            let mut b = CanopyAccumulator::new(&mc, w, h, None, None).map_err(m)?;
            b.update(win, base.view(), truth.view()).map_err(m)?;
            ev.canopy_baseline = Some(b.finish());
        }
        HeadTask::Landcover => {
            let truth = p.read_labels(
                win,
                cfg.data.label_band,
                cfg.task,
                n_classes,
                cfg.data.ignore_index,
            )?;
            let truth = truth.mapv(|v| if v.is_finite() { v } else { -1.0 });
            let names: Vec<String> = head.spec().classes.iter().map(|c| c.name.clone()).collect();
            let ignore =
                if cfg.data.ignore_index >= 0 && (cfg.data.ignore_index as usize) < n_classes {
                    vec![cfg.data.ignore_index as u32]
                } else {
                    Vec::new()
                };
            let mc = LandCoverMetricsConfig { class_names: names, ignore_classes: ignore };
            let nd = Some(geodino_core::NoData(-1.0));
            let mut a = LandCoverAccumulator::new(&mc, None, nd).map_err(m)?;
            a.update(win, pred.view(), truth.view()).map_err(m)?;
            ev.landcover = Some(a.finish());
            let base = Array2::from_elem((h, w), majority.unwrap_or(0) as f32);
            let mut b = LandCoverAccumulator::new(&mc, None, nd).map_err(m)?;
            b.update(win, base.view(), truth.view()).map_err(m)?;
            ev.landcover_baseline = Some(b.finish());
        }
    }
    Ok(ev)
}
