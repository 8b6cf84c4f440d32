//! TIFF, GeoTIFF and GDAL tag numbers and code values the reader understands.
//!
//! Sources: the TIFF 6.0 specification, the TIFF Technical Notes (tiles, Deflate, predictor 3),
//! the OGC GeoTIFF 1.1 standard (19-008r4) and GDAL's GTiff driver documentation (private tags
//! 42112 `GDAL_METADATA` and 42113 `GDAL_NODATA`).

#![allow(missing_docs)]

// ---- baseline and extension tags ----
pub const NEW_SUBFILE_TYPE: u16 = 254;
pub const IMAGE_WIDTH: u16 = 256;
pub const IMAGE_LENGTH: u16 = 257;
pub const BITS_PER_SAMPLE: u16 = 258;
pub const COMPRESSION: u16 = 259;
pub const PHOTOMETRIC: u16 = 262;
pub const FILL_ORDER: u16 = 266;
pub const DOCUMENT_NAME: u16 = 269;
pub const IMAGE_DESCRIPTION: u16 = 270;
pub const MAKE: u16 = 271;
pub const MODEL: u16 = 272;
pub const STRIP_OFFSETS: u16 = 273;
pub const SAMPLES_PER_PIXEL: u16 = 277;
pub const ROWS_PER_STRIP: u16 = 278;
pub const STRIP_BYTE_COUNTS: u16 = 279;
pub const X_RESOLUTION: u16 = 282;
pub const Y_RESOLUTION: u16 = 283;
pub const PLANAR_CONFIGURATION: u16 = 284;
pub const RESOLUTION_UNIT: u16 = 296;
pub const SOFTWARE: u16 = 305;
pub const DATE_TIME: u16 = 306;
pub const ARTIST: u16 = 315;
pub const HOST_COMPUTER: u16 = 316;
pub const PREDICTOR: u16 = 317;
pub const COLOR_MAP: u16 = 320;
pub const TILE_WIDTH: u16 = 322;
pub const TILE_LENGTH: u16 = 323;
pub const TILE_OFFSETS: u16 = 324;
pub const TILE_BYTE_COUNTS: u16 = 325;
pub const INK_SET: u16 = 332;
pub const EXTRA_SAMPLES: u16 = 338;
pub const SAMPLE_FORMAT: u16 = 339;
pub const JPEG_TABLES: u16 = 347;
pub const YCBCR_SUBSAMPLING: u16 = 530;
pub const COPYRIGHT: u16 = 33432;

// ---- GeoTIFF ----
pub const MODEL_PIXEL_SCALE: u16 = 33550;
pub const MODEL_TIEPOINT: u16 = 33922;
pub const MODEL_TRANSFORMATION: u16 = 34264;
pub const GEO_KEY_DIRECTORY: u16 = 34735;
pub const GEO_DOUBLE_PARAMS: u16 = 34736;
pub const GEO_ASCII_PARAMS: u16 = 34737;

// ---- GDAL private tags ----
pub const GDAL_METADATA: u16 = 42112;
pub const GDAL_NODATA: u16 = 42113;

/// Every tag whose value the reader loads; others are skipped without reading their data.
pub const KNOWN: &[u16] = &[
    NEW_SUBFILE_TYPE,
    IMAGE_WIDTH,
    IMAGE_LENGTH,
    BITS_PER_SAMPLE,
    COMPRESSION,
    PHOTOMETRIC,
    FILL_ORDER,
    DOCUMENT_NAME,
    IMAGE_DESCRIPTION,
    MAKE,
    MODEL,
    STRIP_OFFSETS,
    SAMPLES_PER_PIXEL,
    ROWS_PER_STRIP,
    STRIP_BYTE_COUNTS,
    X_RESOLUTION,
    Y_RESOLUTION,
    PLANAR_CONFIGURATION,
    RESOLUTION_UNIT,
    SOFTWARE,
    DATE_TIME,
    ARTIST,
    HOST_COMPUTER,
    PREDICTOR,
    COLOR_MAP,
    TILE_WIDTH,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_BYTE_COUNTS,
    INK_SET,
    EXTRA_SAMPLES,
    SAMPLE_FORMAT,
    JPEG_TABLES,
    YCBCR_SUBSAMPLING,
    COPYRIGHT,
    MODEL_PIXEL_SCALE,
    MODEL_TIEPOINT,
    MODEL_TRANSFORMATION,
    GEO_KEY_DIRECTORY,
    GEO_DOUBLE_PARAMS,
    GEO_ASCII_PARAMS,
    GDAL_METADATA,
    GDAL_NODATA,
];

/// `NewSubfileType` bit: reduced-resolution version of another image (an overview).
pub const SUBFILE_REDUCED: u64 = 1;
/// `NewSubfileType` bit: transparency mask of another image (GDAL internal mask).
pub const SUBFILE_MASK: u64 = 4;

// ---- Compression values ----
pub const COMPRESSION_NONE: u16 = 1;
pub const COMPRESSION_CCITT_RLE: u16 = 2;
pub const COMPRESSION_CCITT_FAX3: u16 = 3;
pub const COMPRESSION_CCITT_FAX4: u16 = 4;
pub const COMPRESSION_LZW: u16 = 5;
pub const COMPRESSION_OJPEG: u16 = 6;
pub const COMPRESSION_JPEG: u16 = 7;
pub const COMPRESSION_ADOBE_DEFLATE: u16 = 8;
pub const COMPRESSION_PACKBITS: u16 = 32773;
pub const COMPRESSION_DEFLATE: u16 = 32946;
pub const COMPRESSION_JBIG: u16 = 34661;
pub const COMPRESSION_JPEG2000: u16 = 34712;
pub const COMPRESSION_LERC: u16 = 34887;
pub const COMPRESSION_LZMA: u16 = 34925;
pub const COMPRESSION_ZSTD: u16 = 50000;
pub const COMPRESSION_WEBP: u16 = 50001;
pub const COMPRESSION_JXL: u16 = 50002;

// ---- Photometric interpretation ----
pub const PHOTOMETRIC_MINISWHITE: u16 = 0;
pub const PHOTOMETRIC_MINISBLACK: u16 = 1;
pub const PHOTOMETRIC_RGB: u16 = 2;
pub const PHOTOMETRIC_PALETTE: u16 = 3;
pub const PHOTOMETRIC_MASK: u16 = 4;
pub const PHOTOMETRIC_SEPARATED: u16 = 5;
pub const PHOTOMETRIC_YCBCR: u16 = 6;
pub const PHOTOMETRIC_CIELAB: u16 = 8;

// ---- Sample format ----
pub const SAMPLE_FORMAT_UINT: u16 = 1;
pub const SAMPLE_FORMAT_INT: u16 = 2;
pub const SAMPLE_FORMAT_IEEEFP: u16 = 3;
pub const SAMPLE_FORMAT_VOID: u16 = 4;

// ---- Extra samples ----
pub const EXTRA_SAMPLE_ASSOCIATED_ALPHA: u16 = 1;
pub const EXTRA_SAMPLE_UNASSOCIATED_ALPHA: u16 = 2;

/// A human name for a compression code, as GDAL spells it in `COMPRESSION=`.
pub fn compression_name(code: u16) -> String {
    match code {
        COMPRESSION_NONE => "NONE".into(),
        COMPRESSION_CCITT_RLE => "CCITTRLE".into(),
        COMPRESSION_CCITT_FAX3 => "CCITTFAX3".into(),
        COMPRESSION_CCITT_FAX4 => "CCITTFAX4".into(),
        COMPRESSION_LZW => "LZW".into(),
        COMPRESSION_OJPEG => "OJPEG (old-style JPEG)".into(),
        COMPRESSION_JPEG => "JPEG".into(),
        COMPRESSION_ADOBE_DEFLATE | COMPRESSION_DEFLATE => "DEFLATE".into(),
        COMPRESSION_PACKBITS => "PACKBITS".into(),
        COMPRESSION_JBIG => "JBIG".into(),
        COMPRESSION_JPEG2000 => "JPEG2000".into(),
        COMPRESSION_LERC => "LERC".into(),
        COMPRESSION_LZMA => "LZMA".into(),
        COMPRESSION_ZSTD => "ZSTD".into(),
        COMPRESSION_WEBP => "WEBP".into(),
        COMPRESSION_JXL => "JXL".into(),
        other => format!("code {other}"),
    }
}
