//! Tile encoding: sample bytes (little-endian), TIFF predictors 2 and 3, and the codecs.

use std::cell::RefCell;

use geodino_core::{DataType, RasterElement};

use super::options::TiffCompression;

/// A pixel type the writer handles: the core element plus byte access and the integer
/// arithmetic of the horizontal predictor.
pub(crate) trait Sample: RasterElement + bytemuck::Pod {
    /// `self - prev` with wrap-around (integers); plain subtraction for floats (unused there).
    fn wrapping_diff(self, prev: Self) -> Self;
    /// True for a float NaN.
    fn is_nan(self) -> bool;
    /// Append the little-endian bytes of `v`.
    fn extend_le(v: &[Self], out: &mut Vec<u8>) {
        #[cfg(target_endian = "little")]
        out.extend_from_slice(bytemuck::cast_slice(v));
        #[cfg(target_endian = "big")]
        for x in v {
            let b: &[u8] = bytemuck::bytes_of(x);
            out.extend(b.iter().rev());
        }
    }
}

macro_rules! int_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn wrapping_diff(self, prev: Self) -> Self {
                self.wrapping_sub(prev)
            }
            #[inline]
            fn is_nan(self) -> bool {
                false
            }
        }
    )*};
}
int_sample!(u8, i8, u16, i16, u32, i32);

macro_rules! float_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn wrapping_diff(self, prev: Self) -> Self {
                self - prev
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    )*};
}
float_sample!(f32, f64);

/// How tiles are encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoding {
    pub compression: TiffCompression,
    pub level: Option<i32>,
    /// TIFF predictor value: 1, 2 or 3.
    pub predictor: u16,
    /// Tile width = height.
    pub tile: usize,
    /// Samples per pixel (bands, chunky).
    pub spp: usize,
}

/// Encode one chunky tile (`tile × tile × spp` samples, row-major) into the bytes stored in
/// the file.
pub(crate) fn encode_tile<T: Sample>(data: &[T], enc: &Encoding) -> std::io::Result<Vec<u8>> {
    let row_samples = enc.tile * enc.spp;
    debug_assert_eq!(data.len(), row_samples * enc.tile);
    let size = std::mem::size_of::<T>();
    let mut raw = Vec::with_capacity(std::mem::size_of_val(data));
    match enc.predictor {
        2 => {
            let mut row = vec![T::default(); row_samples];
            for src in data.chunks_exact(row_samples) {
                row.copy_from_slice(src);
                for i in (enc.spp..row_samples).rev() {
                    row[i] = row[i].wrapping_diff(row[i - enc.spp]);
                }
                T::extend_le(&row, &mut raw);
            }
        }
        3 => {
            // Floating-point predictor (Adobe TIFF technote 3): per row, the bytes of every
            // sample are split into planes, most significant byte first, then the whole row of
            // bytes is differenced with a stride of one pixel (spp bytes).
            let row_bytes = row_samples * size;
            let mut le = Vec::with_capacity(row_bytes);
            let mut planes = vec![0u8; row_bytes];
            for src in data.chunks_exact(row_samples) {
                le.clear();
                T::extend_le(src, &mut le);
                for (s, bytes) in le.chunks_exact(size).enumerate() {
                    for (b, &byte) in bytes.iter().rev().enumerate() {
                        planes[b * row_samples + s] = byte;
                    }
                }
                for i in (enc.spp..row_bytes).rev() {
                    planes[i] = planes[i].wrapping_sub(planes[i - enc.spp]);
                }
                raw.extend_from_slice(&planes);
            }
        }
        _ => T::extend_le(data, &mut raw),
    }
    compress(&raw, enc.compression, enc.level)
}

/// Compress `raw` with `compression` at `level` (or the codec's default).
pub(crate) fn compress(
    raw: &[u8],
    compression: TiffCompression,
    level: Option<i32>,
) -> std::io::Result<Vec<u8>> {
    let level = level.or(compression.default_level());
    match compression {
        TiffCompression::None => Ok(raw.to_vec()),
        TiffCompression::Deflate => deflate(raw, level.unwrap_or(6)),
        TiffCompression::Zstd => zstd::bulk::compress(raw, level.unwrap_or(9)),
        TiffCompression::Lzw => {
            weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                .encode(raw)
                .map_err(|e| std::io::Error::other(format!("LZW: {e}")))
        }
    }
}

thread_local! {
    /// One libdeflate compressor per thread and level (allocating one costs more than a tile),
    /// and one output buffer of the compressor's bound, reused from tile to tile.
    static DEFLATERS: RefCell<(Vec<(i32, libdeflater::Compressor)>, Vec<u8>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// zlib-wrapped deflate (TIFF compression 8) with libdeflate at `level` (0–12; GDAL's `ZLEVEL`
/// default is 6).
fn deflate(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    DEFLATERS.with(|cell| {
        let (cache, buf) = &mut *cell.borrow_mut();
        let i = match cache.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                let lvl = libdeflater::CompressionLvl::new(level)
                    .map_err(|e| std::io::Error::other(format!("deflate level {level}: {e:?}")))?;
                cache.push((level, libdeflater::Compressor::new(lvl)));
                cache.len() - 1
            }
        };
        let c = &mut cache[i].1;
        let bound = c.zlib_compress_bound(raw.len());
        if buf.len() < bound {
            buf.resize(bound, 0);
        }
        let n = c
            .zlib_compress(raw, &mut buf[..bound])
            .map_err(|e| std::io::Error::other(format!("deflate: {e:?}")))?;
        Ok(buf[..n].to_vec())
    })
}

/// The TIFF `SampleFormat` value of a data type (1 unsigned, 2 signed, 3 float).
pub(crate) fn sample_format(dtype: DataType) -> u16 {
    if dtype.is_float() {
        3
    } else if dtype.is_signed() {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn enc(predictor: u16, compression: TiffCompression, spp: usize) -> Encoding {
        Encoding { compression, level: None, predictor, tile: 16, spp }
    }

    /// Undo predictor 3 on one row (the decoder's view), to check the encoder against it.
    fn unpredict_float_row(bytes: &mut [u8], spp: usize, size: usize) -> Vec<f32> {
        for i in spp..bytes.len() {
            bytes[i] = bytes[i].wrapping_add(bytes[i - spp]);
        }
        let n = bytes.len() / size;
        (0..n)
            .map(|s| {
                let mut b = [0u8; 4];
                for k in 0..size {
                    b[size - 1 - k] = bytes[k * n + s];
                }
                f32::from_le_bytes(b)
            })
            .collect()
    }

    #[test]
    fn horizontal_predictor_wraps_per_sample() {
        let data: Vec<u8> = (0..16 * 16 * 2).map(|i| (i * 7 % 251) as u8).collect();
        let out = encode_tile(&data, &enc(2, TiffCompression::None, 2)).unwrap();
        // first pixel kept, then differences against the same band one pixel to the left
        assert_eq!(out[0], data[0]);
        assert_eq!(out[1], data[1]);
        assert_eq!(out[2], data[2].wrapping_sub(data[0]));
        assert_eq!(out[3], data[3].wrapping_sub(data[1]));
        // decode and compare
        let mut dec = out.clone();
        for row in dec.chunks_exact_mut(32) {
            for i in 2..32 {
                row[i] = row[i].wrapping_add(row[i - 2]);
            }
        }
        assert_eq!(dec, data);
    }

    #[test]
    fn float_predictor_round_trips() {
        let data: Vec<f32> = (0..16 * 16 * 3).map(|i| (i as f32 * 0.37).sin() * 100.0).collect();
        let mut out = encode_tile(&data, &enc(3, TiffCompression::None, 3)).unwrap();
        let row_bytes = 16 * 3 * 4;
        let mut back = Vec::new();
        for row in out.chunks_exact_mut(row_bytes) {
            back.extend(unpredict_float_row(row, 3, 4));
        }
        assert_eq!(back, data);
    }

    #[test]
    fn codecs_decode_to_the_input() {
        let raw: Vec<u8> = (0..5000u32).map(|i| (i / 7 % 256) as u8).collect();
        let z = compress(&raw, TiffCompression::Deflate, None).unwrap();
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, raw);
        let z = compress(&raw, TiffCompression::Zstd, Some(3)).unwrap();
        assert_eq!(zstd::bulk::decompress(&z, raw.len()).unwrap(), raw);
        let z = compress(&raw, TiffCompression::Lzw, None).unwrap();
        let back = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .decode(&z)
            .unwrap();
        assert_eq!(back, raw);
        assert!(z.len() < raw.len());
    }
}
