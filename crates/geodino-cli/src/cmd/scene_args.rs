//! Flags and plumbing shared by the whole-scene commands (`canopy-height`, `geodino landcover`,
//! `geodino embed`): tiling, device and precision, bands and scaling, the progress bar, and the
//! bundled demo model. Also compiled into the `canopy-height` binary (`#[path]`), so it names
//! only external crates.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use geodino_heads::Task;
use geodino_infer::scene::SceneReport;
use geodino_infer::{
    Blend, EngineOptions, HeadModel, ModelOptions, Progress, Scaling, SceneOptions,
};
use geodino_nn::Precision;
use tch::Device;

/// Flags of every whole-scene command.
#[derive(Debug, Clone, clap::Args)]
pub struct SceneArgs {
    /// Tile edge in pixels (a multiple of the patch size, 16).
    #[arg(long, default_value_t = 512, value_name = "PIXELS")]
    pub tile: usize,
    /// Overlap between neighbouring tiles in pixels (blended, so the output has no seams).
    #[arg(long, default_value_t = 128, value_name = "PIXELS")]
    pub overlap: usize,
    /// Tiles per forward pass (default: 2 on the CPU, 8 on a GPU).
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Blending window across tile overlaps: cosine, gaussian, or average (plain averaging,
    /// leaves seams; for comparison).
    #[arg(long, default_value = "cosine")]
    pub blend: String,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Compute precision: f32, bf16, or auto (bf16 on a GPU; on the CPU see docs/inference.md).
    #[arg(long, default_value = "auto")]
    pub precision: String,
    /// 1-based input bands in model order, e.g. 1,2,3 (default: all bands when the count fits,
    /// else the red, green and blue bands).
    #[arg(long, value_name = "LIST")]
    pub bands: Option<String>,
    /// Sensor preset scaling digital numbers to [0, 1]: uint8, naip, maxar, sentinel2-l2a,
    /// sentinel2-l1c, landsat-c2-l2, uint16.
    #[arg(long, value_name = "NAME", conflicts_with = "scale")]
    pub sensor: Option<String>,
    /// Divide digital numbers by this (after subtracting --offset) to get [0, 1]; default 255
    /// for 8-bit inputs, 1 for float inputs.
    #[arg(long, value_name = "N")]
    pub scale: Option<f32>,
    /// Subtracted from digital numbers before --scale.
    #[arg(long, value_name = "N", default_value_t = 0.0, requires = "scale")]
    pub offset: f32,
    /// Resample the input to this ground sample distance in metres first (0.6 for the
    /// SAT-493M models); the output is then on the resampled grid.
    #[arg(long, value_name = "M")]
    pub target_gsd: Option<f64>,
    /// libtorch CPU threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Replace existing outputs.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the run's report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The CPU default precision (see docs/inference.md, "Precision"): bf16 only where measured to
/// pay on this machine class.
pub const CPU_DEFAULT_PRECISION: Precision = Precision::F32;

impl SceneArgs {
    /// Device and precision.
    pub fn model_options(&self) -> anyhow::Result<ModelOptions> {
        let device = geodino_nn::parse_device(&self.device)?;
        let precision = match self.precision.to_ascii_lowercase().as_str() {
            "auto" => match device {
                Device::Cpu => CPU_DEFAULT_PRECISION,
                _ => Precision::Bf16,
            },
            p => p.parse::<Precision>()?,
        };
        if let Some(n) = self.threads {
            tch::set_num_threads(n.max(1) as i32);
        }
        Ok(ModelOptions { device, precision })
    }

    /// Engine and job options.
    pub fn scene_options(
        &self,
        device: Device,
        preview: Option<PathBuf>,
    ) -> anyhow::Result<SceneOptions> {
        let blend: Blend = self.blend.parse()?;
        let bands = self.bands.as_deref().map(geodino_infer::input::parse_bands).transpose()?;
        let scaling = match (&self.sensor, self.scale) {
            (Some(s), _) => Some(Scaling::sensor(s)?),
            (None, Some(scale)) => {
                if !(scale.is_finite() && scale != 0.0) {
                    bail!("--scale {scale}: must be finite and non-zero");
                }
                Some(Scaling { offset: self.offset, scale, clamp: true })
            }
            (None, None) => None,
        };
        let batch = self.batch.unwrap_or(if device == Device::Cpu { 2 } else { 8 });
        Ok(SceneOptions {
            bands,
            scaling,
            target_gsd: self.target_gsd,
            engine: EngineOptions {
                tile: self.tile,
                overlap: self.overlap,
                batch,
                blend,
                ..EngineOptions::default()
            },
            overwrite: self.overwrite,
            preview,
            title: None,
        })
    }
}

/// A progress bar over tiles with throughput and ETA (hidden with `--quiet`).
pub fn tile_bar(quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} tiles ({per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Progress callback feeding `bar`.
pub fn on_progress(bar: &indicatif::ProgressBar) -> impl Fn(Progress) + Sync + '_ {
    move |p: Progress| {
        if bar.length() != Some(p.tiles_total as u64) {
            bar.set_length(p.tiles_total as u64);
        }
        bar.set_position(p.tiles_done as u64);
    }
}

/// The bundled demo model's folder, relative to the current directory and to the repository this
/// binary was built from.
pub const DEMO_MODEL_DIR: &str = "data-samples/demo-model";
/// The demo backbone's file name in [`DEMO_MODEL_DIR`].
pub const DEMO_BACKBONE: &str = "backbone.safetensors";
/// The demo canopy-height head's file name in [`DEMO_MODEL_DIR`].
#[allow(dead_code)] // this file is compiled into both binaries; each uses one head
pub const DEMO_CANOPY_HEAD: &str = "canopy-head.safetensors";
/// The demo land-cover head's file name in [`DEMO_MODEL_DIR`].
#[allow(dead_code)] // this file is compiled into both binaries; each uses one head
pub const DEMO_LANDCOVER_HEAD: &str = "landcover-head.safetensors";

/// Where the bundled demo model's `file` is looked for, in order: `data-samples/demo-model/`
/// under the current directory, then the same folder in the workspace this binary was built
/// from. `$GEODINO_DEMO_MODEL` (a folder) replaces both.
pub fn demo_candidates(file: &str) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = match std::env::var_os("GEODINO_DEMO_MODEL") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from(DEMO_MODEL_DIR),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(DEMO_MODEL_DIR),
        ],
    };
    dirs.into_iter().map(|d| d.join(file)).collect()
}

/// The first existing demo `file` (see [`demo_candidates`]).
fn find_demo(file: &str) -> Option<PathBuf> {
    demo_candidates(file).into_iter().find(|p| p.is_file())
}

/// Resolve `--weights` / `--head`: given flags win; a missing one is taken from the bundled
/// demo model (`head_file` is [`DEMO_CANOPY_HEAD`] or [`DEMO_LANDCOVER_HEAD`]); when that is
/// not there either, an error saying which flag to pass and where the demo model was looked for.
pub fn resolve_model(
    weights: Option<&Path>,
    head: Option<&Path>,
    head_file: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let pick = |given: Option<&Path>, file: &str, flag: &str| -> anyhow::Result<PathBuf> {
        if let Some(p) = given {
            return Ok(p.to_path_buf());
        }
        if let Some(p) = find_demo(file) {
            return Ok(p);
        }
        let looked: Vec<String> =
            demo_candidates(file).iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no {flag} given and the bundled demo model is not there (looked for {}); pass \
             --weights BACKBONE --head HEAD, e.g. the SAT-493M ViT-L/16 and the CHMv2 head \
             (docs/inference.md)",
            looked.join(", ")
        )
    };
    let w = pick(weights, DEMO_BACKBONE, "--weights")?;
    let h = pick(head, head_file, "--head")?;
    if weights.is_none() || head.is_none() {
        eprintln!("model: backbone {}, head {}", w.display(), h.display());
    }
    Ok((w, h))
}

/// Load backbone + head and run the head's job over `input`, with a progress bar and a summary
/// on stderr. `task` is what the command promises (a land-cover head given to `canopy-height`
/// is refused, and the other way round).
pub fn run_head_job(
    input: &Path,
    output: &Path,
    weights: &Path,
    head: &Path,
    task: Task,
    dtype: geodino_infer::HeightDtype,
    preview: Option<PathBuf>,
    args: &SceneArgs,
) -> anyhow::Result<SceneReport> {
    let mo = args.model_options()?;
    let t0 = Instant::now();
    let model = HeadModel::load(weights, head, &mo)?;
    if model.spec().task != task {
        let (want, have) = match task {
            Task::CanopyHeight => ("canopy-height", "land-cover"),
            Task::LandCover => ("land-cover", "canopy-height"),
        };
        bail!(
            "{}: this is a {have} head; this command needs a {want} head{}",
            head.display(),
            if task == Task::CanopyHeight {
                " (use `geodino landcover` for land-cover heads)"
            } else {
                " (use `canopy-height` for canopy-height heads)"
            }
        );
    }
    let load_s = t0.elapsed().as_secs_f64();
    let opts = args.scene_options(mo.device, preview.clone())?;
    let product = geodino_infer::product_for(&model, dtype);
    let bar = tile_bar(
        args.quiet,
        &output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    );
    let report =
        geodino_infer::predict_scene(input, output, &model, product, &opts, &on_progress(&bar))
            .with_context(|| format!("{} → {}", input.display(), output.display()))?;
    bar.finish_and_clear();
    print_summary(&report, load_s, &mo, &opts, preview.as_deref());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(report)
}

/// One paragraph on stderr: what was written, how fast, where the time went.
pub fn print_summary(
    r: &SceneReport,
    load_s: f64,
    mo: &ModelOptions,
    opts: &SceneOptions,
    preview: Option<&Path>,
) {
    let run = &r.run;
    eprintln!(
        "wrote {} ({}x{}) from {} ({}x{} px{}, bands {:?})",
        r.output.display(),
        r.output_size.0,
        r.output_size.1,
        r.input.display(),
        r.grid_size.0,
        r.grid_size.1,
        r.gsd.map(|g| format!(" at {g:.3} m")).unwrap_or_default(),
        r.bands
    );
    eprintln!(
        "{} tiles of {} px (overlap {}, {} blend, batch {}) on {:?} in {:?}: {:.1} s \
         ({:.2} MPix/s; forward {:.1} s, waited {:.1} s for input; model load {:.1} s)",
        run.tiles,
        opts.engine.tile,
        opts.engine.overlap,
        opts.engine.blend,
        opts.engine.batch,
        mo.device,
        mo.precision,
        run.wall_s,
        run.mpix_per_s(),
        run.forward_s,
        run.wait_input_s,
        load_s
    );
    let s = &r.stats;
    if let (Some(lo), Some(hi), Some(mean)) = (s.min, s.max, s.mean) {
        eprintln!(
            "heights: min {lo:.2} m, mean {mean:.2} m, max {hi:.2} m; {} nodata pixel(s)",
            s.nodata_pixels
        );
    } else if !s.class_pixels.is_empty() {
        let total: u64 = s.class_pixels.iter().sum();
        let shares: Vec<String> = s
            .class_pixels
            .iter()
            .map(|&c| format!("{:.1}%", 100.0 * c as f64 / total.max(1) as f64))
            .collect();
        eprintln!("class shares: {}; {} nodata pixel(s)", shares.join(", "), s.nodata_pixels);
    }
    if let Some(p) = preview {
        eprintln!("preview: {}", p.display());
    }
    if let Some(g) = r.gsd
        && opts.target_gsd.is_none()
        && !(0.3..=1.2).contains(&g)
    {
        eprintln!(
            "note: the input's pixels are {g:.3} map units; the released models were trained at \
             0.6 m (consider --target-gsd 0.6 for a projected CRS in metres)"
        );
    }
}
