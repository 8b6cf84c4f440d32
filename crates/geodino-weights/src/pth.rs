//! PyTorch `.pth` / `.pt` files written by `torch.save` (the zip format of torch ≥ 1.6): a zip
//! archive `<name>/data.pkl` (the pickle program), `<name>/data/<key>` (one raw little-endian
//! storage per key) and `<name>/byteorder`.
//!
//! Reading never imports Python: [`crate::pickle`] runs the program and the tensors it describes
//! are materialised straight from the storages, honouring storage offsets and arbitrary
//! (non-contiguous, overlapping, zero) strides. Storages are read one at a time, so peak memory is
//! about the size of the selected state dict, not of the whole checkpoint (optimizer states of
//! training checkpoints are never read).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::pickle::{self, TensorRef, Value};
use crate::{Error, Result, StateDict, TensorData};

/// The magic number of torch's legacy (pre-1.6, non-zip) serialization, pickled as a LONG1.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Keys tried, in order, when a checkpoint's top level is not itself a state dict (training
/// checkpoints of dinov3, DINOv2, timm, Lightning, …).
pub const NESTED_STATE_DICT_KEYS: &[&str] =
    &["teacher", "model", "state_dict", "student", "model_ema", "ema", "module", "net"];

/// An opened `.pth` archive with its pickle program already run.
#[derive(Debug)]
pub struct PthFile {
    path: PathBuf,
    archive: zip::ZipArchive<BufReader<File>>,
    prefix: String,
    root: Value,
}

fn tensor_leaves(v: &Value, prefix: &str, out: &mut Vec<(String, Rc<TensorRef>)>) {
    if let Value::Dict(d) = v {
        for (k, val) in d.borrow().iter() {
            let key = match k {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                _ => continue,
            };
            let full = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
            match val {
                Value::Tensor(t) => out.push((full, t.clone())),
                Value::Dict(_) => tensor_leaves(val, &full, out),
                _ => {}
            }
        }
    }
}

fn dict_get(v: &Value, key: &str) -> Option<Value> {
    match v {
        Value::Dict(d) => {
            d.borrow().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone())
        }
        _ => None,
    }
}

fn direct_tensor_count(v: &Value) -> usize {
    match v {
        Value::Dict(d) => d.borrow().iter().filter(|(_, v)| matches!(v, Value::Tensor(_))).count(),
        _ => 0,
    }
}

impl PthFile {
    /// Open `path` and run its pickle program.
    ///
    /// # Errors
    /// I/O errors, a file that is not a zip archive (legacy pre-1.6 files and TorchScript
    /// archives are recognised and named), a missing `data.pkl`, a big-endian archive, or a
    /// pickle program the VM cannot run.
    pub fn open(path: &Path) -> Result<PthFile> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 16];
        let n = f.read(&mut head).map_err(|e| Error::io(path, e))?;
        if n >= 14 && head[0] == 0x80 && head[4..14] == LEGACY_MAGIC {
            return Err(Error::format(
                path,
                "legacy (pre-1.6) torch serialization is not supported; re-save it with \
                 torch.save(obj, f) from torch >= 1.6",
            ));
        }
        if n < 4 || head[..4] != *b"PK\x03\x04" {
            return Err(Error::format(path, "not a PyTorch checkpoint (no zip header)"));
        }
        drop(f);
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|e| Error::format(path, format!("damaged zip archive: {e}")))?;
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        let Some(pkl) =
            names.iter().find(|n| n.ends_with("data.pkl") && n.matches('/').count() <= 1)
        else {
            if names.iter().any(|n| n.ends_with("constants.pkl") || n.contains("/code/")) {
                return Err(Error::format(
                    path,
                    "a TorchScript archive, not a state dict; save model.state_dict() instead",
                ));
            }
            return Err(Error::format(path, "zip archive without data.pkl: not a torch.save file"));
        };
        let prefix = pkl.trim_end_matches("data.pkl").to_string();
        if let Ok(mut bo) = archive.by_name(&format!("{prefix}byteorder")) {
            let mut s = String::new();
            bo.read_to_string(&mut s).map_err(|e| Error::io(path, e))?;
            if s.trim() != "little" {
                return Err(Error::format(path, format!("byte order {s:?} is not supported")));
            }
        }
        let code = {
            let mut entry =
                archive.by_name(pkl).map_err(|e| Error::format(path, format!("{pkl}: {e}")))?;
            let mut code = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut code).map_err(|e| Error::io(path, e))?;
            code
        };
        let root = pickle::load(&code).map_err(|e| Error::Pickle {
            path: path.to_path_buf(),
            entry: pkl.clone(),
            pos: e.pos,
            msg: e.msg,
        })?;
        Ok(PthFile { path: path.to_path_buf(), archive, prefix, root })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The top-level keys (when the pickled object is a dict) with a short description of each
    /// value, e.g. `("teacher", "dict of 370 tensors")`.
    pub fn top_level(&self) -> Vec<(String, String)> {
        let Value::Dict(d) = &self.root else {
            return vec![(String::new(), self.root.kind())];
        };
        d.borrow()
            .iter()
            .map(|(k, v)| {
                let key = k.as_str().map(str::to_string).unwrap_or_else(|| k.kind());
                let mut leaves = Vec::new();
                tensor_leaves(v, "", &mut leaves);
                let what = match v {
                    Value::Dict(_) => format!("dict of {} tensors", leaves.len()),
                    other => other.kind(),
                };
                (key, what)
            })
            .collect()
    }

    /// Find the state dict: with `key` (`"teacher"`, or a path `"a/b"`), that entry; otherwise the
    /// top level when it holds tensors directly, else the first of [`NESTED_STATE_DICT_KEYS`]
    /// that holds tensors. Nested dicts are flattened with `.` joins. Returns the dict's path and
    /// its tensors (not yet read).
    fn locate(&self, key: Option<&str>) -> Result<(String, Vec<(String, Rc<TensorRef>)>)> {
        let (where_, node) = match key {
            Some(k) => {
                let mut node = self.root.clone();
                for part in k.split('/').filter(|p| !p.is_empty()) {
                    node = dict_get(&node, part).ok_or_else(|| Error::NoStateDict {
                        path: self.path.clone(),
                        msg: format!("no entry {k:?}; top level: {}", self.describe_top()),
                    })?;
                }
                (k.to_string(), node)
            }
            None if direct_tensor_count(&self.root) > 0 => (String::new(), self.root.clone()),
            None => {
                let found = NESTED_STATE_DICT_KEYS.iter().find_map(|k| {
                    let v = dict_get(&self.root, k)?;
                    let mut leaves = Vec::new();
                    tensor_leaves(&v, "", &mut leaves);
                    (!leaves.is_empty()).then(|| (k.to_string(), v))
                });
                found.ok_or_else(|| Error::NoStateDict {
                    path: self.path.clone(),
                    msg: format!(
                        "no state dict found (top level: {}); pass the entry to use",
                        self.describe_top()
                    ),
                })?
            }
        };
        let mut leaves = Vec::new();
        tensor_leaves(&node, "", &mut leaves);
        if leaves.is_empty() {
            return Err(Error::NoStateDict {
                path: self.path.clone(),
                msg: format!("entry {where_:?} holds no tensors ({})", node.kind()),
            });
        }
        Ok((where_, leaves))
    }

    fn describe_top(&self) -> String {
        let t = self.top_level();
        if t.is_empty() {
            return "an empty dict".into();
        }
        t.iter().map(|(k, v)| format!("{k:?}: {v}")).collect::<Vec<_>>().join(", ")
    }

    /// Read the state dict (see [`PthFile::locate`] rules: explicit `key`, the top level, or the
    /// first nested training-checkpoint entry). Tensors keep their stored dtype.
    ///
    /// # Errors
    /// No state dict found, a missing or short storage entry, or strides reaching outside
    /// their storage.
    pub fn state_dict(&mut self, key: Option<&str>) -> Result<StateDict> {
        let (where_, leaves) = self.locate(key)?;
        // Group by storage so each storage is read once, then dropped.
        let mut by_storage: BTreeMap<String, Vec<(String, Rc<TensorRef>)>> = BTreeMap::new();
        for (k, t) in leaves {
            by_storage.entry(t.storage.key.clone()).or_default().push((k, t));
        }
        let mut sd = StateDict::new();
        for (skey, tensors) in by_storage {
            let storage = &tensors[0].1.storage;
            let entry = format!("{}data/{skey}", self.prefix);
            let need = storage.numel * storage.dtype.size();
            let bytes = {
                let mut e = self.archive.by_name(&entry).map_err(|e| {
                    Error::format(
                        &self.path,
                        format!("storage {entry} (for {}): {e}", tensors[0].0),
                    )
                })?;
                let mut b = Vec::with_capacity(need);
                e.read_to_end(&mut b).map_err(|e| Error::io(&self.path, e))?;
                b
            };
            if bytes.len() < need {
                return Err(Error::format(
                    &self.path,
                    format!("storage {entry} has {} bytes, expected {need}", bytes.len()),
                ));
            }
            for (k, t) in tensors {
                let td = materialize(&t, &bytes).map_err(|msg| Error::Tensor {
                    path: self.path.clone(),
                    key: k.clone(),
                    msg,
                })?;
                sd.insert(k, td);
            }
        }
        sd.set_source(if where_.is_empty() {
            format!("{}", self.path.display())
        } else {
            format!("{} [{where_}]", self.path.display())
        });
        Ok(sd)
    }
}

/// Copy a strided view out of its storage bytes into a contiguous tensor.
fn materialize(t: &TensorRef, storage: &[u8]) -> std::result::Result<TensorData, String> {
    let es = t.storage.dtype.size();
    let numel: usize = t.size.iter().product();
    if numel == 0 {
        return TensorData::new(t.storage.dtype, t.size.clone(), Vec::new())
            .map_err(|e| e.to_string());
    }
    // The furthest element the view touches must lie inside the storage.
    let last = t.offset + t.size.iter().zip(&t.stride).map(|(&s, &st)| (s - 1) * st).sum::<usize>();
    if last >= t.storage.numel {
        return Err(format!(
            "view (offset {}, size {:?}, stride {:?}) reaches element {last} of a storage of {}",
            t.offset, t.size, t.stride, t.storage.numel
        ));
    }
    let contiguous = {
        let mut expect = 1usize;
        let mut ok = true;
        for (&s, &st) in t.size.iter().zip(&t.stride).rev() {
            if s != 1 && st != expect {
                ok = false;
                break;
            }
            expect *= s;
        }
        ok
    };
    let data = if contiguous {
        storage[t.offset * es..(t.offset + numel) * es].to_vec()
    } else {
        let mut out = Vec::with_capacity(numel * es);
        let nd = t.size.len();
        let mut idx = vec![0usize; nd];
        for _ in 0..numel {
            let e = t.offset + idx.iter().zip(&t.stride).map(|(&i, &s)| i * s).sum::<usize>();
            out.extend_from_slice(&storage[e * es..(e + 1) * es]);
            for d in (0..nd).rev() {
                idx[d] += 1;
                if idx[d] < t.size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    };
    TensorData::new(t.storage.dtype, t.size.clone(), data).map_err(|e| e.to_string())
}
