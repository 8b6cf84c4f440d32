//! [`StateDict`]: named tensors plus string metadata, and format-detecting [`load`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::{Dtype, Error, PthFile, Result, TensorData};

/// Named tensors (sorted by name) and string metadata (safetensors `__metadata__`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    tensors: BTreeMap<String, TensorData>,
    /// Free-form string metadata, written to / read from safetensors `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    source: String,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> StateDict {
        StateDict::default()
    }

    /// Where the tensors came from (file, and entry inside it), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Record where the tensors came from.
    pub fn set_source(&mut self, s: impl Into<String>) {
        self.source = s.into();
    }

    /// Insert (or replace) a tensor.
    pub fn insert(&mut self, key: impl Into<String>, t: TensorData) -> Option<TensorData> {
        self.tensors.insert(key.into(), t)
    }

    /// The tensor `key`.
    pub fn get(&self, key: &str) -> Option<&TensorData> {
        self.tensors.get(key)
    }

    /// Remove and return the tensor `key`.
    pub fn remove(&mut self, key: &str) -> Option<TensorData> {
        self.tensors.remove(key)
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Keys in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// `(key, tensor)` pairs in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TensorData)> {
        self.tensors.iter()
    }

    /// Consume into `(key, tensor)` pairs in sorted order.
    pub fn into_tensors(self) -> BTreeMap<String, TensorData> {
        self.tensors
    }

    /// Total bytes of tensor data.
    pub fn nbytes(&self) -> usize {
        self.tensors.values().map(|t| t.bytes().len()).sum()
    }

    /// Remove `prefix` from every key that starts with it; returns how many keys changed.
    pub fn strip_prefix(&mut self, prefix: &str) -> usize {
        let keys: Vec<String> =
            self.tensors.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        for k in &keys {
            let t = self.tensors.remove(k).expect("key listed");
            self.tensors.insert(k[prefix.len()..].to_string(), t);
        }
        keys.len()
    }

    /// Keep only the keys starting with `prefix`, without it. Returns the dropped keys.
    pub fn select_prefix(&mut self, prefix: &str) -> Vec<String> {
        let (keep, drop): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.tensors).into_iter().partition(|(k, _)| k.starts_with(prefix));
        self.tensors = keep.into_iter().map(|(k, v)| (k[prefix.len()..].to_string(), v)).collect();
        drop.into_keys().collect()
    }

    /// Convert every floating-point tensor to `dtype` (integer and boolean tensors unchanged).
    pub fn to_float_dtype(&mut self, dtype: Dtype) {
        let old = std::mem::take(&mut self.tensors);
        self.tensors = old.into_iter().map(|(k, t)| (k, t.to_float_dtype(dtype))).collect();
    }
}

impl IntoIterator for StateDict {
    type Item = (String, TensorData);
    type IntoIter = std::collections::btree_map::IntoIter<String, TensorData>;
    fn into_iter(self) -> Self::IntoIter {
        self.tensors.into_iter()
    }
}

/// On-disk checkpoint format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PyTorch `torch.save` zip archive (`.pth`, `.pt`, `.bin`).
    Pth,
    /// safetensors.
    Safetensors,
}

/// Detect the format of `path` from its first bytes (not its extension).
///
/// # Errors
/// I/O errors, or content that is neither format.
pub fn detect_format(path: &Path) -> Result<Format> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 9];
    let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    if n >= 4 && head[..4] == *b"PK\x03\x04" {
        return Ok(Format::Pth);
    }
    if n == 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    if n >= 1 && head[0] == 0x80 {
        // A bare pickle: torch's legacy format; PthFile::open names it.
        return Ok(Format::Pth);
    }
    Err(Error::format(path, "neither a PyTorch checkpoint (.pth) nor a safetensors file"))
}

/// Options of [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// For `.pth` training checkpoints: the entry holding the state dict (`"teacher"`,
    /// `"model"`, or a path `"a/b"`). `None` finds it (see [`PthFile::state_dict`]).
    pub checkpoint_key: Option<String>,
}

/// Read the state dict of a `.pth` or safetensors file (format detected from the content).
/// Tensors keep their stored dtypes; keys are as stored (no prefix handling).
///
/// # Errors
/// See [`PthFile::open`], [`PthFile::state_dict`] and [`crate::read_safetensors`].
pub fn load(path: &Path, opts: &LoadOptions) -> Result<StateDict> {
    match detect_format(path)? {
        Format::Pth => PthFile::open(path)?.state_dict(opts.checkpoint_key.as_deref()),
        Format::Safetensors => {
            if opts.checkpoint_key.is_some() {
                return Err(Error::format(path, "a safetensors file has no checkpoint entries"));
            }
            crate::read_safetensors(path)
        }
    }
}
