//! `geodino train-head`: train a canopy-height or land-cover head on a frozen backbone
//! (`geodino_train::heads`, `docs/head-training.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use geodino_train::heads::config::{HeadTask, HeadTrainConfig, LabelResampling};
use geodino_train::heads::data::Pair;
use geodino_train::heads::{HeadObserver, HeadStepRecord, HeadTrainInputs, train_head};

/// Arguments of `geodino train-head`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `canopy-height` or `landcover` (overrides the configuration's `task`).
    #[arg(long)]
    pub task: Option<String>,
    /// Training images (repeatable), paired in order with `--labels`.
    #[arg(long = "images", value_name = "TIF", num_args = 1.., required = true)]
    pub images: Vec<PathBuf>,
    /// Label rasters on the images' grids: heights in metres, or class values.
    #[arg(long = "labels", value_name = "TIF", num_args = 1.., required = true)]
    pub labels: Vec<PathBuf>,
    /// The frozen backbone: `geodino export-backbone` output, an official checkpoint, or a
    /// pretraining checkpoint.
    #[arg(long, value_name = "WEIGHTS")]
    pub backbone: PathBuf,
    /// A TOML configuration (`configs/heads/…`); defaults otherwise.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Held-out images scored after training (paired with `--eval-labels`).
    #[arg(long = "eval-images", value_name = "TIF", num_args = 1..)]
    pub eval_images: Vec<PathBuf>,
    /// Labels of the held-out images.
    #[arg(long = "eval-labels", value_name = "TIF", num_args = 1..)]
    pub eval_labels: Vec<PathBuf>,
    /// Run folder (checkpoints, metrics.jsonl, loss.png, head.safetensors, eval.json).
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Continue from the run folder's latest checkpoint (its config.toml is used).
    #[arg(long)]
    pub resume: bool,
    /// Also copy the trained head file here.
    #[arg(long, value_name = "HEAD")]
    pub head_out: Option<PathBuf>,
    /// Warp label rasters on another grid onto their image's grid with GDAL (needs the `gdal`
    /// feature): `auto` (the default when the flag has no value: nearest for land cover,
    /// average for heights), `nearest`, `mode`, `average`, `bilinear`, `cubic`, or `none`.
    /// Overrides `data.resample_labels`.
    #[arg(long, value_name = "METHOD", num_args = 0..=1, default_missing_value = "auto")]
    pub resample_labels: Option<String>,
}

struct Progress {
    bar: indicatif::ProgressBar,
    quiet: bool,
}

impl HeadObserver for Progress {
    fn started(&mut self, start: usize, end: usize) {
        self.bar.set_length(end as u64);
        self.bar.set_position(start as u64);
        self.bar.reset_eta();
        self.bar.println(format!("training iterations {start}..{end}"));
    }

    fn step(&mut self, r: &HeadStepRecord) {
        self.bar.set_position(r.iteration as u64 + 1);
        let extra = match (r.mae_m, r.accuracy) {
            (Some(m), _) => format!(" batch MAE {m:.2} m"),
            (_, Some(a)) => format!(" batch accuracy {a:.3}"),
            _ => String::new(),
        };
        self.bar.set_message(format!("loss {:.4}{extra} lr {:.2e}", r.loss, r.lr));
        if self.quiet && (r.iteration + 1).is_multiple_of(100) {
            eprintln!("iteration {} loss {:.5}{extra}", r.iteration + 1, r.loss);
        }
    }

    fn message(&mut self, msg: &str) {
        // indicatif drops println on a hidden bar: print directly when stderr is not a terminal.
        if self.quiet {
            if !msg.starts_with("features cached") {
                eprintln!("{msg}");
            }
        } else {
            self.bar.println(msg);
        }
    }
}

fn pairs(images: &[PathBuf], labels: &[PathBuf], what: &str) -> anyhow::Result<Vec<Pair>> {
    if images.len() != labels.len() {
        bail!(
            "{} {what} images but {} label rasters: give one label raster per image, in the same order",
            images.len(),
            labels.len()
        );
    }
    Ok(images
        .iter()
        .zip(labels)
        .map(|(i, l)| Pair { image: i.clone(), labels: l.clone() })
        .collect())
}

fn load_config(a: &Args) -> anyhow::Result<HeadTrainConfig> {
    let saved = a.out.join("config.toml");
    let mut cfg = if a.resume && saved.is_file() {
        HeadTrainConfig::load(&saved)?
    } else if let Some(c) = &a.config {
        HeadTrainConfig::load(c)?
    } else {
        HeadTrainConfig::default()
    };
    if let Some(t) = &a.task {
        let t: HeadTask = t.parse()?;
        if a.resume && saved.is_file() && t != cfg.task {
            bail!("{}: the run trains {:?}, not {t:?}", saved.display(), cfg.task);
        }
        cfg.task = t;
    }
    if let Some(r) = &a.resample_labels {
        let r: LabelResampling = r.parse()?;
        if a.resume && saved.is_file() && r != cfg.data.resample_labels {
            bail!(
                "{}: the run resamples labels with {:?}, not {r:?} (the chips must not change)",
                saved.display(),
                cfg.data.resample_labels
            );
        }
        cfg.data.resample_labels = r;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn print_eval(s: &geodino_train::heads::SceneEval) {
    let name = s.image.display();
    if let (Some(m), Some(b)) = (&s.canopy, &s.canopy_baseline) {
        eprintln!(
            "{name}: MAE {:.2} m (training-mean baseline {:.2} m, ratio {:.2}), RMSE {:.2} m, R² {:.3}, bias {:+.2} m",
            m.mae,
            b.mae,
            m.mae / b.mae,
            m.rmse,
            m.r2,
            m.bias
        );
    }
    if let (Some(m), Some(b)) = (&s.landcover, &s.landcover_baseline) {
        eprintln!(
            "{name}: mIoU {:.3} (majority-class baseline {:.3}), overall accuracy {:.3} (baseline {:.3}), κ {:.3}",
            m.miou, b.miou, m.overall_accuracy, b.overall_accuracy, m.kappa
        );
    }
}

fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    let dir = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    std::fs::copy(from, &tmp)
        .with_context(|| format!("{} -> {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| to.display().to_string())?;
    Ok(())
}

/// Run `geodino train-head`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = load_config(&a)?;
    let inputs = HeadTrainInputs {
        train: pairs(&a.images, &a.labels, "training")?,
        eval: pairs(&a.eval_images, &a.eval_labels, "held-out")?,
        backbone: a.backbone.clone(),
        resume: a.resume,
    };
    let (bar, quiet) = super::pretrain::iteration_bar(cfg.optim.iterations as u64);
    let mut obs = Progress { bar, quiet };
    let s = train_head(&cfg, &inputs, &a.out, &mut obs)
        .with_context(|| format!("training a head into {}", a.out.display()))?;
    obs.bar.finish_and_clear();
    eprintln!(
        "done: iterations {}..{}; features cached in {:.1} s, trained in {:.1} s; head {}",
        s.start,
        s.end,
        s.cache_seconds,
        s.train_seconds,
        s.head.display()
    );
    if let Some(m) = s.train_mean {
        eprintln!("training mean height {m:.3} m");
    }
    if let Some(c) = s.majority_class {
        eprintln!("majority training class {c}");
    }
    for e in &s.eval {
        print_eval(e);
    }
    if let Some(h) = &a.head_out {
        copy_atomic(&s.head, h)?;
        eprintln!("head copied to {}", h.display());
    }
    Ok(())
}
