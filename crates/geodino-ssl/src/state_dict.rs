//! Strict loading of a flat state dict (official key names) into a [`VarStore`], through the
//! project's checkpoint reader (`geodino-weights`: `.pth` zip + pickle without Python, and
//! safetensors, detected from the content) and strict loader (`geodino_nn::load_state_dict`).
//!
//! Every variable of the store must be in the file with the same shape and every tensor of the
//! file must be used, except keys under the `ignore` prefixes: a missing, unexpected or
//! mis-shaped key is an error that names the file and the keys. Training checkpoints whose state
//! dict sits under `teacher`/`model`/… are found automatically.

use std::path::Path;

use geodino_nn::{LoadPolicy, LoadReport, load_state_dict};
use geodino_weights::{LoadOptions, StateDict};
use tch::nn::VarStore;

use crate::error::Result;

/// Read the state dict of a `.pth` or `.safetensors` file, dropping keys that start with one of
/// `ignore`.
///
/// # Errors
/// [`crate::SslError::WeightsIo`] naming the file when it cannot be read.
pub fn read(path: &Path, ignore: &[&str]) -> Result<StateDict> {
    let mut sd = geodino_weights::load(path, &LoadOptions::default())?;
    let dropped: Vec<String> =
        sd.keys().filter(|k| ignore.iter().any(|p| k.starts_with(p))).cloned().collect();
    for k in dropped {
        sd.remove(&k);
    }
    Ok(sd)
}

/// Load `path` into `vs`, strictly (see the module documentation). Names in the file starting
/// with one of `ignore` are skipped (e.g. `["backbone."]` to load only the heads of a training
/// checkpoint). Values are converted to the variables' kind and device.
///
/// # Errors
/// [`crate::SslError::Checkpoint`] listing every missing, unexpected and mis-shaped key;
/// [`crate::SslError::WeightsIo`] when the file cannot be read.
pub fn load_strict(vs: &VarStore, path: &Path, ignore: &[&str]) -> Result<LoadReport> {
    let sd = read(path, ignore)?;
    Ok(load_state_dict(vs, sd, &LoadPolicy::default())?)
}
