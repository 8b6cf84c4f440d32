//! `geodino backbone-run`: run a DINOv3 backbone on the images of a safetensors file and write
//! every output — the verification and debugging entry point (its output names are stable).
//!
//! Also home of [`WeightsArgs`] / [`load_backbone`], the weights options every model command
//! shares (`--weights`, `--config`, `--in-chans`, `--device`, `--precision`, …).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use geodino_dinov3::{CheckpointOptions, Dinov3Backbone, ViTConfig};
use geodino_nn::{Backbone, Precision, from_tensor, to_tensor};
use geodino_weights::{StateDict, TensorData};
use tch::{Kind, Tensor};

/// Options that select and load backbone weights; flatten into any command that needs them.
#[derive(Debug, Clone, clap::Args)]
pub struct WeightsArgs {
    /// Backbone checkpoint: official `.pth` (or a training checkpoint), official or geodino
    /// safetensors, or Hugging Face `model.safetensors`.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Architecture: a preset (vits16, vits16plus, vitb16, vitl16, vitl16plus, vith16plus,
    /// vit7b16) or a JSON config file. Default: stored in the file, else inferred from it.
    #[arg(long, value_name = "PRESET|FILE")]
    pub config: Option<String>,
    /// Entry of a training checkpoint holding the state dict (teacher, model, …).
    #[arg(long, value_name = "KEY")]
    pub checkpoint_key: Option<String>,
    /// Number of heads, for Hugging Face files without a config.json beside them.
    #[arg(long, value_name = "N")]
    pub num_heads: Option<usize>,
    /// Number of input bands: inflate an RGB patch embedding to N bands (new bands get the mean
    /// RGB filter). Inputs are then N-band images normalised per band.
    #[arg(long, value_name = "N")]
    pub in_chans: Option<usize>,
    /// With --in-chans: do not rescale the inflated weight by 3/N.
    #[arg(long)]
    pub no_inflate_rescale: bool,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Precision of the matrix products: f32 (reference), bf16, f16 (GPU). RoPE, norms and
    /// the residual stream stay f32, as under torch.autocast.
    #[arg(long, default_value = "f32", value_name = "P")]
    pub precision: String,
}

/// Parse `--config` (preset name or JSON file).
///
/// # Errors
/// Unknown preset, unreadable file, invalid JSON config.
pub fn parse_config(s: &str) -> anyhow::Result<ViTConfig> {
    let p = Path::new(s);
    if p.extension().is_some_and(|e| e == "json") || p.is_file() {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("--config {}", p.display()))?;
        return ViTConfig::from_json(&text).with_context(|| format!("--config {}", p.display()));
    }
    Ok(ViTConfig::preset(s)?)
}

impl WeightsArgs {
    /// The loader options these arguments describe.
    ///
    /// # Errors
    /// Bad `--config`, `--device` or `--precision`.
    pub fn options(&self) -> anyhow::Result<CheckpointOptions> {
        Ok(CheckpointOptions {
            checkpoint_key: self.checkpoint_key.clone(),
            config: self.config.as_deref().map(parse_config).transpose()?,
            num_heads: self.num_heads,
            in_chans: self.in_chans,
            inflate_rescale: !self.no_inflate_rescale,
            device: geodino_nn::parse_device(&self.device).context("--device")?,
            precision: self.precision.parse::<Precision>().context("--precision")?,
        })
    }
}

/// Load the backbone the arguments describe (strict; every bad key is named).
///
/// # Errors
/// Any loading error, with the weights file named.
pub fn load_backbone(args: &WeightsArgs) -> anyhow::Result<Dinov3Backbone> {
    let opts = args.options()?;
    let bb = Dinov3Backbone::from_checkpoint(&args.weights, &opts)
        .with_context(|| format!("loading backbone weights {}", args.weights.display()))?;
    let c = bb.config();
    eprintln!(
        "backbone: {} (D={} L={} heads={} ffn={:?}/{} registers={} in_chans={}) {} on {:?}",
        args.weights.display(),
        c.embed_dim,
        c.depth,
        c.num_heads,
        c.ffn_layer,
        c.ffn_hidden(),
        c.n_storage_tokens,
        c.in_chans,
        bb.precision(),
        bb.device()
    );
    Ok(bb)
}

/// Arguments of `geodino backbone-run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Backbone weights and how to run them.
    #[command(flatten)]
    pub weights: WeightsArgs,
    /// safetensors file of already-normalised images: every rank-4 float tensor `K`
    /// `(b, c, h, w)` is run; an optional `K.mask` `(b, h·w)` (1 = masked) adds a masked run.
    #[arg(long, value_name = "IN.safetensors")]
    pub input: PathBuf,
    /// Output safetensors (written atomically).
    #[arg(long, value_name = "OUT.safetensors")]
    pub out: PathBuf,
    /// 0-based blocks whose (normed) outputs to write as `K.intermediate.<i>.{patch,cls}`.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub layers: Vec<usize>,
    /// Images per forward pass (outputs are concatenated).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
}

fn float_images(sd: &StateDict) -> Vec<String> {
    sd.iter()
        .filter(|(k, t)| t.shape().len() == 4 && t.dtype().is_float() && !k.ends_with(".mask"))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Run `geodino backbone-run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let inputs = geodino_weights::read_safetensors(&args.input)
        .with_context(|| format!("reading --input {}", args.input.display()))?;
    let keys = float_images(&inputs);
    if keys.is_empty() {
        bail!("{}: no rank-4 float tensor (b, c, h, w) to run", args.input.display());
    }
    let bb = load_backbone(&args.weights)?;
    if let Some(&bad) = args.layers.iter().find(|&&l| l >= bb.n_blocks()) {
        bail!("--layers {bad}: the backbone has blocks 0 to {}", bb.n_blocks() - 1);
    }
    let total: u64 = keys.iter().map(|k| inputs.get(k).expect("listed").shape()[0] as u64).sum();
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images, ETA {eta}")
            .expect("static template"),
    );
    let mut out = StateDict::new();
    for key in &keys {
        bar.set_message(key.clone());
        let x = to_tensor(inputs.get(key).expect("listed"))?.to_kind(Kind::Float);
        let mask = match inputs.get(&format!("{key}.mask")) {
            Some(m) => Some(to_tensor(m)?.ne(0)),
            None => None,
        };
        let b = x.size()[0];
        let mut parts: BTreeMap<String, Vec<Tensor>> = BTreeMap::new();
        let mut push = |name: String, t: Tensor| {
            parts.entry(name).or_default().push(t.to_device(tch::Device::Cpu))
        };
        for start in (0..b).step_by(args.batch_size) {
            let n = (b - start).min(args.batch_size as i64);
            let xb = bb.prepare_input(&x.narrow(0, start, n));
            tch::no_grad(|| -> anyhow::Result<()> {
                let f = bb.forward_features(&xb, None).with_context(|| format!("input {key}"))?;
                push(format!("{key}.x_norm_clstoken"), f.x_norm_clstoken);
                push(format!("{key}.x_storage_tokens"), f.x_storage_tokens);
                push(format!("{key}.x_norm_patchtokens"), f.x_norm_patchtokens);
                push(format!("{key}.x_prenorm"), f.x_prenorm);
                if start == 0 {
                    let rope = bb.model().rope_tables(f.h, f.w, false);
                    push(format!("{key}.rope.sin"), rope.sin);
                    push(format!("{key}.rope.cos"), rope.cos);
                }
                if !args.layers.is_empty() {
                    let inter = bb.intermediate_layers(&xb, &args.layers, true, true)?;
                    for (l, lf) in args.layers.iter().zip(inter) {
                        push(format!("{key}.intermediate.{l}.patch"), lf.patch);
                        push(format!("{key}.intermediate.{l}.cls"), lf.cls);
                    }
                }
                if let Some(m) = &mask {
                    let mb = m.narrow(0, start, n);
                    let f = bb
                        .forward_features(&xb, Some(&mb))
                        .with_context(|| format!("{key}.mask"))?;
                    push(format!("{key}.masked.x_norm_clstoken"), f.x_norm_clstoken);
                    push(format!("{key}.masked.x_norm_patchtokens"), f.x_norm_patchtokens);
                }
                Ok(())
            })?;
            bar.inc(n as u64);
        }
        for (name, ts) in parts {
            let t = if ts.len() == 1 {
                ts.into_iter().next().expect("one")
            } else {
                Tensor::cat(&ts, 0)
            };
            let td: TensorData = from_tensor(&t.to_kind(Kind::Float))?;
            out.insert(name, td);
        }
    }
    bar.finish_and_clear();
    out.metadata.insert("weights".into(), args.weights.weights.display().to_string());
    out.metadata.insert("config".into(), serde_json::to_string(bb.config())?);
    out.metadata.insert("precision".into(), bb.precision().to_string());
    geodino_weights::write_safetensors(&args.out, &out)
        .with_context(|| format!("writing --out {}", args.out.display()))?;
    eprintln!("wrote {} tensors for {} input(s) to {}", out.len(), keys.len(), args.out.display());
    Ok(())
}
