//! `geodino convert-weights`: any supported DINOv3 checkpoint (`.pth`, training checkpoint,
//! Hugging Face or official safetensors) → geodino safetensors (official keys, the architecture
//! stored in the metadata), optionally in bf16/f16, optionally inflated to N bands. Validated
//! against the architecture before anything is written; written atomically.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use geodino_dinov3::checkpoint::{read_official, with_metadata};
use geodino_dinov3::{CheckpointOptions, check_state_dict, infer_config, inflate_patch_embed};
use geodino_weights::Dtype;

use crate::cmd::backbone_run::parse_config;

/// Arguments of `geodino convert-weights`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input checkpoint.
    pub input: PathBuf,
    /// Output `.safetensors`.
    pub output: PathBuf,
    /// Storage dtype: f32, bf16 or f16 (RoPE periods stay f32). Default: as stored.
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<String>,
    /// Architecture (preset or JSON file). Default: inferred from the tensors.
    #[arg(long, value_name = "PRESET|FILE")]
    pub config: Option<String>,
    /// Entry of a training checkpoint holding the state dict (teacher, model, …).
    #[arg(long, value_name = "KEY")]
    pub checkpoint_key: Option<String>,
    /// Number of heads, for Hugging Face files without a config.json beside them.
    #[arg(long, value_name = "N")]
    pub num_heads: Option<usize>,
    /// Inflate the patch embedding to N input bands.
    #[arg(long, value_name = "N")]
    pub in_chans: Option<usize>,
    /// With --in-chans: do not rescale the inflated weight by 3/N.
    #[arg(long)]
    pub no_inflate_rescale: bool,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
}

/// Run `geodino convert-weights`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.output.exists() && !args.overwrite {
        bail!("{} exists (use --overwrite)", args.output.display());
    }
    let dtype = match &args.dtype {
        None => None,
        Some(s) => match Dtype::parse_float(s) {
            Some(d @ (Dtype::F32 | Dtype::BF16 | Dtype::F16)) => Some(d),
            _ => bail!("--dtype {s:?}: expected f32, bf16 or f16"),
        },
    };
    let opts = CheckpointOptions {
        checkpoint_key: args.checkpoint_key.clone(),
        num_heads: args.num_heads,
        ..Default::default()
    };
    let mut off = read_official(&args.input, &opts)
        .with_context(|| format!("reading {}", args.input.display()))?;
    if let Some(n) = args.in_chans {
        inflate_patch_embed(&mut off.state_dict, n, !args.no_inflate_rescale)?;
    }
    let mut cfg = match (&args.config, off.stored_config.take()) {
        (Some(c), _) => parse_config(c)?,
        (None, Some(c)) => c,
        (None, None) => infer_config(&off.state_dict)?,
    };
    if let Some(n) = args.in_chans {
        cfg.in_chans = n;
    }
    check_state_dict(&off.state_dict, &cfg)
        .with_context(|| format!("{} does not fit the architecture", args.input.display()))?;
    let n_keys = off.state_dict.len();
    let mut sd = with_metadata(off.state_dict, &cfg, dtype);
    sd.metadata.insert("source".into(), args.input.display().to_string());
    geodino_weights::write_safetensors(&args.output, &sd)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{} ({:?} layout{}) -> {}: {n_keys} tensors, {:.2} M parameters, {:.1} MB; D={} L={} \
         heads={} ffn={:?}/{} registers={} in_chans={}",
        args.input.display(),
        off.layout,
        if off.dropped.is_empty() {
            String::new()
        } else {
            format!(", {} non-backbone keys dropped", off.dropped.len())
        },
        args.output.display(),
        cfg.n_params() as f64 / 1e6,
        sd.nbytes() as f64 / 1e6,
        cfg.embed_dim,
        cfg.depth,
        cfg.num_heads,
        cfg.ffn_layer,
        cfg.ffn_hidden(),
        cfg.n_storage_tokens,
        cfg.in_chans,
    );
    Ok(())
}
