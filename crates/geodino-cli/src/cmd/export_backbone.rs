//! `geodino export-backbone`: the result backbone of a pretraining run (its EMA teacher, or the
//! student EMA of distillation) in the official DINOv3 key layout.

use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `geodino export-backbone`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its latest checkpoint) or a checkpoint file (RUN/checkpoints/ckpt-*.safetensors).
    pub checkpoint: PathBuf,
    /// Output: .safetensors (with the architecture in its metadata; `geodino backbone-run` reads
    /// it) or .pth (a torch.save state dict for DinoVisionTransformer.load_state_dict).
    pub out: PathBuf,
}

/// Run `geodino export-backbone`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let ckpt = if a.checkpoint.is_dir() {
        let dir = a.checkpoint.join("checkpoints");
        geodino_train::checkpoint::latest(&dir).map(|(_, p)| p).with_context(|| {
            format!("{}: no checkpoint in {}", a.checkpoint.display(), dir.display())
        })?
    } else {
        a.checkpoint.clone()
    };
    let cfg = geodino_train::checkpoint::export_backbone(&ckpt, &a.out)
        .with_context(|| format!("exporting {} to {}", ckpt.display(), a.out.display()))?;
    eprintln!(
        "wrote {} (ViT {}x{} heads {} patch {}, {} params) from {}",
        a.out.display(),
        cfg.embed_dim,
        cfg.depth,
        cfg.num_heads,
        cfg.patch_size,
        cfg.n_params(),
        ckpt.display()
    );
    Ok(())
}
