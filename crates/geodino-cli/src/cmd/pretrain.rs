//! `geodino pretrain`: DINOv3 self-supervised pretraining on a raster archive (docs/pretraining.md).

use std::path::PathBuf;

use anyhow::Context as _;
use geodino_train::trainer::{Observer, RunOptions, StepRecord};
use geodino_train::{PretrainConfig, config::PRESETS};

/// Arguments of `geodino pretrain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A preset (smoke, vitl16_sat, vitl16_sat_gram, vitl16_sat_highres, distill_vits16_sat,
    /// vit7b16_sat) or a TOML file. With --resume and no --config, the run folder's config.
    #[arg(long, value_name = "PRESET|FILE")]
    pub config: Option<String>,
    /// Training rasters: paths, globs (quote them: 'tiles/**/*.tif') or manifest files (.txt/.lst,
    /// one path or glob per line). Repeatable; replaces data.paths.
    #[arg(long, value_name = "GLOB|MANIFEST")]
    pub data: Vec<String>,
    /// The run folder (config.toml, metrics.jsonl, checkpoints/, loss.png, eval/).
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Continue from the latest checkpoint in RUN.
    #[arg(long)]
    pub resume: bool,
    /// Override a config key, e.g. --set optim.epochs=10 --set train.device=cpu (typed; unknown
    /// keys are rejected). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the resolved configuration and exit.
    #[arg(long)]
    pub print_config: bool,
    /// List the presets and exit.
    #[arg(long)]
    pub list_presets: bool,
}

/// A bar over `len` training iterations with elapsed time and ETA, and whether the run is quiet
/// (stderr is not a terminal: the bar is hidden and progress goes to periodic log lines).
pub(crate) fn iteration_bar(len: u64) -> (indicatif::ProgressBar, bool) {
    let quiet = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{elapsed_precise}] {wide_bar} {pos}/{len} (ETA {eta}) {msg}",
        )
        .expect("valid template"),
    );
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    (bar, quiet)
}

struct Progress {
    bar: indicatif::ProgressBar,
    log_period: usize,
    quiet: bool,
}

impl Observer for Progress {
    fn started(&mut self, start: usize, end: usize, total: usize) {
        self.bar.set_length(end as u64);
        self.bar.set_position(start as u64);
        self.bar.reset_eta();
        self.message(&format!("training iterations {start}..{end} of {total}"));
    }

    fn step(&mut self, r: &StepRecord) {
        self.bar.set_position(r.iteration as u64 + 1);
        if (r.iteration + 1).is_multiple_of(self.log_period.max(1)) {
            let gram = r.gram.map(|g| format!(" gram {g:.4}")).unwrap_or_default();
            let ips = if r.seconds > 0.0 { 1.0 / r.seconds } else { 0.0 };
            self.bar.set_message(format!(
                "loss {:.4} (dino {:.3}/{:.3} ibot {:.3} koleo {:.3}{gram}) lr {:.2e} {ips:.2} it/s",
                r.total_loss, r.dino_global, r.dino_local, r.ibot, r.koleo, r.lr
            ));
        }
        if self.quiet && (r.iteration + 1).is_multiple_of((self.log_period * 10).max(1)) {
            eprintln!("iteration {} loss {:.5} lr {:.3e}", r.iteration + 1, r.total_loss, r.lr);
        }
    }

    fn message(&mut self, msg: &str) {
        // `println` on a hidden bar (stderr not a terminal: logs, CI) prints nothing; `suspend`
        // prints above a visible bar and plainly otherwise.
        self.bar.suspend(|| eprintln!("{msg}"));
    }
}

/// Run `geodino pretrain`.
pub fn run(a: Args) -> anyhow::Result<()> {
    if a.list_presets {
        for (name, text) in PRESETS {
            let first = text.lines().next().unwrap_or("").trim_start_matches('#').trim();
            println!("{name:20} {first}");
        }
        return Ok(());
    }
    let mut overrides = a.set.clone();
    if !a.data.is_empty() {
        let list: Vec<String> = a.data.iter().map(|d| format!("{d:?}")).collect();
        overrides.insert(0, format!("data.paths=[{}]", list.join(", ")));
    }
    let cfg = match (&a.config, a.resume) {
        (Some(c), _) => PretrainConfig::load(c, &overrides)?,
        (None, true) => geodino_train::trainer::resume_config(&a.out, &overrides)?,
        (None, false) => anyhow::bail!("give --config PRESET|FILE (or --resume an existing run)"),
    };
    if a.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let (bar, quiet) = iteration_bar(cfg.end_iteration() as u64);
    let mut obs = Progress { bar, log_period: cfg.eval.log_period, quiet };
    let summary = geodino_train::run(&cfg, &a.out, &RunOptions { resume: a.resume }, &mut obs)
        .with_context(|| format!("pretraining into {}", a.out.display()))?;
    obs.bar.finish_and_clear();
    eprintln!(
        "done: iterations {}..{} at {:.2} it/s; last checkpoint {}",
        summary.start,
        summary.end,
        summary.iterations_per_second,
        summary.last_checkpoint.map(|p| p.display().to_string()).unwrap_or_else(|| "-".into())
    );
    for e in &summary.evaluations {
        eprintln!("{}", e.summary());
    }
    Ok(())
}
