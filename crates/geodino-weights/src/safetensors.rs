//! safetensors reading and writing (format: 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}`, then the data).
//!
//! Reading seeks to each tensor and reads only its bytes; writing goes to a temporary file in the
//! destination directory that is renamed into place, so a failed write never leaves a
//! half-written file under the final name.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Dtype, Error, Result, StateDict, TensorData};

/// Largest header accepted (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// Read the header of a safetensors file: tensor names, dtypes and shapes, and `__metadata__`.
///
/// # Errors
/// I/O errors or a malformed header.
pub fn read_header(
    path: &Path,
) -> Result<(BTreeMap<String, (Dtype, Vec<usize>)>, BTreeMap<String, String>)> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let (entries, meta, _) = parse_header(path, &mut f)?;
    Ok((entries.into_iter().map(|(k, (d, s, _))| (k, (d, s))).collect(), meta))
}

type Parsed = (BTreeMap<String, (Dtype, Vec<usize>, [u64; 2])>, BTreeMap<String, String>, u64);

fn parse_header(path: &Path, f: &mut File) -> Result<Parsed> {
    let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| Error::format(path, "not a safetensors file (too short)"))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || n + 8 > file_len {
        return Err(Error::format(path, "not a safetensors file (bad header length)"));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| Error::format(path, format!("not a safetensors file (header: {e})")))?;
    let data_start = 8 + n;
    let data_len = file_len - data_start;
    let mut entries = BTreeMap::new();
    let mut meta = BTreeMap::new();
    for (k, v) in json {
        if k == "__metadata__" {
            if let serde_json::Value::Object(m) = v {
                for (mk, mv) in m {
                    if let serde_json::Value::String(s) = mv {
                        meta.insert(mk, s);
                    }
                }
            }
            continue;
        }
        let e: Entry = serde_json::from_value(v)
            .map_err(|e| Error::format(path, format!("tensor {k}: bad header entry: {e}")))?;
        let dtype = Dtype::from_safetensors_name(&e.dtype).ok_or_else(|| {
            Error::format(path, format!("tensor {k}: unsupported dtype {}", e.dtype))
        })?;
        let want = e.shape.iter().product::<usize>() as u64 * dtype.size() as u64;
        let [s, t] = e.data_offsets;
        if t < s || t - s != want || t > data_len {
            return Err(Error::format(
                path,
                format!("tensor {k}: data offsets {s}..{t} do not fit {dtype} {:?}", e.shape),
            ));
        }
        entries.insert(k, (dtype, e.shape, e.data_offsets));
    }
    Ok((entries, meta, data_start))
}

/// Read every tensor of a safetensors file.
///
/// # Errors
/// I/O errors, a malformed header, or offsets outside the file.
pub fn read_safetensors(path: &Path) -> Result<StateDict> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let (entries, meta, data_start) = parse_header(path, &mut f)?;
    // Read in file order so the reads are sequential.
    let mut order: Vec<_> = entries.into_iter().collect();
    order.sort_by_key(|(_, (_, _, o))| o[0]);
    let mut sd = StateDict::new();
    for (k, (dtype, shape, [s, t])) in order {
        f.seek(SeekFrom::Start(data_start + s)).map_err(|e| Error::io(path, e))?;
        let mut buf = vec![0u8; (t - s) as usize];
        f.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
        sd.insert(k, TensorData::new(dtype, shape, buf)?);
    }
    for (k, v) in meta {
        sd.metadata.insert(k, v);
    }
    sd.set_source(path.display().to_string());
    Ok(sd)
}

/// Write `sd` (its tensors and its `metadata`) as a safetensors file, atomically: the data goes
/// to a temporary file beside `path` that is renamed over it at the end.
///
/// # Errors
/// I/O errors (the temporary file is removed).
pub fn write_safetensors(path: &Path, sd: &StateDict) -> Result<()> {
    let mut header = serde_json::Map::new();
    if !sd.metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = sd
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), serde_json::Value::Object(m));
    }
    let mut off = 0u64;
    for (k, t) in sd.iter() {
        let n = t.bytes().len() as u64;
        let e = Entry {
            dtype: t.dtype().safetensors_name().into(),
            shape: t.shape().to_vec(),
            data_offsets: [off, off + n],
        };
        header.insert(k.clone(), serde_json::to_value(e).expect("plain struct"));
        off += n;
    }
    let mut hbytes = serde_json::to_vec(&header).expect("JSON map");
    // Pad the header with spaces so the data starts 8-byte aligned.
    while !(hbytes.len() + 8).is_multiple_of(8) {
        hbytes.push(b' ');
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        w.write_all(&(hbytes.len() as u64).to_le_bytes())?;
        w.write_all(&hbytes)?;
        for (_, t) in sd.iter() {
            w.write_all(t.bytes())?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
