//! Block decompression (LZW, Deflate, ZSTD, PackBits, JPEG, WebP) and the TIFF predictors.
//!
//! Every function returns `Err(message)` on damaged input; the caller wraps it into
//! [`geodino_core::Error::Decode`] with the file, block index and codec.

use std::io::Cursor;

/// Reusable decoder state, one per worker thread.
#[derive(Default)]
pub(crate) struct Decoders {
    inflate: Option<libdeflater::Decompressor>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for Decoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoders")
    }
}

type R<T> = std::result::Result<T, String>;

/// Inflate a zlib stream into `out`; returns the number of bytes written.
pub(crate) fn inflate(d: &mut Decoders, input: &[u8], out: &mut [u8]) -> R<usize> {
    let z = d.inflate.get_or_insert_with(libdeflater::Decompressor::new);
    match z.zlib_decompress(input, out) {
        Ok(n) => Ok(n),
        // The stream holds more than the block: libtiff keeps the block's worth and so do we.
        Err(libdeflater::DecompressionError::InsufficientSpace) => {
            let mut big = vec![0u8; out.len().saturating_mul(2).max(1024)];
            match z.zlib_decompress(input, &mut big) {
                Ok(n) if n >= out.len() => {
                    out.copy_from_slice(&big[..out.len()]);
                    Ok(out.len())
                }
                _ => Err("Deflate: stream larger than the block".into()),
            }
        }
        Err(e) => Err(format!("Deflate: {e}")),
    }
}

/// Decompress one ZSTD frame into `out`.
pub(crate) fn unzstd(d: &mut Decoders, input: &[u8], out: &mut [u8]) -> R<usize> {
    if d.zstd.is_none() {
        d.zstd = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
    }
    let z = d.zstd.as_mut().ok_or("zstd decoder unavailable")?;
    z.decompress_to_buffer(input, out).map_err(|e| e.to_string())
}

/// TIFF LZW (MSB first, early code-size change); also the pre-6.0 "old-style" LSB variant
/// that libtiff still reads.
pub(crate) fn unlzw(input: &[u8], out: &mut [u8]) -> R<usize> {
    use weezl::{BitOrder, LzwStatus, decode::Decoder};
    let old_style = input.len() >= 2 && input[0] == 0 && input[1] & 1 == 1;
    let mut dec = if old_style {
        Decoder::new(BitOrder::Lsb, 8)
    } else {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    };
    let mut inp = input;
    let mut written = 0;
    while written < out.len() {
        let r = dec.decode_bytes(inp, &mut out[written..]);
        inp = &inp[r.consumed_in..];
        written += r.consumed_out;
        match r.status {
            Ok(LzwStatus::Done) | Ok(LzwStatus::NoProgress) => break,
            Ok(LzwStatus::Ok) => {
                if r.consumed_in == 0 && r.consumed_out == 0 {
                    break;
                }
            }
            Err(e) => {
                // Some writers leave garbage after a complete block; what was decoded stands.
                if written == out.len() {
                    break;
                }
                return Err(format!("LZW: {e}"));
            }
        }
    }
    Ok(written)
}

/// PackBits run-length decoding.
pub(crate) fn unpackbits(input: &[u8], out: &mut [u8]) -> R<usize> {
    let (mut i, mut o) = (0usize, 0usize);
    while i < input.len() && o < out.len() {
        let n = input[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let src = input.get(i..i + len).ok_or("PackBits: literal run past the end of data")?;
            let m = len.min(out.len() - o);
            out[o..o + m].copy_from_slice(&src[..m]);
            i += len;
            o += m;
        } else if n != -128 {
            let len = (1 - n as isize) as usize;
            let v = *input.get(i).ok_or("PackBits: repeat run past the end of data")?;
            i += 1;
            let m = len.min(out.len() - o);
            out[o..o + m].fill(v);
            o += m;
        }
    }
    Ok(o)
}

/// A decoded JPEG or WebP block: `width × height` pixels of `channels` interleaved u8 samples.
#[derive(Debug)]
pub(crate) struct Picture {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

/// Decode a JPEG-in-TIFF block. `tables` is the `JPEGTables` stream (quantisation and Huffman
/// tables shared by all blocks), prepended to abbreviated block streams. With `ycbcr` the
/// components are converted to RGB as libjpeg does for GDAL (`JPEGCOLORMODE=RGB`); otherwise the
/// components are returned as stored, as libtiff does for every other photometric
/// interpretation.
pub(crate) fn unjpeg(
    tables: Option<&[u8]>,
    input: &[u8],
    ycbcr: bool,
    max: (usize, usize),
) -> R<Picture> {
    let joined;
    let stream: &[u8] = match tables {
        Some(t) if t.len() >= 4 && input.len() >= 2 && input[..2] == [0xFF, 0xD8] => {
            // tables = SOI ... EOI; block = SOI ... EOI → SOI <tables> <block body> EOI
            let t_end = if t.ends_with(&[0xFF, 0xD9]) { t.len() - 2 } else { t.len() };
            let mut v = Vec::with_capacity(t_end + input.len());
            v.extend_from_slice(&t[..t_end]);
            v.extend_from_slice(&input[2..]);
            joined = v;
            &joined
        }
        _ => input,
    };
    let mut dec = jpeg_decoder::Decoder::new(stream);
    if ycbcr {
        dec.set_color_transform(jpeg_decoder::ColorTransform::YCbCr);
    }
    // Never allocate for a picture larger than the block (a damaged header).
    dec.read_info().map_err(|e| format!("JPEG: {e}"))?;
    let info = dec.info().ok_or("JPEG: no frame header")?;
    if info.width as usize > max.0 || info.height as usize > max.1 {
        return Err(format!(
            "JPEG: a {} x {} picture in a {} x {} block",
            info.width, info.height, max.0, max.1
        ));
    }
    dec.set_max_decoding_buffer_size(max.0 * max.1 * 4 + 4096);
    let data = dec.decode().map_err(|e| format!("JPEG: {e}"))?;
    let info = dec.info().ok_or("JPEG: no frame header")?;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
        jpeg_decoder::PixelFormat::L16 => {
            return Err("JPEG: 16-bit samples are not supported".into());
        }
    };
    let (width, height) = (info.width as usize, info.height as usize);
    if data.len() < width * height * channels {
        return Err("JPEG: decoder returned too few pixels".into());
    }
    Ok(Picture { width, height, channels, data })
}

/// Decode a WebP block into RGB (`want_alpha == false`) or RGBA.
pub(crate) fn unwebp(input: &[u8], want_alpha: bool, max: (usize, usize)) -> R<Picture> {
    let mut dec =
        image_webp::WebPDecoder::new(Cursor::new(input)).map_err(|e| format!("WebP: {e}"))?;
    let (w, h) = dec.dimensions();
    let (width, height) = (w as usize, h as usize);
    if width > max.0 || height > max.1 {
        return Err(format!("WebP: a {width} x {height} picture in a {} x {} block", max.0, max.1));
    }
    let has_alpha = dec.has_alpha();
    let size = dec.output_buffer_size().ok_or("WebP: image too large")?;
    let mut buf = vec![0u8; size];
    dec.read_image(&mut buf).map_err(|e| format!("WebP: {e}"))?;
    let src_ch = if has_alpha { 4 } else { 3 };
    let channels = if want_alpha { 4 } else { 3 };
    let data = if src_ch == channels {
        buf
    } else {
        let mut out = Vec::with_capacity(width * height * channels);
        for px in buf.chunks_exact(src_ch) {
            out.extend_from_slice(&px[..3]);
            if want_alpha {
                out.push(255);
            }
        }
        out
    };
    Ok(Picture { width, height, channels, data })
}

/// Reverse the bit order of every byte (`FillOrder = 2`).
pub(crate) fn reverse_bits(data: &mut [u8]) {
    for b in data {
        *b = b.reverse_bits();
    }
}

/// Samples the predictors work on: wrapping addition on the stored bits.
pub(crate) trait PredictorSample: Copy {
    fn wrapping_add_bits(self, other: Self) -> Self;
}

macro_rules! int_pred {
    ($($t:ty),*) => {$(
        impl PredictorSample for $t {
            #[inline]
            fn wrapping_add_bits(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
        }
    )*};
}
int_pred!(u8, i8, u16, i16, u32, i32, u64);

impl PredictorSample for f32 {
    #[inline]
    fn wrapping_add_bits(self, other: Self) -> Self {
        f32::from_bits(self.to_bits().wrapping_add(other.to_bits()))
    }
}
impl PredictorSample for f64 {
    #[inline]
    fn wrapping_add_bits(self, other: Self) -> Self {
        f64::from_bits(self.to_bits().wrapping_add(other.to_bits()))
    }
}

/// Undo horizontal differencing (predictor 2) on rows of `row_len` samples, `stride` samples
/// per pixel.
pub(crate) fn undo_horizontal<T: PredictorSample>(data: &mut [T], row_len: usize, stride: usize) {
    if row_len == 0 || stride == 0 || row_len < stride {
        return;
    }
    for row in data.chunks_exact_mut(row_len) {
        let (first, rest) = row.split_at_mut(stride);
        match stride {
            1 => {
                let mut acc = first[0];
                for v in rest {
                    acc = v.wrapping_add_bits(acc);
                    *v = acc;
                }
            }
            // Up to four samples per pixel (RGB, RGBA, RGB+NIR): unrolled, accumulators in
            // registers.
            2 => accumulate::<T, 2>(first, rest),
            3 => accumulate::<T, 3>(first, rest),
            4 => accumulate::<T, 4>(first, rest),
            _ => {
                for i in stride..row.len() {
                    row[i] = row[i].wrapping_add_bits(row[i - stride]);
                }
            }
        }
    }
}

/// Horizontal accumulation with `N` samples per pixel known at compile time.
#[inline]
fn accumulate<T: PredictorSample, const N: usize>(first: &[T], rest: &mut [T]) {
    let mut acc: [T; N] = std::array::from_fn(|k| first[k]);
    for px in rest.chunks_exact_mut(N) {
        for k in 0..N {
            acc[k] = px[k].wrapping_add_bits(acc[k]);
            px[k] = acc[k];
        }
    }
}

/// Undo the floating-point predictor (3) on rows of `row_bytes` bytes: byte-wise horizontal
/// differencing with `stride` samples per pixel, then the byte planes (most significant
/// first) are interleaved back into native-endian samples of `size` bytes. `tmp` is scratch.
pub(crate) fn undo_float_predictor(
    data: &mut [u8],
    row_bytes: usize,
    stride: usize,
    size: usize,
    tmp: &mut Vec<u8>,
) {
    if row_bytes == 0 || size == 0 {
        return;
    }
    let n = row_bytes / size; // samples per row
    tmp.resize(row_bytes, 0);
    for row in data.chunks_exact_mut(row_bytes) {
        for i in stride..row.len() {
            row[i] = row[i].wrapping_add(row[i - stride]);
        }
        tmp.copy_from_slice(row);
        for k in 0..n {
            for b in 0..size {
                // plane b holds byte b of each sample counting from the most significant
                let v = tmp[b * n + k];
                let pos = if cfg!(target_endian = "big") { b } else { size - 1 - b };
                row[k * size + pos] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_matches_the_tiff_spec_example() {
        // TIFF 6.0 section 9 example.
        let packed = [
            0xFEu8, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let expect = [
            0xAAu8, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        let mut out = [0u8; 24];
        assert_eq!(unpackbits(&packed, &mut out).unwrap(), 24);
        assert_eq!(out, expect);
        assert!(unpackbits(&[0x05, 1, 2], &mut [0u8; 8]).is_err());
    }

    #[test]
    fn horizontal_predictor_round_trips() {
        let orig: Vec<u16> = vec![10, 20, 30, 65535, 1, 2, 5, 7, 9, 11, 13, 15];
        // encode: rows of 6 samples, 2 samples per pixel
        let mut enc = orig.clone();
        for row in enc.chunks_exact_mut(6) {
            for i in (2..6).rev() {
                row[i] = row[i].wrapping_sub(row[i - 2]);
            }
        }
        undo_horizontal(&mut enc, 6, 2);
        assert_eq!(enc, orig);
    }

    #[test]
    fn float_predictor_round_trips() {
        let orig: Vec<f32> = vec![1.5, -2.25, 1e-3, 3.0e8, f32::NAN, 0.0];
        // encode one row of 6 samples, stride 1
        let n = orig.len();
        let mut planes = vec![0u8; n * 4];
        for (k, v) in orig.iter().enumerate() {
            let be = v.to_be_bytes();
            for b in 0..4 {
                planes[b * n + k] = be[b];
            }
        }
        for i in (1..planes.len()).rev() {
            planes[i] = planes[i].wrapping_sub(planes[i - 1]);
        }
        let mut tmp = Vec::new();
        undo_float_predictor(&mut planes, n * 4, 1, 4, &mut tmp);
        let back: Vec<f32> =
            planes.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        for (a, b) in back.iter().zip(&orig) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn damaged_streams_are_errors_not_panics() {
        let mut d = Decoders::default();
        let mut out = vec![0u8; 64];
        assert!(inflate(&mut d, &[0x78, 0x9c, 0xff, 0xff, 0xff], &mut out).is_err());
        assert!(unzstd(&mut d, &[1, 2, 3, 4, 5], &mut out).is_err());
        assert!(unjpeg(None, &[0xFF, 0xD8, 0xFF, 0xDB, 0, 2], false, (16, 16)).is_err());
        assert!(unwebp(b"RIFF\x10\0\0\0WEBPVP8 ", false, (16, 16)).is_err());
        // LZW: a clear code then garbage
        let _ = unlzw(&[0x80, 0xff, 0xff, 0xff], &mut out);
    }
}
