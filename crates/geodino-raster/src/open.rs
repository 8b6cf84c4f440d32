//! Opening and creating rasters by path.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use geodino_core::{Compression, Error, RasterMeta, RasterWrite, Result, SharedReader};
use geodino_zarr::{ZarrCodec, ZarrReader, ZarrVersion, ZarrWriteOptions, ZarrWriter};

/// A raster format geodino recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TIFF / BigTIFF (GeoTIFF, COG), by magic bytes.
    GeoTiff,
    /// A Zarr store (directory, `.zarr.zip`, or `ZARR:"..."`).
    Zarr,
    /// Anything else: handed to GDAL (VRT, JPEG2000, NetCDF, `/vsicurl/` ...).
    Other,
}

/// Which backend reads a raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// geodino's own readers where they apply (GeoTIFF, Zarr), GDAL otherwise (feature `gdal`).
    #[default]
    Auto,
    /// Always GDAL (feature `gdal`).
    Gdal,
}

/// Options of [`open_with`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Which backend to use.
    pub backend: Backend,
    /// For Zarr stores holding several arrays: the array to read.
    pub variable: Option<String>,
}

/// Formats this build reads, for error messages.
pub fn supported_formats() -> &'static str {
    if cfg!(feature = "gdal") {
        "GeoTIFF/BigTIFF/COG, Zarr v2/v3, and every format GDAL reads"
    } else {
        "GeoTIFF/BigTIFF/COG and Zarr v2/v3 (other formats need the `gdal` feature)"
    }
}

/// Recognise the format of `path` from its layout, magic bytes and name.
///
/// # Errors
/// The path does not exist or cannot be read (the error names it).
pub fn detect(path: &Path) -> Result<Format> {
    let text = path.to_string_lossy();
    if geodino_zarr::is_zarr(path) {
        return Ok(Format::Zarr);
    }
    if text.starts_with("/vsi") || text.contains("://") {
        return Ok(Format::Other);
    }
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if md.is_dir() {
        return Err(Error::format(
            path,
            "is a directory but not a Zarr store (no .zgroup, .zarray or zarr.json)",
        ));
    }
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    Ok(match &magic[..n] {
        [b'I', b'I', 42, 0] | [b'M', b'M', 0, 42] | [b'I', b'I', 43, 0] | [b'M', b'M', 0, 43] => {
            Format::GeoTiff
        }
        _ => Format::Other,
    })
}

/// Open the raster at `path` with the backend that fits (see [`open_with`]).
///
/// # Errors
/// A missing or unreadable file, or a format this build does not read: the error names the
/// file and lists the formats supported.
pub fn open(path: impl AsRef<Path>) -> Result<SharedReader> {
    open_with(path, &OpenOptions::default())
}

/// Open the raster at `path`: Zarr stores through geodino-zarr, GeoTIFFs through geodino-tiff's
/// pure-Rust reader, and everything else through GDAL when the `gdal` feature is on.
///
/// # Errors
/// See [`open`].
pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<SharedReader> {
    let path = path.as_ref();
    if opts.backend == Backend::Gdal {
        return open_gdal(path);
    }
    let format = detect(path)?;
    match format {
        Format::Zarr => {
            let z = geodino_zarr::ZarrOpenOptions { variable: opts.variable.clone() };
            Ok(Arc::new(ZarrReader::open_with(path, &z)?))
        }
        Format::GeoTiff => Ok(Arc::new(geodino_tiff::GeoTiffReader::open(path)?)),
        Format::Other => open_gdal(path).map_err(|e| match e {
            Error::Unsupported { .. } if !cfg!(feature = "gdal") => Error::format(
                path,
                format!("not a raster geodino reads; this build reads {}", supported_formats()),
            ),
            other => other,
        }),
    }
}

#[cfg(feature = "gdal")]
fn open_gdal(path: &Path) -> Result<SharedReader> {
    Ok(Arc::new(crate::GdalReader::open(path)?))
}

#[cfg(not(feature = "gdal"))]
fn open_gdal(path: &Path) -> Result<SharedReader> {
    Err(Error::unsupported(path, "reading through GDAL (build with the `gdal` feature)"))
}

/// Options of [`create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// GeoTIFF output as a Cloud-Optimized GeoTIFF (internal overviews, IFDs first).
    pub cog: bool,
    /// Compression (default: zstd for Zarr, deflate for GeoTIFF).
    pub compress: Option<Compression>,
    /// Zarr output as v2 in GDAL's layout (readable by GDAL 3.6) instead of v3 sharded.
    pub zarr_v2: bool,
    /// Block (GeoTIFF tile, Zarr chunk) edge in pixels (default 256; 512 for COG; GeoTIFF tiles
    /// are multiples of 16).
    pub block: Option<usize>,
    /// Replace an existing destination.
    pub overwrite: bool,
}

/// Create a raster described by `meta` at `path`, choosing the writer from the extension:
/// `.zarr` → Zarr v3 sharded zstd (or v2 with `zarr_v2`); `.tif`/`.tiff` → geodino-tiff's
/// tiled GeoTIFF or COG (with internal overviews). Nothing appears at `path` until
/// [`RasterWrite::finish`] succeeds.
///
/// # Errors
/// An unknown extension, options that do not fit the format, an existing destination without
/// `overwrite`, or a failure to create the temporary output.
pub fn create(
    path: impl AsRef<Path>,
    meta: &RasterMeta,
    opts: &CreateOptions,
) -> Result<Box<dyn RasterWrite>> {
    let path = path.as_ref();
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.trim_end_matches('/');
    if name.ends_with(".zarr") {
        if opts.cog {
            return Err(Error::Invalid(format!(
                "{}: --cog applies to GeoTIFF output",
                path.display()
            )));
        }
        let codec = match &opts.compress {
            None | Some(Compression::Zstd) => ZarrCodec::Zstd { level: 3 },
            Some(Compression::Deflate) | Some(Compression::Gzip) => ZarrCodec::Deflate { level: 6 },
            Some(Compression::None) => ZarrCodec::None,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "{}: Zarr output takes zstd, deflate or none compression, not {}",
                    path.display(),
                    other.name()
                )));
            }
        };
        let block = opts.block.unwrap_or(256);
        let zo = ZarrWriteOptions {
            version: if opts.zarr_v2 { ZarrVersion::V2 } else { ZarrVersion::V3 },
            chunk: (block, block),
            shard: (block * 4, block * 4),
            codec,
            overwrite: opts.overwrite,
            ..ZarrWriteOptions::default()
        };
        return Ok(Box::new(ZarrWriter::create(path, meta, &zo)?));
    }
    if opts.zarr_v2 {
        return Err(Error::Invalid(format!(
            "{}: --zarr-v2 applies to .zarr output",
            path.display()
        )));
    }
    if name.ends_with(".tif") || name.ends_with(".tiff") {
        return create_tiff(path, meta, opts);
    }
    Err(Error::Invalid(format!(
        "{}: unknown output format; geodino writes .tif/.tiff (GeoTIFF, COG) and .zarr",
        path.display()
    )))
}

fn create_tiff(
    path: &Path,
    meta: &RasterMeta,
    opts: &CreateOptions,
) -> Result<Box<dyn RasterWrite>> {
    use geodino_tiff::write::{
        GeoTiffWriter, Layout, Overviews, TiffCompression, TiffWriteOptions,
    };
    if path.exists() && !opts.overwrite {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists (use overwrite)",
            ),
        ));
    }
    let compression = match &opts.compress {
        None => TiffCompression::Deflate,
        Some(c) => TiffCompression::from_core(c).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: GeoTIFF output takes zstd, deflate, lzw or none compression, not {}",
                path.display(),
                c.name()
            ))
        })?,
    };
    let to = TiffWriteOptions {
        layout: if opts.cog { Layout::Cog } else { Layout::Tiled },
        overviews: if opts.cog { Overviews::Auto } else { Overviews::None },
        compression,
        tile_size: opts.block.unwrap_or(if opts.cog { 512 } else { 256 }),
        ..TiffWriteOptions::default()
    };
    Ok(Box::new(GeoTiffWriter::create(path, meta, &to)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_layout_and_magic() {
        let tmp = tempfile::tempdir().unwrap();
        let tif = tmp.path().join("a.tif");
        std::fs::write(&tif, b"II*\0rest").unwrap();
        assert_eq!(detect(&tif).unwrap(), Format::GeoTiff);
        let big = tmp.path().join("b.dat");
        std::fs::write(&big, b"MM\0+rest").unwrap();
        assert_eq!(detect(&big).unwrap(), Format::GeoTiff);
        let txt = tmp.path().join("c.txt");
        std::fs::write(&txt, b"hi").unwrap();
        assert_eq!(detect(&txt).unwrap(), Format::Other);
        let z = tmp.path().join("d.zarr");
        std::fs::create_dir(&z).unwrap();
        std::fs::write(z.join(".zgroup"), b"{\"zarr_format\": 2}").unwrap();
        assert_eq!(detect(&z).unwrap(), Format::Zarr);
        let e = detect(&tmp.path().join("missing.tif")).unwrap_err().to_string();
        assert!(e.contains("missing.tif"), "{e}");
        let e = detect(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("not a Zarr store"), "{e}");
        assert_eq!(detect(Path::new("/vsicurl/https://x/y.tif")).unwrap(), Format::Other);
    }
}
