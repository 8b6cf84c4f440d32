//! Strict loading of a flat state dict (official key names) into a [`VarStore`].
//!
//! Reads `.safetensors` and PyTorch `.pth`/`.pt`/`.bin` files (the zip format of `torch.save`, read
//! by libtorch's own unpickler). Every variable of the store must be in the file with the same
//! shape, and every tensor of the file must be used, except names under the `ignore` prefixes:
//! a missing, unexpected or mis-shaped key is an error that names the file and the keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tch::{Tensor, nn::VarStore};

use crate::error::{Result, SslError};

/// Read all named tensors of a `.safetensors` or `.pth`/`.pt`/`.bin` file.
///
/// # Errors
/// [`SslError::Weights`] naming the file when it cannot be read or has another extension.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let err = |reason: String| SslError::Weights { path: path.to_path_buf(), reason };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let named = match ext.as_str() {
        "safetensors" => Tensor::read_safetensors(path).map_err(|e| err(e.to_string()))?,
        "pth" | "pt" | "bin" => Tensor::loadz_multi(path).map_err(|e| err(e.to_string()))?,
        _ => {
            return Err(err(
                "unknown weight format (expected .safetensors, .pth, .pt or .bin)".into()
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (name, t) in named {
        if out.insert(name.clone(), t).is_some() {
            return Err(err(format!("duplicate tensor {name}")));
        }
    }
    Ok(out)
}

/// Load `path` into `vs`, strictly (see the module documentation). Names in the file starting with
/// one of `ignore` are skipped (e.g. `["backbone."]` to load only the heads of a training
/// checkpoint). Values are converted to the variables' kind and device.
///
/// # Errors
/// [`SslError::Weights`] listing every missing, unexpected and mis-shaped key.
pub fn load_strict(vs: &VarStore, path: &Path, ignore: &[&str]) -> Result<()> {
    let file = read_tensors(path)?;
    let vars = vs.variables();
    let mut problems = Vec::new();
    let file_keys: BTreeSet<&String> =
        file.keys().filter(|k| !ignore.iter().any(|p| k.starts_with(p))).collect();
    let var_keys: BTreeSet<&String> = vars.keys().collect();
    let missing: Vec<&&String> = var_keys.difference(&file_keys).collect();
    let unexpected: Vec<&&String> = file_keys.difference(&var_keys).collect();
    if !missing.is_empty() {
        problems.push(format!("missing keys {missing:?}"));
    }
    if !unexpected.is_empty() {
        problems.push(format!("unexpected keys {unexpected:?}"));
    }
    for (name, var) in &vars {
        if let Some(t) = file.get(name)
            && t.size() != var.size()
        {
            problems.push(format!("{name}: file {:?} vs module {:?}", t.size(), var.size()));
        }
    }
    if !problems.is_empty() {
        return Err(SslError::Weights { path: path.to_path_buf(), reason: problems.join("; ") });
    }
    tch::no_grad(|| -> Result<()> {
        for (name, var) in &vars {
            let src = &file[name];
            var.shallow_clone().f_copy_(&src.f_to_kind(var.kind())?.f_to_device(var.device())?)?;
        }
        Ok(())
    })
}
