//! Decoding blocks into typed samples and assembling windows from them, in parallel.
//!
//! A window read splits its output array into disjoint views, one per block it touches, and
//! decodes the blocks in parallel (rayon), each straight into its view. Nothing but the blocks
//! that intersect the window is read, and no block is kept after it has been copied: memory is
//! the output plus one decoded block per worker thread.

use std::ops::Range;
use std::path::Path;

use geodino_core::{Error, RasterElement, Result, Window};
use ndarray::{Array3, ArrayViewMut3, Axis, s};
use rayon::prelude::*;

use crate::codec::{self, Decoders, PredictorSample};
use crate::layout::{Codec, Image, Storage};
use crate::source::Source;
use crate::tags;

/// Decoded blocks larger than this are refused (a damaged or hostile size field).
const MAX_BLOCK_BYTES: usize = 1 << 30;

/// A pixel type the decoder produces.
pub(crate) trait Sample: RasterElement + bytemuck::Pod + PredictorSample {
    /// Reverse the byte order.
    fn swap(self) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn swap(self) -> Self { self.swap_bytes() }
        }
    )*};
}
sample_int!(u8, i8, u16, i16, u32, i32);
impl Sample for f32 {
    #[inline]
    fn swap(self) -> Self {
        f32::from_bits(self.to_bits().swap_bytes())
    }
}
impl Sample for f64 {
    #[inline]
    fn swap(self) -> Self {
        f64::from_bits(self.to_bits().swap_bytes())
    }
}

/// Per-thread scratch space.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Compressed bytes of the current block.
    raw: Vec<u8>,
    /// Decoded bytes when they are not already in the output type (packed bits, f16).
    bytes: Vec<u8>,
    tmp: Vec<u8>,
    decoders: Decoders,
}

/// Rows of one block decoded into the output type.
struct Decoded<'a, T> {
    /// Samples, `rows × row_len`.
    data: &'a [T],
    /// Block-relative index of the first row in `data`.
    first_row: usize,
    /// Samples per row (block width × samples per pixel in the block).
    row_len: usize,
    /// Samples per pixel in `data`.
    spp: usize,
}

/// What a window read needs besides the image: the file and what to fill sparse blocks with.
pub(crate) struct Ctx<'a> {
    pub src: &'a Source,
    pub path: &'a Path,
    /// Value of blocks absent from the file (offset and byte count 0): the nodata value, as GDAL.
    pub sparse_fill: f64,
}

impl Ctx<'_> {
    fn decode_err(&self, img: &Image, index: usize, message: impl Into<String>) -> Error {
        Error::Decode {
            path: self.path.to_path_buf(),
            block: index,
            codec: tags::compression_name(img.compression_code),
            message: format!("{} (IFD at offset {})", message.into(), img.ifd_offset),
        }
    }

    /// Read the stored bytes of block `index` into `buf` (`None` for a sparse block).
    fn read_raw<'b>(
        &self,
        img: &Image,
        index: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b mut [u8]>> {
        let (off, count) = (img.offsets[index], img.counts[index]);
        if off == 0 && count == 0 {
            return Ok(None);
        }
        let len = self.src.len();
        if off.checked_add(count).is_none_or(|e| e > len) {
            return Err(Error::format(
                self.path,
                format!(
                    "truncated or corrupt file: block {index} ({count} bytes at offset {off}) \
                     lies past the end of the file ({len} bytes)"
                ),
            ));
        }
        let count = usize::try_from(count)
            .ok()
            .filter(|&c| c <= MAX_BLOCK_BYTES)
            .ok_or_else(|| self.decode_err(img, index, format!("block of {count} bytes")))?;
        buf.clear();
        buf.resize(count, 0);
        self.src.read_exact_at(buf, off).map_err(|e| Error::io(self.path, e))?;
        if img.lsb_fill_order {
            codec::reverse_bits(buf);
        }
        Ok(Some(buf.as_mut_slice()))
    }

    /// Refuse, before allocating, a block whose stored bytes cannot hold `need` decoded bytes
    /// (a damaged byte count or a hostile file): Deflate expands at most 1032×, PackBits 64×,
    /// LZW 4096× per 9-bit code, and a ZSTD frame states its size (or expands at most 32768×).
    fn check_plausible(&self, img: &Image, index: usize, raw: &[u8], need: usize) -> Result<()> {
        let n = raw.len();
        let max = match img.codec {
            Codec::Deflate => n.saturating_mul(1032).saturating_add(64),
            Codec::PackBits => n.saturating_mul(64).saturating_add(128),
            Codec::Lzw => (n * 8 / 9 + 1).saturating_mul(4096),
            Codec::Zstd => match zstd::zstd_safe::get_frame_content_size(raw) {
                Ok(Some(size)) if size < need as u64 => {
                    return Err(self.decode_err(
                        img,
                        index,
                        format!("ZSTD frame holds {size} bytes, the block holds {need}"),
                    ));
                }
                Err(_) => return Err(self.decode_err(img, index, "not a ZSTD frame")),
                // No stated size: a ZSTD block (at most 128 KiB out) costs at least 4 bytes.
                _ => n.saturating_mul(32768).saturating_add(1 << 20),
            },
            _ => usize::MAX,
        };
        if need > max {
            return Err(self.decode_err(
                img,
                index,
                format!("{n} compressed bytes cannot hold the block's {need} bytes"),
            ));
        }
        Ok(())
    }

    /// Decompress block `index` (stored rows `rows_in_block`) into exactly `out.len()` bytes.
    fn decompress(
        &self,
        img: &Image,
        index: usize,
        raw: &[u8],
        out: &mut [u8],
        dec: &mut Decoders,
    ) -> Result<()> {
        let got = match img.codec {
            Codec::None => {
                let n = raw.len().min(out.len());
                out[..n].copy_from_slice(&raw[..n]);
                Ok(n)
            }
            Codec::Deflate => codec::inflate(dec, raw, out),
            Codec::Zstd => codec::unzstd(dec, raw, out),
            Codec::Lzw => codec::unlzw(raw, out),
            Codec::PackBits => codec::unpackbits(raw, out),
            Codec::Jpeg | Codec::Webp => Err("internal: picture codec on the byte path".into()),
        }
        .map_err(|m| self.decode_err(img, index, m))?;
        if got < out.len() {
            return Err(self.decode_err(
                img,
                index,
                format!("decoded {got} bytes, the block holds {}", out.len()),
            ));
        }
        Ok(())
    }

    /// Decode rows `rows` (block-relative) of block `index` (block row `br`) into `out`.
    fn decode_block<'s, T: Sample>(
        &self,
        img: &Image,
        index: usize,
        br: usize,
        rows: Range<usize>,
        out: &'s mut Vec<T>,
        sc: &mut Scratch,
    ) -> Result<Option<Decoded<'s, T>>> {
        let spp = img.block_spp();
        let row_len = img.block_w * spp;
        let rows_stored = img.rows_in_block(br);
        if rows.end > rows_stored {
            return Err(Error::format(
                self.path,
                format!("block {index} is shorter than the image"),
            ));
        }
        let full = row_len
            .checked_mul(rows_stored)
            .filter(|&n| n.saturating_mul(std::mem::size_of::<T>()) <= MAX_BLOCK_BYTES)
            .ok_or_else(|| {
                Error::unsupported(
                    self.path,
                    format!("block {index} of {} x {rows_stored} pixels is too large", img.block_w),
                )
            })?;

        // Pictures (JPEG, WebP): whole block, u8 only.
        if matches!(img.codec, Codec::Jpeg | Codec::Webp) {
            let Some(raw) = self.read_raw(img, index, &mut sc.raw)? else { return Ok(None) };
            let pic = match img.codec {
                Codec::Jpeg => codec::unjpeg(
                    img.jpeg_tables.as_deref(),
                    raw,
                    img.photometric == tags::PHOTOMETRIC_YCBCR,
                    (img.block_w, img.block_h),
                ),
                _ => codec::unwebp(raw, spp == 4, (img.block_w, img.block_h)),
            }
            .map_err(|m| self.decode_err(img, index, m))?;
            if pic.width != img.block_w || pic.height < rows_stored || pic.channels != spp {
                return Err(self.decode_err(
                    img,
                    index,
                    format!(
                        "decoded a {} x {} picture of {} channel(s) for a {} x {} block of {} band(s)",
                        pic.width, pic.height, pic.channels, img.block_w, rows_stored, spp
                    ),
                ));
            }
            out.clear();
            out.extend(pic.data[..full].iter().map(|&v| T::from_f64(v as f64)));
            return Ok(Some(Decoded { data: out, first_row: 0, row_len, spp }));
        }

        match img.storage {
            Storage::Native => {
                let (first_row, nrows) = if img.codec == Codec::None {
                    // Uncompressed: read just the rows needed (a whole-image strip stays cheap).
                    (rows.start, rows.len())
                } else {
                    (0, rows_stored)
                };
                if img.codec == Codec::None {
                    out.clear();
                    out.resize(row_len * nrows, T::default());
                    let bytes: &mut [u8] = bytemuck::cast_slice_mut(out.as_mut_slice());
                    if !self.read_rows(img, index, first_row, bytes)? {
                        return Ok(None);
                    }
                } else {
                    let Some(raw) = self.read_raw(img, index, &mut sc.raw)? else {
                        return Ok(None);
                    };
                    let need = row_len * nrows * std::mem::size_of::<T>();
                    self.check_plausible(img, index, raw, need)?;
                    // No need to clear: decompression overwrites every byte or fails.
                    out.resize(row_len * nrows, T::default());
                    out.truncate(row_len * nrows);
                    let bytes: &mut [u8] = bytemuck::cast_slice_mut(out.as_mut_slice());
                    self.decompress(img, index, raw, bytes, &mut sc.decoders)?;
                    if img.predictor == 3 {
                        let size = std::mem::size_of::<T>();
                        codec::undo_float_predictor(bytes, row_len * size, spp, size, &mut sc.tmp);
                    }
                }
                let data = out.as_mut_slice();
                if img.big_endian != cfg!(target_endian = "big")
                    && std::mem::size_of::<T>() > 1
                    && img.predictor != 3
                {
                    for v in data.iter_mut() {
                        *v = v.swap();
                    }
                }
                if img.predictor == 2 {
                    codec::undo_horizontal(data, row_len, spp);
                }
                Ok(Some(Decoded { data: out, first_row, row_len, spp }))
            }
            Storage::Float16 => {
                let bytes_len = row_len * rows_stored * 2;
                let Some(raw) = self.read_raw(img, index, &mut sc.raw)? else { return Ok(None) };
                self.check_plausible(img, index, raw, bytes_len)?;
                sc.bytes.clear();
                sc.bytes.resize(bytes_len, 0);
                self.decompress(img, index, raw, &mut sc.bytes, &mut sc.decoders)?;
                let swap = img.big_endian != cfg!(target_endian = "big");
                if img.predictor == 3 {
                    // un-shuffling yields native byte order
                    codec::undo_float_predictor(&mut sc.bytes, row_len * 2, spp, 2, &mut sc.tmp);
                }
                let mut h: Vec<u16> = sc
                    .bytes
                    .chunks_exact(2)
                    .map(|c| {
                        let v = u16::from_ne_bytes([c[0], c[1]]);
                        if swap && img.predictor != 3 { v.swap_bytes() } else { v }
                    })
                    .collect();
                if img.predictor == 2 {
                    codec::undo_horizontal(&mut h, row_len, spp);
                }
                out.clear();
                out.extend(h.iter().map(|&b| T::from_f64(half::f16::from_bits(b).to_f64())));
                Ok(Some(Decoded { data: out, first_row: 0, row_len, spp }))
            }
            Storage::Packed(bits) => {
                let rb = img.row_bytes();
                let Some(raw) = self.read_raw(img, index, &mut sc.raw)? else { return Ok(None) };
                self.check_plausible(img, index, raw, rb * rows_stored)?;
                sc.bytes.clear();
                sc.bytes.resize(rb * rows_stored, 0);
                self.decompress(img, index, raw, &mut sc.bytes, &mut sc.decoders)?;
                out.clear();
                out.reserve(full);
                for row in sc.bytes.chunks_exact(rb) {
                    unpack_row(row, bits as u32, row_len, out);
                }
                Ok(Some(Decoded { data: out, first_row: 0, row_len, spp }))
            }
        }
    }

    /// Read stored rows of an uncompressed block straight into `out` (`false`: sparse block).
    fn read_rows(
        &self,
        img: &Image,
        index: usize,
        first_row: usize,
        out: &mut [u8],
    ) -> Result<bool> {
        let (off, count) = (img.offsets[index], img.counts[index]);
        if off == 0 && count == 0 {
            return Ok(false);
        }
        let rb = img.row_bytes() as u64;
        let start = first_row as u64 * rb;
        let need = start + out.len() as u64;
        if need > count {
            return Err(self.decode_err(
                img,
                index,
                format!("uncompressed block holds {count} bytes, {need} needed"),
            ));
        }
        let len = self.src.len();
        let at =
            off.checked_add(start).filter(|a| a + out.len() as u64 <= len).ok_or_else(|| {
                Error::format(
                    self.path,
                    format!(
                        "truncated or corrupt file: block {index} ({count} bytes at offset {off}) \
                     lies past the end of the file ({len} bytes)"
                    ),
                )
            })?;
        self.src.read_exact_at(out, at).map_err(|e| Error::io(self.path, e))?;
        Ok(true)
    }
}

/// Unpack one row of `n` MSB-first `bits`-bit unsigned samples.
fn unpack_row<T: Sample>(row: &[u8], bits: u32, n: usize, out: &mut Vec<T>) {
    let mut bitpos = 0usize;
    for _ in 0..n {
        let mut v: u32 = 0;
        for _ in 0..bits {
            let byte = row.get(bitpos >> 3).copied().unwrap_or(0);
            let bit = (byte >> (7 - (bitpos & 7))) & 1;
            v = (v << 1) | bit as u32;
            bitpos += 1;
        }
        out.push(T::from_f64(v as f64));
    }
}

/// One block's share of the output: block `(bc, br)` and the view of the output it fills.
struct Task<'a, T> {
    bc: usize,
    br: usize,
    /// Block-relative row and column of the view's top-left pixel.
    row0: usize,
    col0: usize,
    view: ArrayViewMut3<'a, T>,
}

/// Split `out` (the pixels of `window`) into one view per block of `img`.
fn tasks<'a, T>(img: &Image, window: Window, out: ArrayViewMut3<'a, T>) -> Vec<Task<'a, T>> {
    let (bw, bh) = (img.block_w, img.block_h);
    let (c0, r0) = (window.col_off as usize, window.row_off as usize);
    let mut res = Vec::new();
    let mut rest = out;
    let mut row = r0;
    while rest.len_of(Axis(1)) > 0 {
        let br = row / bh;
        let take = ((br + 1) * bh - row).min(rest.len_of(Axis(1)));
        let (stripe, tail) = rest.split_at(Axis(1), take);
        rest = tail;
        let mut srest = stripe;
        let mut col = c0;
        while srest.len_of(Axis(2)) > 0 {
            let bc = col / bw;
            let w = ((bc + 1) * bw - col).min(srest.len_of(Axis(2)));
            let (v, t) = srest.split_at(Axis(2), w);
            srest = t;
            res.push(Task { bc, br, row0: row - br * bh, col0: col - bc * bw, view: v });
            col += w;
        }
        row += take;
    }
    res
}

/// Read `window` (inside the image) of the 0-based `bands` of `img` as `(band, row, col)`.
pub(crate) fn read_window<T: Sample>(
    ctx: &Ctx<'_>,
    img: &Image,
    bands: &[usize],
    window: Window,
) -> Result<Array3<T>> {
    let shape = (bands.len(), window.height, window.width);
    let n = shape
        .0
        .checked_mul(shape.1)
        .and_then(|n| n.checked_mul(shape.2))
        .filter(|n| n.saturating_mul(std::mem::size_of::<T>()) <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::Invalid(format!("window {window} of {} bands is too large", shape.0))
        })?;
    // `vec![zero; n]` becomes a zeroed allocation (calloc): untouched pages cost nothing.
    let zeroed = vec![T::default(); n];
    let mut out = Array3::from_shape_vec(shape, zeroed)
        .map_err(|e| Error::Invalid(format!("window buffer: {e}")))?;
    if out.is_empty() {
        return Ok(out);
    }
    let list = tasks(img, window, out.view_mut());
    let run = |sc: &mut (Scratch, Vec<T>), t: Task<'_, T>| -> Result<()> {
        fill_task(ctx, img, bands, t, &mut sc.0, &mut sc.1)
    };
    if list.len() == 1 {
        let mut sc = (Scratch::default(), Vec::new());
        for t in list {
            run(&mut sc, t)?;
        }
    } else {
        list.into_par_iter().try_for_each_init(|| (Scratch::default(), Vec::new()), run)?;
    }
    Ok(out)
}

fn fill_task<T: Sample>(
    ctx: &Ctx<'_>,
    img: &Image,
    bands: &[usize],
    mut t: Task<'_, T>,
    sc: &mut Scratch,
    buf: &mut Vec<T>,
) -> Result<()> {
    let vh = t.view.dim().1;
    let rows = t.row0..t.row0 + vh;
    let fill = T::from_f64(ctx.sparse_fill);
    if img.planar {
        for (i, &b) in bands.iter().enumerate() {
            let index = img.block_index(b, t.bc, t.br);
            let mut dst = t.view.slice_mut(s![i..i + 1, .., ..]);
            match ctx.decode_block::<T>(img, index, t.br, rows.clone(), buf, sc)? {
                Some(d) => copy_rows(&d, &[0], t.row0, t.col0, &mut dst),
                None => dst.fill(fill),
            }
        }
    } else {
        let index = img.block_index(0, t.bc, t.br);
        match ctx.decode_block::<T>(img, index, t.br, rows, buf, sc)? {
            Some(d) => copy_rows(&d, bands, t.row0, t.col0, &mut t.view),
            None => t.view.fill(fill),
        }
    }
    Ok(())
}

/// Copy samples `samples` (indices within a pixel) of the decoded rows into `dst`
/// `(samples, h, w)`, whose top-left pixel is block pixel `(row0, col0)`.
fn copy_rows<T: Sample>(
    d: &Decoded<'_, T>,
    samples: &[usize],
    row0: usize,
    col0: usize,
    dst: &mut ArrayViewMut3<'_, T>,
) {
    let (_, h, w) = dst.dim();
    // Three bands of RGB-like pixels, the commonest case: one pass over each source row.
    if d.spp >= 3 && samples.len() == 3 {
        let (s0, s1, s2) = (samples[0], samples[1], samples[2]);
        for y in 0..h {
            let start = (row0 + y - d.first_row) * d.row_len + col0 * d.spp;
            let src = d.data[start..start + w * d.spp].chunks_exact(d.spp);
            let mut rows = dst.slice_mut(s![.., y, ..]);
            let mut it = rows.axis_iter_mut(Axis(0));
            let (Some(mut a), Some(mut b), Some(mut c)) = (it.next(), it.next(), it.next()) else {
                return;
            };
            match (a.as_slice_mut(), b.as_slice_mut(), c.as_slice_mut()) {
                (Some(a), Some(b), Some(c)) => {
                    for (((px, a), b), c) in src.zip(a).zip(b).zip(c) {
                        *a = px[s0];
                        *b = px[s1];
                        *c = px[s2];
                    }
                }
                _ => {
                    for (((px, a), b), c) in
                        src.zip(a.iter_mut()).zip(b.iter_mut()).zip(c.iter_mut())
                    {
                        *a = px[s0];
                        *b = px[s1];
                        *c = px[s2];
                    }
                }
            }
        }
        return;
    }
    for (i, &s) in samples.iter().enumerate() {
        for y in 0..h {
            let start = (row0 + y - d.first_row) * d.row_len;
            let src = &d.data[start..start + d.row_len];
            let mut row = dst.slice_mut(s![i, y, ..]);
            if d.spp == 1 {
                let src = &src[col0..col0 + w];
                match row.as_slice_mut() {
                    Some(r) => r.copy_from_slice(src),
                    None => row.iter_mut().zip(src).for_each(|(o, &v)| *o = v),
                }
            } else {
                let src = src[col0 * d.spp..].chunks_exact(d.spp);
                match row.as_slice_mut() {
                    Some(r) => r.iter_mut().zip(src).for_each(|(o, px)| *o = px[s]),
                    None => row.iter_mut().zip(src).for_each(|(o, px)| *o = px[s]),
                }
            }
        }
    }
}
