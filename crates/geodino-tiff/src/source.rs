//! Positioned reads from a file or an in-memory buffer.
//!
//! A [`Source`] is `Sync`: every read names its own offset (`pread`), so one open file serves
//! many threads at once without a lock or a shared cursor.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use geodino_core::{Error, Result};

/// Where the bytes of a TIFF come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// An open file, read with positioned reads.
    File { file: File, len: u64 },
    /// A buffer in memory (tests, fuzzing, files already fetched).
    Memory(Vec<u8>),
}

impl Source {
    /// Open `path` for positioned reads.
    pub(crate) fn open(path: &Path) -> Result<Source> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(Source::File { file, len })
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::File { len, .. } => *len,
            Source::Memory(v) => v.len() as u64,
        }
    }

    /// Fill `buf` from byte `offset`. Reading past the end is an error.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            Source::File { file, .. } => read_exact_at(file, buf, offset),
            Source::Memory(v) => {
                let start = usize::try_from(offset).map_err(|_| eof())?;
                let end = start.checked_add(buf.len()).ok_or_else(eof)?;
                let src = v.get(start..end).ok_or_else(eof)?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the data")
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(eof()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The display name of an in-memory source.
pub(crate) fn memory_path(name: &str) -> PathBuf {
    PathBuf::from(format!("<memory:{name}>"))
}
