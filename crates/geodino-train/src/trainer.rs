//! The pretraining loop (`do_train` of `dinov3/train/train.py`): schedules, forward-backward,
//! per-sub-module gradient clipping, AdamW, the teacher EMA, Gram-teacher loads and refreshes,
//! JSONL metrics, periodic checkpoints (keep-last-N), evaluation and pictures, and exact resume.
//!
//! A run folder holds:
//!
//! | path | content |
//! |---|---|
//! | `config.toml` | the resolved configuration (every key) |
//! | `metrics.jsonl` | one JSON object per iteration ([`StepRecord`]) |
//! | `checkpoints/ckpt-NNNNNNN.safetensors` | checkpoints ([`crate::checkpoint`]) |
//! | `loss.png` | the loss curves, refreshed every `eval.plot_period` iterations |
//! | `eval/probe.jsonl`, `eval/pca-NNNNNNN.png` | linear-probe results and PCA feature maps |
//!
//! **Exact resume.** Iteration `s` depends only on the state after `s` iterations (weights, EMA,
//! Gram teacher, AdamW moments and step, Gram refresh count — all in the checkpoint) and on
//! draws derived from `(seed, s)` (data, augmentation, masks, crop sizes, and libtorch's
//! generator, reseeded at every iteration for drop path and RoPE jitter). A run killed at any
//! point and resumed from its last checkpoint therefore reproduces the losses of an
//! uninterrupted run bit for bit on CPU, provided libtorch uses the same number of intra-op
//! threads (`train.num_threads`; reductions are split by thread count).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use geodino_ssl::StepWeights;
use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::batch::{BatchBuilder, Prefetcher};
use crate::checkpoint::{self, TrainCounters, TrainingCheckpoint};
use crate::config::PretrainConfig;
use crate::error::{Error, Result};
use crate::model::{MODULES, Placement, SslModel};
use crate::optim::{AdamW, AdamWConfig};
use crate::param_groups::param_group;
use crate::probe::{Evaluator, ProbeResult};
use crate::run_schedule::RunSchedules;
use crate::seed::{Stream, derive, torch_seed};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The iteration (0-based).
    pub iteration: usize,
    /// Weighted total loss.
    pub total_loss: f64,
    /// DINO loss of the global crops.
    pub dino_global: f64,
    /// DINO loss of the local crops.
    pub dino_local: f64,
    /// iBOT loss.
    pub ibot: f64,
    /// KoLeo (mean over the global crops).
    pub koleo: f64,
    /// Gram loss, when computed.
    pub gram: Option<f64>,
    /// Gram loss over masked / unmasked tokens (`gram.compute_stats`).
    pub gram_masked: Option<f64>,
    /// See `gram_masked`.
    pub gram_unmasked: Option<f64>,
    /// Learning rate (before group multipliers).
    pub lr: f64,
    /// Last-layer learning rate.
    pub last_layer_lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Teacher momentum.
    pub momentum: f64,
    /// Teacher temperature.
    pub teacher_temp: f64,
    /// `w_local`.
    pub w_local: f64,
    /// `w_gram`.
    pub w_gram: f64,
    /// Gradient norms before clipping: backbone, DINO head, iBOT head.
    pub grad_norm: [f64; 3],
    /// Masked patch tokens.
    pub n_masked: usize,
    /// Global / local / Gram crop sizes of the batch.
    pub crop_sizes: (usize, usize, Option<usize>),
    /// Chips rejected for nodata while building the batch.
    pub rejected_chips: usize,
    /// Gram-teacher refreshes done so far.
    pub gram_updates: usize,
    /// Whether the optimiser stepped (false for a non-finite loss).
    pub stepped: bool,
    /// Seconds of this iteration (waiting for data included).
    pub seconds: f64,
    /// Seconds waiting for the batch.
    pub data_seconds: f64,
}

/// What the caller hears about a run (progress bars, logs).
pub trait Observer {
    /// The run starts at `start` and stops after `end` (of `total` scheduled iterations).
    fn started(&mut self, start: usize, end: usize, total: usize) {
        let _ = (start, end, total);
    }
    /// One iteration finished.
    fn step(&mut self, rec: &StepRecord) {
        let _ = rec;
    }
    /// A notable event (checkpoint written, evaluation result, Gram refresh).
    fn message(&mut self, msg: &str) {
        let _ = msg;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;
impl Observer for Silent {}

/// How to start.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue from the latest checkpoint of the run folder.
    pub resume: bool,
}

/// What a finished invocation reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Iteration the invocation started at.
    pub start: usize,
    /// Iterations completed in total.
    pub end: usize,
    /// The last checkpoint written.
    pub last_checkpoint: Option<PathBuf>,
    /// Evaluations made, in order.
    pub evaluations: Vec<ProbeResult>,
    /// Mean iterations per second of this invocation.
    pub iterations_per_second: f64,
}

/// The run folder's paths.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub root: PathBuf,
}

impl RunDir {
    /// `root/checkpoints`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `root/metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `root/config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `root/eval`.
    pub fn eval(&self) -> PathBuf {
        self.root.join("eval")
    }
    /// `root/loss.png`.
    pub fn loss_plot(&self) -> PathBuf {
        self.root.join("loss.png")
    }
}

/// Read `metrics.jsonl` (lines that do not parse, e.g. one cut by a kill, are skipped).
///
/// # Errors
/// An unreadable file.
pub fn read_metrics(path: &Path) -> Result<Vec<StepRecord>> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io { path: path.into(), source: e })?;
    Ok(std::io::BufReader::new(f)
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// Keep the records of iterations before `start` (resume), rewriting the file atomically.
fn truncate_metrics(path: &Path, start: usize) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let keep: Vec<StepRecord> =
        read_metrics(path)?.into_iter().filter(|r| r.iteration < start).collect();
    let tmp = path.with_extension("jsonl.tmp");
    let mut text = String::new();
    for r in keep {
        text.push_str(&serde_json::to_string(&r).expect("plain record"));
        text.push('\n');
    }
    std::fs::write(&tmp, text).map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io { path: path.into(), source: e })
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io { path: path.into(), source: e })
}

/// The configuration a run folder continues with: its `config.toml` (or the latest checkpoint's
/// copy) with `overrides` applied.
///
/// # Errors
/// No configuration in the folder, invalid overrides.
pub fn resume_config(run: &Path, overrides: &[String]) -> Result<PretrainConfig> {
    let dir = RunDir { root: run.to_path_buf() };
    if dir.config().is_file() {
        return PretrainConfig::load(&dir.config().to_string_lossy(), overrides);
    }
    match checkpoint::latest(&dir.checkpoints()) {
        Some((_, p)) => {
            let ck = TrainingCheckpoint::read(&p)?;
            let tmp =
                std::env::temp_dir().join(format!("geodino-resume-{}.toml", std::process::id()));
            std::fs::write(&tmp, ck.config.to_toml())
                .map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
            let r = PretrainConfig::load(&tmp.to_string_lossy(), overrides);
            let _ = std::fs::remove_file(&tmp);
            r
        }
        None => Err(Error::Config(format!(
            "{}: no config.toml and no checkpoint to resume from",
            run.display()
        ))),
    }
}

/// Build the optimiser over the student's parameters with the reference's groups.
pub fn build_optimizer(cfg: &PretrainConfig, model: &SslModel) -> AdamW {
    let depth = model.student.backbone.config().depth;
    let pg = cfg.optim.param_groups();
    let params = model
        .student
        .parameters()
        .into_iter()
        .map(|(n, t)| {
            let g = param_group(&n, depth, &pg);
            (n, t, g)
        })
        .collect();
    AdamW::new(
        params,
        AdamWConfig {
            beta1: cfg.optim.adamw_beta1,
            beta2: cfg.optim.adamw_beta2,
            eps: cfg.optim.adamw_eps,
        },
    )
}

/// Run (or continue) the pretraining described by `cfg` in folder `out`.
///
/// # Errors
/// Configuration, data, model, IO errors; a run folder with checkpoints without `resume`;
/// too many consecutive non-finite losses.
pub fn run(
    cfg: &PretrainConfig,
    out: &Path,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    cfg.validate()?;
    let dir = RunDir { root: out.to_path_buf() };
    std::fs::create_dir_all(dir.checkpoints())
        .map_err(|e| Error::Io { path: dir.checkpoints(), source: e })?;
    if let Some(n) = cfg.train.num_threads {
        tch::set_num_threads(n as i32);
    }
    let threads = tch::get_num_threads();
    let placement = Placement::from_config(cfg)?;

    let latest = checkpoint::latest(&dir.checkpoints());
    if latest.is_some() && !opts.resume {
        return Err(Error::Config(format!(
            "{} already holds checkpoints: pass --resume to continue it, or choose another --out",
            out.display()
        )));
    }

    // Networks (seeded initialisation) and optimiser.
    tch::manual_seed((derive(cfg.train.seed, 0, Stream::Init, 0) >> 1) as i64);
    let mut model = SslModel::new(cfg, placement)?;
    let mut optim = build_optimizer(cfg, &model);
    let mut counters = TrainCounters::default();
    if let (true, Some((_, path))) = (opts.resume, &latest) {
        let ck = TrainingCheckpoint::read(path)?;
        if let Some(t) = ck.torch_threads
            && t != threads
        {
            observer.message(&format!(
                "warning: {} was written with {t} libtorch threads, this run uses {threads}: \
                 losses will differ in the last bits from an uninterrupted run (set train.num_threads)",
                path.display()
            ));
        }
        ck.restore(&mut model, &mut optim)?;
        counters = ck.counters;
        observer.message(&format!(
            "resumed from {} (iteration {})",
            path.display(),
            counters.iteration
        ));
    }
    write_atomic(&dir.config(), &cfg.to_toml())?;
    truncate_metrics(&dir.metrics(), counters.iteration)?;

    let schedules = RunSchedules::new(cfg)?;
    let total = cfg.total_iterations();
    let end = cfg.end_iteration();
    let start = counters.iteration;

    let fill: Vec<f32> = cfg.crops.rgb_mean.clone();
    let archive = Arc::new(Archive::open(&cfg.data, cfg.student.in_chans, &fill, cfg.train.seed)?);
    observer.message(&format!(
        "{} raster(s), {:.1} Mpx; student {} params; device {:?}, precision {}, {threads} threads",
        archive.len(),
        archive.total_pixels() / 1e6,
        optim_params(&optim, &model),
        placement.device,
        placement.precision
    ));
    let builder = Arc::new(BatchBuilder::new(archive, cfg)?);
    let evaluator = Evaluator::new(cfg, &dir.eval())?;
    let mut evaluations = Vec::new();
    if let Some(ev) = &evaluator
        && cfg.eval.at_start
        && start == 0
    {
        let r = ev.evaluate(model.result_network(), 0, placement)?;
        observer.message(&r.summary());
        evaluations.push(r);
    }

    observer.started(start, end, total);
    let prefetcher = Prefetcher::start(
        Arc::clone(&builder),
        start,
        end,
        cfg.train.num_workers,
        cfg.train.prefetch,
    );
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.metrics())
        .map_err(|e| Error::Io { path: dir.metrics(), source: e })?;
    let mut consecutive_nan = 0usize;
    let mut last_checkpoint = latest.map(|(_, p)| p);
    let mut last_saved = start;
    let t_run = Instant::now();
    for it in start..end {
        let t0 = Instant::now();
        if cfg.gram.use_loss
            && cfg.gram.it_load_ema_teacher == it as i64
            && model.gram_teacher.is_some()
        {
            model.refresh_gram_teacher()?;
            observer.message(&format!(
                "loaded the EMA teacher into the Gram teacher before iteration {it}"
            ));
        }
        let sv = schedules.at(it);
        let batch = prefetcher.next_batch()?;
        let data_seconds = t0.elapsed().as_secs_f64();
        tch::manual_seed(torch_seed(cfg.train.seed, it as u64));
        optim.zero_grad();
        let out = model.forward_backward(
            &batch,
            sv.teacher_temp,
            StepWeights { w_local: sv.w_local, w_gram: sv.w_gram },
        )?;
        let mut grad_norm = [0.0; 3];
        for (i, (m, _)) in MODULES.iter().enumerate() {
            grad_norm[i] = optim.clip_grad_norm(*m, cfg.optim.clip_grad)?;
        }
        let v = out.losses.values();
        let finite = v.total.is_finite();
        if finite {
            consecutive_nan = 0;
            optim.step(sv.lr, sv.last_layer_lr, sv.weight_decay)?;
            let vals = optim.values();
            model
                .update_ema(sv.momentum, &|n: &str| vals.get(n).map(tch::Tensor::shallow_clone))?;
        } else {
            consecutive_nan += 1;
            observer.message(&format!(
                "non-finite loss at iteration {it} ({consecutive_nan} in a row): step skipped"
            ));
            if consecutive_nan >= cfg.train.max_consecutive_nan {
                return Err(Error::Training(format!(
                    "{consecutive_nan} consecutive non-finite losses (last at iteration {it}); aborting"
                )));
            }
        }
        if schedules.gram_refresh_due(it, counters.gram_updates) {
            model.refresh_gram_teacher()?;
            counters.gram_updates += 1;
            observer.message(&format!(
                "refreshed the Gram teacher from the EMA teacher after iteration {it} ({} so far)",
                counters.gram_updates
            ));
        }
        counters.iteration = it + 1;
        let rec = StepRecord {
            iteration: it,
            total_loss: v.total,
            dino_global: v.dino_global,
            dino_local: v.dino_local,
            ibot: v.ibot,
            koleo: v.koleo,
            gram: v.gram,
            gram_masked: out.gram_stats.map(|s| s.0),
            gram_unmasked: out.gram_stats.map(|s| s.1),
            lr: sv.lr,
            last_layer_lr: sv.last_layer_lr,
            weight_decay: sv.weight_decay,
            momentum: sv.momentum,
            teacher_temp: sv.teacher_temp,
            w_local: sv.w_local,
            w_gram: sv.w_gram,
            grad_norm,
            n_masked: out.n_masked,
            crop_sizes: (batch.triplet.global, batch.triplet.local, batch.triplet.gram),
            rejected_chips: batch.rejected,
            gram_updates: counters.gram_updates,
            stepped: finite,
            seconds: t0.elapsed().as_secs_f64(),
            data_seconds,
        };
        let mut line = serde_json::to_string(&rec).expect("plain record");
        line.push('\n');
        metrics
            .write_all(line.as_bytes())
            .and_then(|_| metrics.flush())
            .map_err(|e| Error::Io { path: dir.metrics(), source: e })?;
        observer.step(&rec);

        let done = it + 1;
        if done % cfg.checkpoint.period == 0 {
            let p = dir.checkpoints().join(checkpoint::file_name(done));
            checkpoint::save(&p, &model, &optim, counters, threads)?;
            checkpoint::keep_last(
                &dir.checkpoints(),
                cfg.checkpoint.max_to_keep,
                cfg.checkpoint.keep_every,
            )?;
            observer.message(&format!("checkpoint {}", p.display()));
            last_checkpoint = Some(p);
            last_saved = done;
        }
        if cfg.eval.plot_period > 0 && done % cfg.eval.plot_period == 0 {
            crate::report::loss_plot(&dir.metrics(), &dir.loss_plot())?;
        }
        if let Some(ev) = &evaluator
            && cfg.eval.eval_period_iterations > 0
            && done % cfg.eval.eval_period_iterations == 0
        {
            let r = ev.evaluate(model.result_network(), done, placement)?;
            observer.message(&r.summary());
            evaluations.push(r);
        }
    }
    drop(prefetcher);
    if end > start {
        if cfg.checkpoint.save_final && last_saved != end {
            let p = dir.checkpoints().join(checkpoint::file_name(end));
            checkpoint::save(&p, &model, &optim, counters, threads)?;
            checkpoint::keep_last(
                &dir.checkpoints(),
                cfg.checkpoint.max_to_keep,
                cfg.checkpoint.keep_every,
            )?;
            observer.message(&format!("checkpoint {}", p.display()));
            last_checkpoint = Some(p);
        }
        crate::report::loss_plot(&dir.metrics(), &dir.loss_plot())?;
        if let Some(ev) = &evaluator
            && evaluations.last().is_none_or(|r| r.iteration != end)
        {
            let r = ev.evaluate(model.result_network(), end, placement)?;
            observer.message(&r.summary());
            evaluations.push(r);
        }
    }
    let secs = t_run.elapsed().as_secs_f64();
    Ok(RunSummary {
        start,
        end,
        last_checkpoint,
        evaluations,
        iterations_per_second: if secs > 0.0 { (end - start) as f64 / secs } else { 0.0 },
    })
}

fn optim_params(optim: &AdamW, model: &SslModel) -> String {
    let _ = optim;
    let n: i64 = model.student.parameters().iter().map(|(_, t)| t.numel() as i64).sum();
    if n >= 1_000_000 {
        format!("{:.2}M", n as f64 / 1e6)
    } else {
        format!("{:.1}k", n as f64 / 1e3)
    }
}
