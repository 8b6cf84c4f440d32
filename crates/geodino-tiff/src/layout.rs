//! The storage layout of one TIFF image (one IFD): size, samples, data type, blocks, codec.

use std::path::Path;

use geodino_core::{BlockSize, Compression, DataType, Error, Result};

use crate::ifd::Ifd;
use crate::tags::{self, compression_name};

/// Decoders the reader implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Lzw,
    Deflate,
    Zstd,
    PackBits,
    Jpeg,
    Webp,
}

/// How one sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// Exactly the bits of the output type (8, 16, 32 or 64).
    Native,
    /// IEEE half precision, widened to `f32`.
    Float16,
    /// Unsigned integers of an odd width (1, 2, 4, 12, ... bits), MSB first, rows padded to a
    /// byte; widened to the next byte-sized unsigned type.
    Packed(u16),
}

/// One image of a TIFF: the full-resolution raster, an overview or a mask.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    /// Offset of the IFD (for messages).
    pub ifd_offset: u64,
    /// `NewSubfileType` bits.
    pub subfile: u64,
    pub width: usize,
    pub height: usize,
    /// Samples per pixel (bands).
    pub spp: usize,
    pub bits: u16,
    pub sample_format: u16,
    /// The type pixels are returned in.
    pub dtype: DataType,
    pub storage: Storage,
    /// `PlanarConfiguration = 2`: one plane (set of blocks) per band.
    pub planar: bool,
    pub tiled: bool,
    /// Block (tile or strip) width and height; a strip is `width` × `RowsPerStrip`.
    pub block_w: usize,
    pub block_h: usize,
    pub blocks_across: usize,
    pub blocks_down: usize,
    pub offsets: Vec<u64>,
    pub counts: Vec<u64>,
    /// The raw `Compression` tag value.
    pub compression_code: u16,
    pub codec: Codec,
    pub predictor: u16,
    pub photometric: u16,
    pub jpeg_tables: Option<Vec<u8>>,
    /// `FillOrder = 2`: bits within bytes are stored least-significant first.
    pub lsb_fill_order: bool,
    pub extra_samples: Vec<u16>,
    /// The file is big-endian (samples must be swapped on little-endian machines).
    pub big_endian: bool,
}

impl Image {
    /// Describe the image of `ifd`, or say why it cannot be read.
    pub(crate) fn from_ifd(ifd: &Ifd, path: &Path) -> Result<Image> {
        let at = ifd.offset;
        let fmt = |m: String| Error::format(path, format!("IFD at offset {at}: {m}"));
        let unsupported = |m: String| Error::unsupported(path, m);

        let width = ifd.uint(tags::IMAGE_WIDTH).ok_or_else(|| fmt("no ImageWidth tag".into()))?;
        let height =
            ifd.uint(tags::IMAGE_LENGTH).ok_or_else(|| fmt("no ImageLength tag".into()))?;
        if width == 0 || height == 0 || width > (1 << 31) || height > (1 << 31) {
            return Err(fmt(format!("invalid image size {width} x {height}")));
        }
        let (width, height) = (width as usize, height as usize);
        let spp = ifd.uint(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        if spp == 0 || spp > 65535 {
            return Err(fmt(format!("invalid SamplesPerPixel {spp}")));
        }
        let spp = spp as usize;

        let bits_all = ifd.uints(tags::BITS_PER_SAMPLE).unwrap_or_else(|| vec![1]);
        let bits = *bits_all.first().unwrap_or(&1);
        if bits_all.iter().any(|&b| b != bits) {
            return Err(unsupported(format!(
                "bands of different bit depths ({bits_all:?}); geodino reads rasters whose bands \
                 share one data type"
            )));
        }
        if bits == 0 || bits > 64 {
            return Err(fmt(format!("invalid BitsPerSample {bits}")));
        }
        let bits = bits as u16;
        let fmts = ifd.uints(tags::SAMPLE_FORMAT).unwrap_or_else(|| vec![1]);
        let sample_format = *fmts.first().unwrap_or(&1) as u16;
        if fmts.iter().any(|&f| f as u16 != sample_format) {
            return Err(unsupported(format!("bands of different sample formats ({fmts:?})")));
        }
        let (dtype, storage) = data_type(bits, sample_format).map_err(unsupported)?;

        let compression_code = ifd.uint(tags::COMPRESSION).unwrap_or(1) as u16;
        let codec = match compression_code {
            tags::COMPRESSION_NONE => Codec::None,
            tags::COMPRESSION_LZW => Codec::Lzw,
            tags::COMPRESSION_ADOBE_DEFLATE | tags::COMPRESSION_DEFLATE => Codec::Deflate,
            tags::COMPRESSION_ZSTD => Codec::Zstd,
            tags::COMPRESSION_PACKBITS => Codec::PackBits,
            tags::COMPRESSION_JPEG => Codec::Jpeg,
            tags::COMPRESSION_WEBP => Codec::Webp,
            other => {
                return Err(unsupported(format!(
                    "compression {} (TIFF code {other}) is not supported by geodino's GeoTIFF \
                     reader (it reads NONE, LZW, DEFLATE, ZSTD, PACKBITS, JPEG and WEBP); \
                     convert the file, e.g. `gdal_translate -co COMPRESS=DEFLATE in.tif out.tif`",
                    compression_name(other)
                )));
            }
        };
        let photometric = ifd.uint(tags::PHOTOMETRIC).unwrap_or(1) as u16;
        let planar = ifd.uint(tags::PLANAR_CONFIGURATION).unwrap_or(1) == 2 && spp > 1;
        let predictor = ifd.uint(tags::PREDICTOR).unwrap_or(1) as u16;
        match predictor {
            1 => {}
            2 if !matches!(storage, Storage::Packed(_)) => {}
            3 if sample_format == tags::SAMPLE_FORMAT_IEEEFP => {}
            3 => return Err(fmt("floating-point predictor (3) on integer samples".into())),
            p => return Err(unsupported(format!("predictor {p} with {bits}-bit samples"))),
        }
        if matches!(codec, Codec::Jpeg | Codec::Webp) && (bits != 8 || sample_format == 3) {
            return Err(unsupported(format!(
                "{} compression of {bits}-bit samples",
                compression_name(compression_code)
            )));
        }
        if codec == Codec::Webp && (planar || !(spp == 3 || spp == 4)) {
            return Err(unsupported(format!("WEBP compression with {spp} band(s)")));
        }
        if photometric == tags::PHOTOMETRIC_YCBCR && codec != Codec::Jpeg {
            return Err(unsupported(
                "YCbCr pixels that are not JPEG-compressed (GDAL's JPEG YCbCr files are read)"
                    .into(),
            ));
        }
        if photometric == tags::PHOTOMETRIC_CIELAB {
            return Err(unsupported("CIE L*a*b* photometric interpretation".into()));
        }

        let tiled = ifd.has(tags::TILE_WIDTH) || ifd.has(tags::TILE_OFFSETS);
        let (block_w, block_h) = if tiled {
            let tw = ifd.uint(tags::TILE_WIDTH).unwrap_or(0);
            let th = ifd.uint(tags::TILE_LENGTH).unwrap_or(0);
            if tw == 0 || th == 0 || tw > (1 << 20) || th > (1 << 20) {
                return Err(fmt(format!("invalid tile size {tw} x {th}")));
            }
            (tw as usize, th as usize)
        } else {
            let rps = ifd.uint(tags::ROWS_PER_STRIP).unwrap_or(u32::MAX as u64);
            let rps = if rps == 0 { height } else { (rps as usize).min(height) };
            (width, rps)
        };
        let blocks_across = width.div_ceil(block_w);
        let blocks_down = height.div_ceil(block_h);
        let planes = if planar { spp } else { 1 };
        let n_blocks = blocks_across
            .checked_mul(blocks_down)
            .and_then(|n| n.checked_mul(planes))
            .ok_or_else(|| fmt("too many blocks".into()))?;
        let (otag, ctag, kind) = if tiled {
            (tags::TILE_OFFSETS, tags::TILE_BYTE_COUNTS, "tile")
        } else {
            (tags::STRIP_OFFSETS, tags::STRIP_BYTE_COUNTS, "strip")
        };
        let offsets = ifd.uints(otag).ok_or_else(|| fmt(format!("no {kind} offsets")))?;
        if offsets.len() < n_blocks {
            return Err(fmt(format!(
                "{} {kind} offsets for {n_blocks} {kind}s of {block_w} x {block_h}",
                offsets.len()
            )));
        }
        let block_spp: u64 = if planar { 1 } else { spp as u64 };
        let bytes_per_row = |w: usize| (w as u64 * block_spp * bits as u64).div_ceil(8);
        let counts = match ifd.uints(ctag) {
            Some(c) if c.len() >= n_blocks => c,
            Some(c) => {
                return Err(fmt(format!("{} {kind} byte counts for {n_blocks} {kind}s", c.len())));
            }
            // Old writers omit the counts of uncompressed strips; they follow from the layout.
            None if codec == Codec::None => {
                let full = bytes_per_row(block_w).saturating_mul(block_h as u64);
                vec![full; n_blocks]
            }
            None => return Err(fmt(format!("no {kind} byte counts"))),
        };
        let jpeg_tables = ifd.bytes(tags::JPEG_TABLES).map(<[u8]>::to_vec);
        let extra_samples = ifd
            .uints(tags::EXTRA_SAMPLES)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v as u16)
            .collect();
        Ok(Image {
            ifd_offset: at,
            subfile: ifd.uint(tags::NEW_SUBFILE_TYPE).unwrap_or(0),
            width,
            height,
            spp,
            bits,
            sample_format,
            dtype,
            storage,
            planar,
            tiled,
            block_w,
            block_h,
            blocks_across,
            blocks_down,
            offsets,
            counts,
            compression_code,
            codec,
            predictor,
            photometric,
            jpeg_tables,
            lsb_fill_order: ifd.uint(tags::FILL_ORDER) == Some(2),
            extra_samples,
            big_endian: ifd.header.big_endian,
        })
    }

    /// Samples per pixel inside one block: all bands when chunky, one when planar.
    pub(crate) fn block_spp(&self) -> usize {
        if self.planar { 1 } else { self.spp }
    }

    /// Bytes of one stored row of a block (before decoding to the output type).
    pub(crate) fn row_bytes(&self) -> usize {
        (self.block_w * self.block_spp() * self.bits as usize).div_ceil(8)
    }

    /// Rows stored in block row `br` (the last strip may be shorter; tiles are always full).
    pub(crate) fn rows_in_block(&self, br: usize) -> usize {
        if self.tiled { self.block_h } else { self.block_h.min(self.height - br * self.block_h) }
    }

    /// The index into the offset/count arrays of block `(bc, br)` of `plane`.
    pub(crate) fn block_index(&self, plane: usize, bc: usize, br: usize) -> usize {
        let per_plane = self.blocks_across * self.blocks_down;
        let p = if self.planar { plane } else { 0 };
        p * per_plane + br * self.blocks_across + bc
    }

    pub(crate) fn block_size(&self) -> BlockSize {
        BlockSize::new(self.block_w, self.block_h)
    }

    /// The compression as geodino-core names it.
    pub(crate) fn compression(&self) -> Compression {
        match self.codec {
            Codec::None => Compression::None,
            Codec::Lzw => Compression::Lzw,
            Codec::Deflate => Compression::Deflate,
            Codec::Zstd => Compression::Zstd,
            Codec::PackBits => Compression::PackBits,
            Codec::Jpeg => Compression::Jpeg,
            Codec::Webp => Compression::Webp,
        }
    }

    /// True when this IFD is an internal (GDAL) transparency mask.
    pub(crate) fn is_mask(&self) -> bool {
        self.subfile & tags::SUBFILE_MASK != 0 && self.photometric == tags::PHOTOMETRIC_MASK
    }

    /// True when this IFD is a reduced-resolution image.
    pub(crate) fn is_reduced(&self) -> bool {
        self.subfile & tags::SUBFILE_REDUCED != 0
    }
}

/// The data type returned for `bits` of `sample_format`, and how the samples are stored.
fn data_type(bits: u16, sample_format: u16) -> std::result::Result<(DataType, Storage), String> {
    use DataType::*;
    let unsupported = || {
        let kind = match sample_format {
            tags::SAMPLE_FORMAT_INT => "signed integer",
            tags::SAMPLE_FORMAT_IEEEFP => "floating-point",
            5 | 6 => "complex",
            tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID => "unsigned integer",
            _ => "unknown-format",
        };
        Err(format!(
            "{bits}-bit {kind} samples (geodino reads u8, i8, u16, i16, u32, i32, f32 and f64, \
             plus f16 and packed unsigned integers of fewer bits)"
        ))
    };
    Ok(match (sample_format, bits) {
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, 8) => (Uint8, Storage::Native),
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, 16) => (Uint16, Storage::Native),
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, 32) => (Uint32, Storage::Native),
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, b) if b < 8 => {
            (Uint8, Storage::Packed(b))
        }
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, b) if b < 16 => {
            (Uint16, Storage::Packed(b))
        }
        (tags::SAMPLE_FORMAT_UINT | tags::SAMPLE_FORMAT_VOID, b) if b < 32 => {
            (Uint32, Storage::Packed(b))
        }
        (tags::SAMPLE_FORMAT_INT, 8) => (Int8, Storage::Native),
        (tags::SAMPLE_FORMAT_INT, 16) => (Int16, Storage::Native),
        (tags::SAMPLE_FORMAT_INT, 32) => (Int32, Storage::Native),
        (tags::SAMPLE_FORMAT_IEEEFP, 16) => (Float32, Storage::Float16),
        (tags::SAMPLE_FORMAT_IEEEFP, 32) => (Float32, Storage::Native),
        (tags::SAMPLE_FORMAT_IEEEFP, 64) => (Float64, Storage::Native),
        _ => return unsupported(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_types_follow_bits_and_format() {
        assert_eq!(data_type(8, 1).unwrap(), (DataType::Uint8, Storage::Native));
        assert_eq!(data_type(8, 2).unwrap(), (DataType::Int8, Storage::Native));
        assert_eq!(data_type(1, 1).unwrap(), (DataType::Uint8, Storage::Packed(1)));
        assert_eq!(data_type(12, 1).unwrap(), (DataType::Uint16, Storage::Packed(12)));
        assert_eq!(data_type(16, 3).unwrap(), (DataType::Float32, Storage::Float16));
        assert!(data_type(64, 1).unwrap_err().contains("64-bit unsigned"));
        assert!(data_type(32, 6).unwrap_err().contains("complex"));
    }
}
