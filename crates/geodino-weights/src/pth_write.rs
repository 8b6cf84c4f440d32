//! A minimal `torch.save` writer: a flat state dict as a PyTorch zip archive that
//! `torch.load(path, weights_only=True)` reads into an `OrderedDict[str, Tensor]`.
//!
//! Layout (what `torch.save` writes with `_use_new_zipfile_serialization=True`):
//! `archive/data.pkl` (the pickle program, protocol 2), `archive/byteorder` (`little`),
//! `archive/data/<i>` (one raw little-endian storage per tensor, 64-byte aligned as torch aligns
//! them for `mmap=True`) and `archive/version` (`3`). Entries are stored uncompressed.
//!
//! The pickle program builds `collections.OrderedDict()` and sets, per key,
//! `torch._utils._rebuild_tensor_v2(persistent_load(("storage", torch.<T>Storage, "<i>", "cpu",
//! numel)), 0, size, contiguous stride, False, OrderedDict())`: only globals that the
//! `weights_only` unpickler allows.

use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;

use crate::{Dtype, Error, Result, StateDict};

/// Pickle opcodes used (protocol 2).
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const REDUCE: u8 = b'R';
    pub const MARK: u8 = b'(';
    pub const TUPLE: u8 = b't';
    pub const BINUNICODE: u8 = b'X';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const BININT: u8 = b'J';
    pub const LONG1: u8 = 0x8a;
    pub const BINPERSID: u8 = b'Q';
    pub const NEWFALSE: u8 = 0x89;
    pub const SETITEMS: u8 = b'u';
    pub const STOP: u8 = b'.';
}

struct Pickler {
    out: Vec<u8>,
}

impl Pickler {
    fn global(&mut self, module: &str, name: &str) {
        self.out.push(op::GLOBAL);
        self.out.extend_from_slice(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'\n');
    }

    fn string(&mut self, s: &str) {
        self.out.push(op::BINUNICODE);
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.out.extend_from_slice(&[op::BININT1, v as u8]);
        } else if (0..65536).contains(&v) {
            self.out.push(op::BININT2);
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if i32::try_from(v).is_ok() {
            self.out.push(op::BININT);
            self.out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, 8 bytes is always enough for an i64.
            self.out.extend_from_slice(&[op::LONG1, 8]);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn int_tuple(&mut self, vals: &[i64]) {
        if vals.is_empty() {
            self.out.push(op::EMPTY_TUPLE);
            return;
        }
        self.out.push(op::MARK);
        for &v in vals {
            self.int(v);
        }
        self.out.push(op::TUPLE);
    }

    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.out.push(op::EMPTY_TUPLE);
        self.out.push(op::REDUCE);
    }
}

fn storage_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F64 => "DoubleStorage",
        Dtype::F32 => "FloatStorage",
        Dtype::F16 => "HalfStorage",
        Dtype::BF16 => "BFloat16Storage",
        Dtype::I64 => "LongStorage",
        Dtype::I32 => "IntStorage",
        Dtype::I16 => "ShortStorage",
        Dtype::I8 => "CharStorage",
        Dtype::U8 => "ByteStorage",
        Dtype::Bool => "BoolStorage",
    }
}

/// The pickle program of `sd` (storage `i` is the `i`-th tensor in key order).
fn pickle_program(sd: &StateDict) -> Vec<u8> {
    let mut p = Pickler { out: vec![op::PROTO, 2] };
    p.ordered_dict();
    p.out.push(op::MARK);
    for (i, (key, t)) in sd.iter().enumerate() {
        p.string(key);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.out.push(op::MARK);
        // persistent id: ("storage", torch.<T>Storage, key, location, numel)
        p.out.push(op::MARK);
        p.string("storage");
        p.global("torch", storage_name(t.dtype()));
        p.string(&i.to_string());
        p.string("cpu");
        p.int(t.numel() as i64);
        p.out.push(op::TUPLE);
        p.out.push(op::BINPERSID);
        p.int(0); // storage offset
        let shape: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
        let mut stride = vec![1i64; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1].max(1);
        }
        p.int_tuple(&shape);
        p.int_tuple(&stride);
        p.out.push(op::NEWFALSE); // requires_grad
        p.ordered_dict(); // backward hooks
        p.out.push(op::TUPLE);
        p.out.push(op::REDUCE);
    }
    p.out.push(op::SETITEMS);
    p.out.push(op::STOP);
    p.out
}

/// Write `sd` as a `torch.save` file at `path`, atomically (a temporary file beside it, renamed
/// at the end). Tensors keep their dtype; keys are written in sorted order.
///
/// # Errors
/// I/O errors (the temporary file is removed).
pub fn write_pth(path: &Path, sd: &StateDict) -> Result<()> {
    let stem = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "archive".into());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(sd.nbytes() as u64 > u32::MAX as u64 / 2)
            .with_alignment(64);
        let zerr = |e: zip::result::ZipError| std::io::Error::other(e.to_string());
        zip.start_file(format!("{stem}/data.pkl"), opts).map_err(zerr)?;
        zip.write_all(&pickle_program(sd))?;
        zip.start_file(format!("{stem}/byteorder"), opts).map_err(zerr)?;
        zip.write_all(b"little")?;
        for (i, (_, t)) in sd.iter().enumerate() {
            let big = t.bytes().len() as u64 > u32::MAX as u64 / 2;
            zip.start_file(format!("{stem}/data/{i}"), opts.large_file(big)).map_err(zerr)?;
            zip.write_all(t.bytes())?;
        }
        zip.start_file(format!("{stem}/version"), opts).map_err(zerr)?;
        zip.write_all(b"3\n")?;
        let w = zip.finish().map_err(zerr)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
