//! `geodino head-run`: run a backbone and a dense head on every image batch stored in a
//! safetensors file and write the head's outputs to another — the verification entry point of
//! the heads (compare with the official implementation's outputs). Its interface is stable.
//!
//! For every rank-4 tensor `K` of the input (normalised images `(b, c, h, w)`), the output holds
//! `K.logits` (f32, bin or class logits), and `K.height` (f32 metres, canopy heads) or
//! `K.classes` (int64 argmax, land-cover heads), all `(b, ·, H, W)` at the size `--output` asks.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_heads::{DenseHead, Head, HeadOptions, OutputSize, Task};
use geodino_nn::{Precision, parse_device};
use geodino_weights::StateDict;
use tch::{Kind, Tensor};

/// Arguments of `geodino head-run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Backbone checkpoint: official DINOv3 `.pth`, geodino / official / Hugging Face safetensors.
    #[arg(long, value_name = "FILE")]
    pub backbone: PathBuf,
    /// Head: a geodino head file, or an official head checkpoint (e.g.
    /// `dinov3_vitl16_chmv2_dpt_head-3703d643.pth`; architecture inferred from its tensors).
    #[arg(long, value_name = "FILE")]
    pub head: PathBuf,
    /// safetensors file of normalised images: every rank-4 tensor `(b, c, h, w)` is run.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Output safetensors file (written atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Backbone layers the head reads, e.g. `0,1,2,3` (negative counts from the end). Default:
    /// the head file's (CHMv2: 5,11,17,23).
    #[arg(long, value_name = "LIST", value_delimiter = ',', allow_hyphen_values = true)]
    pub layers: Option<Vec<i64>>,
    /// Output size: `padded` (the centre-padded input's size, as the reference depther
    /// returns it), `crop` (the input's pixels), `resize` (bilinear to the input size, as the
    /// CHMv2 notebook), `raw` (the decoder's own output).
    #[arg(long, value_name = "SIZE", default_value = "padded")]
    pub output: String,
    /// For head checkpoints without a geodino description: the preset giving task, bins,
    /// layers and normalisation (`chmv2`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Precision of backbone and head: f32 or bf16 (bins always in f32).
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Images per forward pass (default: each tensor in one pass).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
}

/// Run `geodino head-run`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let size: OutputSize = a.output.parse()?;
    let precision: Precision = a.precision.parse()?;
    let device = parse_device(&a.device)?;
    if a.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let inputs = geodino_weights::read_safetensors(&a.input)
        .with_context(|| format!("reading the images in {}", a.input.display()))?;
    let keys: Vec<String> =
        inputs.iter().filter(|(_, t)| t.shape().len() == 4).map(|(k, _)| k.clone()).collect();
    if keys.is_empty() {
        bail!("{}: no rank-4 tensor (b, c, h, w) to run", a.input.display());
    }
    let bopts = CheckpointOptions { device, precision, ..Default::default() };
    let backbone = Dinov3Backbone::from_checkpoint(&a.backbone, &bopts)
        .with_context(|| format!("loading the backbone {}", a.backbone.display()))?;
    let hopts = HeadOptions {
        preset: a.preset.clone(),
        layers: a.layers.clone(),
        device,
        precision,
        ..Default::default()
    };
    let head = DenseHead::from_file(&a.head, &hopts)
        .with_context(|| format!("loading the head {}", a.head.display()))?;
    head.check_backbone(&backbone)
        .with_context(|| format!("{} does not fit {}", a.head.display(), a.backbone.display()))?;

    let total: u64 = keys.iter().map(|k| inputs.get(k).map_or(0, |t| t.shape()[0] as u64)).sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "head-run [{elapsed_precise}] {wide_bar} {pos}/{len} images (ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut out = StateDict::new();
    for key in &keys {
        let t = inputs.get(key).expect("listed");
        if !t.dtype().is_float() {
            bail!(
                "{}: tensor {key} is {}, expected floating-point images",
                a.input.display(),
                t.dtype()
            );
        }
        let x = geodino_nn::to_tensor(t)?.to_kind(Kind::Float);
        let b = x.size()[0];
        let step = a.batch_size.map_or(b.max(1), |n| n as i64);
        let (mut logits, mut heights) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < b {
            let n = step.min(b - start);
            let o = head
                .run(&backbone, &x.narrow(0, start, n), size)
                .with_context(|| format!("{}: tensor {key}", a.input.display()))?;
            logits.push(o.logits.to_device(tch::Device::Cpu));
            if let Some(h) = o.height {
                heights.push(h.to_device(tch::Device::Cpu));
            }
            start += n;
            bar.inc(n as u64);
        }
        let logits = Tensor::cat(&logits, 0);
        match head.spec().task {
            Task::CanopyHeight => {
                out.insert(
                    format!("{key}.height"),
                    geodino_nn::from_tensor(&Tensor::cat(&heights, 0))?,
                );
            }
            Task::LandCover => {
                out.insert(
                    format!("{key}.classes"),
                    geodino_nn::from_tensor(&logits.argmax(1, true))?,
                );
            }
        }
        out.insert(format!("{key}.logits"), geodino_nn::from_tensor(&logits)?);
    }
    bar.finish_and_clear();
    out.metadata.insert("format".into(), "geodino-head-run".into());
    out.metadata.insert(geodino_heads::HEAD_METADATA_KEY.into(), head.spec().to_json());
    out.metadata.insert("output_size".into(), a.output.to_ascii_lowercase());
    out.metadata.insert("precision".into(), precision.to_string());
    geodino_weights::write_safetensors(&a.out, &out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let layers = head.spec().resolve_layers(geodino_nn::Backbone::n_blocks(&backbone))?;
    eprintln!(
        "head-run: {total} image(s) in {} tensor(s), layers {layers:?}, {precision}, {} → {}",
        keys.len(),
        a.output.to_ascii_lowercase(),
        a.out.display()
    );
    Ok(())
}
