//! The carry between column strips: the parts of tile predictions that reach past a strip's
//! right edge, spilled to an unnamed scratch file and read back by the next strip.
//!
//! A strip predicts the tiles whose left edge lies in it; a tile reaching past the strip's right
//! edge leaves its right part (every channel and the validity of the columns beyond the edge)
//! here, written in the order the strip runs — grid row by grid row, left to right — which is
//! exactly the order in which the next strip needs them. The next strip adds each carried piece
//! into its row band *before* its own tiles of the same grid row, so every output pixel receives
//! its weighted contributions in the same order as a single strip over the whole width: the
//! output is bit-identical whatever the strip width.
//!
//! Memory: one `BufWriter` and one `BufReader` (1 MiB each) and one piece at a time; the
//! carried data (about `height × tile × (4·channels + 1)` bytes per strip boundary) lives in
//! the scratch file, i.e. in the page cache and on disk, not in the process. The files are
//! created with `O_TMPFILE`-style unnamed temporaries (nothing to clean up, nothing left behind
//! after a crash).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const BUF: usize = 1 << 20;

/// A carried piece: the columns `[from, from + width)` of a tile's prediction, `rows` rows.
#[derive(Debug, Default)]
pub(crate) struct Piece {
    /// Grid row of the tile.
    pub row: usize,
    /// Grid column of the tile.
    pub col: usize,
    /// Rows (the tile's rows inside the raster).
    pub rows: usize,
    /// Columns carried.
    pub width: usize,
    /// `(channels, rows, width)`.
    pub values: Vec<f32>,
    /// `(rows, width)`; `None` = every pixel valid.
    pub valid: Option<Vec<u8>>,
}

/// The two scratch files of a run (one written by the current strip, one read), created on
/// first use in `dir`.
#[derive(Debug)]
pub(crate) struct Carry {
    dir: PathBuf,
    channels: usize,
    reader: Option<BufReader<File>>,
    writer: Option<BufWriter<File>>,
    spare: Option<File>,
    /// Bytes written in all.
    pub bytes_written: u64,
    /// Largest carry of one strip boundary, in bytes.
    pub peak_boundary_bytes: u64,
    boundary_bytes: u64,
    scratch: Vec<u8>,
}

impl Carry {
    pub fn new(dir: &Path, channels: usize) -> Carry {
        Carry {
            dir: dir.to_path_buf(),
            channels,
            reader: None,
            writer: None,
            spare: None,
            bytes_written: 0,
            peak_boundary_bytes: 0,
            boundary_bytes: 0,
            scratch: Vec::new(),
        }
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io {
            path: self.dir.clone(),
            source: std::io::Error::new(
                e.kind(),
                format!("scratch file carrying tile predictions between strips: {e}"),
            ),
        }
    }

    /// Start a strip: what the previous strip wrote becomes the input, and (when `carries_out`)
    /// an empty file receives this strip's carry.
    pub fn begin_strip(&mut self, carries_out: bool) -> Result<()> {
        if let Some(r) = self.reader.take() {
            self.spare = Some(r.into_inner());
        }
        if let Some(w) = self.writer.take() {
            let mut f = w.into_inner().map_err(|e| self.io(e.into_error()))?;
            f.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
            self.reader = Some(BufReader::with_capacity(BUF, f));
        }
        self.peak_boundary_bytes = self.peak_boundary_bytes.max(self.boundary_bytes);
        self.boundary_bytes = 0;
        if carries_out {
            let mut f = match self.spare.take() {
                Some(f) => f,
                None => tempfile::tempfile_in(&self.dir).map_err(|e| self.io(e))?,
            };
            f.set_len(0).map_err(|e| self.io(e))?;
            f.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
            self.writer = Some(BufWriter::with_capacity(BUF, f));
        }
        Ok(())
    }

    /// Carry columns `[from, from + width)` of rows `0..rows` of the prediction `src`
    /// `(channels, src_rows, src_width)` (validity `(src_rows, src_width)`) of tile `(row, col)`.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &mut self,
        (row, col): (usize, usize),
        rows: usize,
        (src_rows, src_width): (usize, usize),
        src: &[f32],
        valid: Option<&[u8]>,
        from: usize,
        width: usize,
    ) -> Result<()> {
        let k = self.channels;
        debug_assert!(rows <= src_rows && from + width <= src_width);
        debug_assert_eq!(src.len(), k * src_rows * src_width);
        let buf = &mut self.scratch;
        buf.clear();
        for v in [row, col, rows, width] {
            buf.extend_from_slice(&(v as u64).to_le_bytes());
        }
        buf.push(u8::from(valid.is_some()));
        for ch in 0..k {
            for r in 0..rows {
                let o = (ch * src_rows + r) * src_width + from;
                for v in &src[o..o + width] {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        if let Some(v) = valid {
            for r in 0..rows {
                let o = r * src_width + from;
                buf.extend_from_slice(&v[o..o + width]);
            }
        }
        let n = buf.len() as u64;
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Pipeline("a tile was carried out of the last strip".into()))?;
        if let Err(e) = w.write_all(&self.scratch) {
            return Err(self.io(e));
        }
        self.bytes_written += n;
        self.boundary_bytes += n;
        Ok(())
    }

    /// Read the next carried piece into `piece`, checking that it is tile `(row, col)`.
    pub fn take(&mut self, (row, col): (usize, usize), piece: &mut Piece) -> Result<()> {
        let k = self.channels;
        let Some(r) = self.reader.as_mut() else {
            return Err(Error::Pipeline("no carry from the previous strip".into()));
        };
        let mut head = [0u8; 33];
        let res = r.read_exact(&mut head).and_then(|_| {
            let field = |i: usize| {
                u64::from_le_bytes(head[i * 8..i * 8 + 8].try_into().expect("8 bytes")) as usize
            };
            piece.row = field(0);
            piece.col = field(1);
            piece.rows = field(2);
            piece.width = field(3);
            if (piece.row, piece.col) != (row, col) || piece.rows * piece.width > 1 << 30 {
                return Ok(false);
            }
            let n = piece.rows * piece.width;
            self.scratch.resize(k * n * 4, 0);
            r.read_exact(&mut self.scratch)?;
            piece.values.clear();
            piece.values.extend(
                self.scratch
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            );
            piece.valid = if head[32] != 0 {
                let mut v = piece.valid.take().unwrap_or_default();
                v.resize(n, 0);
                r.read_exact(&mut v)?;
                Some(v)
            } else {
                None
            };
            Ok(true)
        });
        match res {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Pipeline(format!(
                "the strip carry is out of step: expected tile ({row}, {col}), found ({}, {})",
                piece.row, piece.col
            ))),
            Err(e) => Err(self.io(e)),
        }
    }
}
