//! [`ZarrWriter`]: Zarr v3 (sharded, zstd) with GeoZarr + CF + GDAL georeferencing, and Zarr v2
//! laid out as GDAL writes it (one 2-D array per band + `X`/`Y` + `_CRS`), which GDAL 3.6 reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{
    BlockSize, DataType, Error, RasterBuffer, RasterElement, RasterMeta, RasterWrite, Result,
    Window, with_buffer,
};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3};
use zarrs::filesystem::FilesystemStore;

use crate::dtype::{fill_json, v2_dtype, xarray_v3_fill};
use crate::georef;

type ZArray = Array<FilesystemStore>;

/// Zarr format version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZarrVersion {
    /// Zarr v2, GDAL's layout (`Band1`..`BandN`, `X`, `Y`, `_CRS`): what GDAL 3.6 reads.
    V2,
    /// Zarr v3 with sharding: one `(band, y, x)` array.
    #[default]
    V3,
}

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZarrCodec {
    /// Zstandard at `level` (v3 `zstd`, v2 numcodecs `zstd`).
    Zstd {
        /// Compression level (1-22; 3 is zstd's default).
        level: i32,
    },
    /// Deflate (v3 `gzip`, v2 numcodecs `zlib`).
    Deflate {
        /// Compression level (0-9).
        level: u32,
    },
    /// Uncompressed.
    None,
}

impl Default for ZarrCodec {
    fn default() -> Self {
        ZarrCodec::Zstd { level: 3 }
    }
}

/// How to write a Zarr store.
#[derive(Debug, Clone)]
pub struct ZarrWriteOptions {
    /// Format version (default v3).
    pub version: ZarrVersion,
    /// Name of the `(band, y, x)` array of a v3 store (default `"data"`). v2 stores name their
    /// arrays `Band1`..`BandN` as GDAL does.
    pub variable: String,
    /// Chunk size `(width, height)`: the inner chunk of a v3 shard, the chunk of a v2 array
    /// (default 256 x 256; clipped to the raster).
    pub chunk: (usize, usize),
    /// Shard size `(width, height)` of v3 stores, a multiple of `chunk` (default 1024 x 1024;
    /// clipped to the raster). Memory held by the writer is one row of shards per band when
    /// windows arrive in row order.
    pub shard: (usize, usize),
    /// Compression (default zstd level 3).
    pub codec: ZarrCodec,
    /// Replace an existing store at the destination (default: refuse).
    pub overwrite: bool,
}

impl Default for ZarrWriteOptions {
    fn default() -> Self {
        ZarrWriteOptions {
            version: ZarrVersion::V3,
            variable: "data".into(),
            chunk: (256, 256),
            shard: (1024, 1024),
            codec: ZarrCodec::default(),
            overwrite: false,
        }
    }
}

/// A tile (v3 shard or v2 chunk) of one band being filled.
#[derive(Debug)]
struct Pending {
    buf: RasterBuffer,
    covered: Vec<u64>,
    count: usize,
}

/// Writes a raster as a Zarr store, atomically: everything goes into a temporary directory
/// beside the destination, renamed into place by [`RasterWrite::finish`]. Windows may come in
/// any order and may overlap; a tile (v3 shard, v2 chunk) is encoded and written as soon as
/// every pixel of it has been written, so memory stays bounded by the tiles in progress.
/// Tiles never written are absent from the store and read back as the fill value (the nodata
/// value, else 0).
#[derive(Debug)]
pub struct ZarrWriter {
    dest: PathBuf,
    tmp: Option<tempfile::TempDir>,
    meta: RasterMeta,
    opts: ZarrWriteOptions,
    /// v3: one array; v2: one per band.
    arrays: Vec<ZArray>,
    /// v3 shard / v2 chunk size.
    tile: BlockSize,
    fill: f64,
    pending: HashMap<(usize, usize, usize), Pending>,
}

fn codecs_v3(codec: ZarrCodec, dt: DataType) -> Vec<Value> {
    let bytes = if dt.size_bytes() == 1 {
        json!({"name": "bytes"})
    } else {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    };
    let mut v = vec![bytes];
    match codec {
        ZarrCodec::Zstd { level } => {
            v.push(json!({"name": "zstd", "configuration": {"level": level, "checksum": false}}))
        }
        ZarrCodec::Deflate { level } => {
            v.push(json!({"name": "gzip", "configuration": {"level": level}}))
        }
        ZarrCodec::None => {}
    }
    v
}

fn compressor_v2(codec: ZarrCodec) -> Value {
    match codec {
        ZarrCodec::Zstd { level } => json!({"id": "zstd", "level": level}),
        ZarrCodec::Deflate { level } => json!({"id": "zlib", "level": level}),
        ZarrCodec::None => Value::Null,
    }
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

/// A v3 array document with geodino's defaults for 1-D coordinate and 0-D variables.
fn v3_plain(shape: &[usize], data_type: &str, dims: &[&str], attrs: Map<String, Value>) -> Value {
    let chunk: Vec<usize> = shape.iter().map(|&s| s.max(1)).collect();
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                   {"name": "zstd", "configuration": {"level": 3, "checksum": false}}],
        "dimension_names": dims,
        "attributes": attrs,
    })
}

fn v2_plain(len: usize, dtype: &str) -> Value {
    json!({
        "zarr_format": 2,
        "shape": [len],
        "chunks": [len.max(1)],
        "dtype": dtype,
        "compressor": null,
        "fill_value": null,
        "order": "C",
        "filters": null,
    })
}

/// Open a zarrs array for writing from the metadata document `doc` (not re-written to disk).
fn zarrs_array(store: &Arc<FilesystemStore>, path: &str, doc: &Value, at: &Path) -> Result<ZArray> {
    let mut doc = doc.clone();
    let meta = if doc.get("zarr_format").and_then(Value::as_u64) == Some(2) {
        if doc.get("fill_value").is_some_and(Value::is_null) {
            // zarrs needs a concrete fill value to encode; the file on disk keeps `null`.
            doc["fill_value"] = json!(0);
        }
        let m: ArrayMetadataV2 =
            serde_json::from_value(doc).map_err(|e| Error::Invalid(format!("v2 metadata: {e}")))?;
        ArrayMetadata::V2(m)
    } else {
        let m: ArrayMetadataV3 =
            serde_json::from_value(doc).map_err(|e| Error::Invalid(format!("v3 metadata: {e}")))?;
        ArrayMetadata::V3(m)
    };
    Array::new_with_metadata(store.clone(), path, meta)
        .map_err(|e| Error::format(at, format!("array {path}: {e}")))
}

impl ZarrWriter {
    /// Start writing `meta` (size, bands, data type, nodata, georeferencing, band
    /// descriptions) to `dest` (conventionally `*.zarr`).
    ///
    /// # Errors
    /// The destination exists and `overwrite` is off; bad options (chunk not dividing shard,
    /// zero sizes); the temporary directory cannot be created.
    pub fn create(
        dest: impl AsRef<Path>,
        meta: &RasterMeta,
        opts: &ZarrWriteOptions,
    ) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        if meta.width == 0 || meta.height == 0 || meta.band_count() == 0 {
            return Err(Error::Invalid(format!(
                "{}: cannot write an empty raster ({} bands, {}x{})",
                dest.display(),
                meta.band_count(),
                meta.width,
                meta.height
            )));
        }
        if dest.exists() && !opts.overwrite {
            return Err(Error::io(
                &dest,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists (use overwrite)",
                ),
            ));
        }
        if opts.chunk.0 == 0 || opts.chunk.1 == 0 || opts.shard.0 == 0 || opts.shard.1 == 0 {
            return Err(Error::Invalid("Zarr chunk and shard sizes must be positive".into()));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out.zarr");
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        let root = tmp.path().to_path_buf();
        let store =
            Arc::new(FilesystemStore::new(&root).map_err(|e| Error::format(&root, e.to_string()))?);
        let (w, h, nb, dt) = (meta.width, meta.height, meta.band_count(), meta.dtype);
        // Chunks no larger than the raster; shards a multiple of chunks, no larger than needed.
        let cw = opts.chunk.0.min(w);
        let ch = opts.chunk.1.min(h);
        let round = |s: usize, c: usize, n: usize| s.div_ceil(c).max(1).min(n.div_ceil(c)) * c;
        let sw = round(opts.shard.0, cw, w);
        let sh = round(opts.shard.1, ch, h);
        let nodata = meta.nodata(0).map(|n| n.0);
        let fill = nodata.unwrap_or(0.0);
        let crs = meta.crs.as_ref().filter(|c| !c.is_empty());
        let gt = meta.geotransform.as_ref();
        let geozarr = georef::geozarr_attrs(crs, gt, w, h);
        let mut arrays = Vec::new();
        let tile;
        match opts.version {
            ZarrVersion::V3 => {
                tile = BlockSize::new(sw, sh);
                let mut group_attrs = geozarr.clone();
                group_attrs.insert("title".into(), json!(name));
                write_json(
                    &root.join("zarr.json"),
                    &json!({"zarr_format": 3, "node_type": "group", "attributes": group_attrs}),
                )?;
                let mut attrs = geozarr.clone();
                if let Some(n) = nodata {
                    attrs.insert("_FillValue".into(), xarray_v3_fill(n, dt));
                }
                if crs.is_some() || gt.is_some() {
                    attrs.insert("grid_mapping".into(), json!("spatial_ref"));
                }
                if let Some(c) = crs {
                    attrs.insert("_CRS".into(), georef::gdal_crs_attr(c));
                }
                attrs.insert("coordinates".into(), json!("spatial_ref"));
                let descs: Vec<Value> = meta
                    .bands
                    .iter()
                    .map(|b| b.description.clone().map_or(Value::Null, Value::String))
                    .collect();
                if descs.iter().any(|d| !d.is_null()) {
                    attrs.insert("band_descriptions".into(), Value::Array(descs));
                }
                if let Some(s) = meta.bands[0].scale {
                    attrs.insert("scale_factor".into(), json!(s));
                }
                if let Some(o) = meta.bands[0].offset {
                    attrs.insert("add_offset".into(), json!(o));
                }
                let var = opts.variable.trim_matches('/').to_string();
                if var.is_empty()
                    || var.contains('/')
                    || ["x", "y", "band", "spatial_ref"].contains(&var.as_str())
                {
                    return Err(Error::Invalid(format!("bad Zarr array name {:?}", opts.variable)));
                }
                let doc = json!({
                    "zarr_format": 3,
                    "node_type": "array",
                    "shape": [nb, h, w],
                    "data_type": dt.name(),
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, sh, sw]}},
                    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                    "fill_value": fill_json(fill, dt),
                    "codecs": [{"name": "sharding_indexed", "configuration": {
                        "chunk_shape": [1, ch, cw],
                        "codecs": codecs_v3(opts.codec, dt),
                        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                        "index_location": "end"
                    }}],
                    "dimension_names": ["band", "y", "x"],
                    "attributes": attrs,
                });
                mkdir(&root.join(&var))?;
                write_json(&root.join(&var).join("zarr.json"), &doc)?;
                arrays.push(zarrs_array(&store, &format!("/{var}"), &doc, &dest)?);
                // CF grid mapping: a 0-d variable carrying the CRS and the GDAL-order transform.
                let gm = georef::cf_grid_mapping_attrs(crs, gt);
                mkdir(&root.join("spatial_ref"))?;
                write_json(
                    &root.join("spatial_ref").join("zarr.json"),
                    &v3_plain(&[], "int32", &[], gm),
                )?;
                let bands_doc = v3_plain(&[nb], "int32", &["band"], Map::new());
                mkdir(&root.join("band"))?;
                write_json(&root.join("band").join("zarr.json"), &bands_doc)?;
                let b = zarrs_array(&store, "/band", &bands_doc, &dest)?;
                let ids: Vec<i32> = (1..=nb as i32).collect();
                b.store_chunk(&[0], ids).map_err(|e| Error::format(&dest, e.to_string()))?;
                if let Some(g) = gt.filter(|g| g.is_north_up()) {
                    let (xs, ys) = centres(g, w, h);
                    for (name, vals, std, axis) in [
                        ("x", xs, "projection_x_coordinate", "X"),
                        ("y", ys, "projection_y_coordinate", "Y"),
                    ] {
                        let mut a = Map::new();
                        a.insert("standard_name".into(), json!(std));
                        a.insert("axis".into(), json!(axis));
                        let doc = v3_plain(&[vals.len()], "float64", &[name], a);
                        mkdir(&root.join(name))?;
                        write_json(&root.join(name).join("zarr.json"), &doc)?;
                        let arr = zarrs_array(&store, &format!("/{name}"), &doc, &dest)?;
                        arr.store_chunk(&[0], vals)
                            .map_err(|e| Error::format(&dest, e.to_string()))?;
                    }
                }
            }
            ZarrVersion::V2 => {
                tile = BlockSize::new(cw, ch);
                write_json(&root.join(".zgroup"), &json!({"zarr_format": 2}))?;
                if !geozarr.is_empty() {
                    write_json(&root.join(".zattrs"), &Value::Object(geozarr.clone()))?;
                }
                for b in 0..nb {
                    let name = format!("Band{}", b + 1);
                    let nd = meta.nodata(b).map(|n| n.0);
                    let doc = json!({
                        "zarr_format": 2,
                        "shape": [h, w],
                        "chunks": [ch, cw],
                        "dtype": v2_dtype(dt),
                        "compressor": compressor_v2(opts.codec),
                        "fill_value": nd.map_or(Value::Null, |v| fill_json(v, dt)),
                        "order": "C",
                        "filters": null,
                        "dimension_separator": ".",
                    });
                    let mut attrs = geozarr.clone();
                    attrs.insert("_ARRAY_DIMENSIONS".into(), json!(["Y", "X"]));
                    attrs.insert("AREA_OR_POINT".into(), json!("Area"));
                    if let Some(c) = crs {
                        attrs.insert("_CRS".into(), georef::gdal_crs_attr(c));
                    }
                    if let Some(d) = &meta.bands[b].description {
                        attrs.insert("long_name".into(), json!(d));
                    }
                    if let Some(s) = meta.bands[b].scale {
                        attrs.insert("scale_factor".into(), json!(s));
                    }
                    if let Some(o) = meta.bands[b].offset {
                        attrs.insert("add_offset".into(), json!(o));
                    }
                    let dir = root.join(&name);
                    mkdir(&dir)?;
                    write_json(&dir.join(".zarray"), &doc)?;
                    write_json(&dir.join(".zattrs"), &Value::Object(attrs))?;
                    arrays.push(zarrs_array(&store, &format!("/{name}"), &doc, &dest)?);
                }
                if let Some(g) = gt.filter(|g| g.is_north_up()) {
                    let (xs, ys) = centres(g, w, h);
                    for (name, vals) in [("X", xs), ("Y", ys)] {
                        let doc = v2_plain(vals.len(), "<f8");
                        let dir = root.join(name);
                        mkdir(&dir)?;
                        write_json(&dir.join(".zarray"), &doc)?;
                        write_json(&dir.join(".zattrs"), &json!({"_ARRAY_DIMENSIONS": [name]}))?;
                        let arr = zarrs_array(&store, &format!("/{name}"), &doc, &dest)?;
                        arr.store_chunk(&[0], vals)
                            .map_err(|e| Error::format(&dest, e.to_string()))?;
                    }
                }
            }
        }
        Ok(ZarrWriter {
            dest,
            tmp: Some(tmp),
            meta: meta.clone(),
            opts: opts.clone(),
            arrays,
            tile,
            fill,
            pending: HashMap::new(),
        })
    }

    /// The destination path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    fn store_tile(&self, key: (usize, usize, usize), p: Pending) -> Result<()> {
        let (band, tr, tc) = key;
        let (array, idx): (&ZArray, Vec<u64>) = match self.opts.version {
            ZarrVersion::V3 => (&self.arrays[0], vec![band as u64, tr as u64, tc as u64]),
            ZarrVersion::V2 => (&self.arrays[band], vec![tr as u64, tc as u64]),
        };
        let r = with_buffer!(&p.buf, a => {
            let s = a.as_slice().ok_or_else(|| Error::Invalid("tile buffer not contiguous".into()))?;
            array.store_chunk(&idx, s)
        });
        r.map_err(|e| {
            Error::format(
                &self.dest,
                format!("cannot encode tile {idx:?} of {}: {e}", array.path()),
            )
        })
    }

    fn flush(&self, done: Vec<((usize, usize, usize), Pending)>) -> Result<()> {
        done.into_par_iter().try_for_each(|(k, p)| self.store_tile(k, p))
    }
}

/// Pixel-centre coordinates of the columns and rows of a north-up transform.
fn centres(g: &geodino_core::GeoTransform, w: usize, h: usize) -> (Vec<f64>, Vec<f64>) {
    let xs = (0..w).map(|c| g.apply(c as f64 + 0.5, 0.5).0).collect();
    let ys = (0..h).map(|r| g.apply(0.5, r as f64 + 0.5).1).collect();
    (xs, ys)
}

fn slice_band(data: &RasterBuffer, band: usize, win: &Window) -> RasterBuffer {
    let (r0, c0) = (win.row_off as usize, win.col_off as usize);
    with_buffer!(data, a => RasterElement::wrap(
        a.slice(ndarray::s![band..band + 1, r0..r0 + win.height, c0..c0 + win.width]).to_owned()
    ))
}

impl RasterWrite for ZarrWriter {
    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn write_window(&mut self, window: Window, data: &RasterBuffer) -> Result<()> {
        let m = &self.meta;
        if !window.is_inside(m.width, m.height) {
            return Err(Error::OutOfBounds {
                path: self.dest.clone(),
                message: format!(
                    "window {window} is not inside the {}x{} raster",
                    m.width, m.height
                ),
            });
        }
        if data.shape() != (m.band_count(), window.height, window.width) || data.dtype() != m.dtype
        {
            return Err(Error::Invalid(format!(
                "{}: window {window} needs a {} buffer of shape {:?}, got {} {:?}",
                self.dest.display(),
                m.dtype,
                (m.band_count(), window.height, window.width),
                data.dtype(),
                data.shape()
            )));
        }
        let (w, h, nb, dt) = (m.width, m.height, m.band_count(), m.dtype);
        let tile = self.tile;
        let mut done = Vec::new();
        for (tc, tr) in window.blocks(tile, w, h) {
            let tw = tile.window(tc, tr, w, h);
            let Some(inter) = window.intersection(&tw) else { continue };
            let in_data = inter.relative_to(&window);
            let in_tile = inter.relative_to(&tw);
            for b in 0..nb {
                let key = (b, tr, tc);
                let fill = match self.opts.version {
                    ZarrVersion::V3 => self.fill,
                    ZarrVersion::V2 => m.nodata(b).map_or(0.0, |n| n.0),
                };
                let p = self.pending.entry(key).or_insert_with(|| Pending {
                    buf: RasterBuffer::filled(dt, (1, tile.height, tile.width), fill),
                    covered: vec![0u64; (tile.width * tile.height).div_ceil(64)],
                    count: 0,
                });
                let part = slice_band(data, b, &in_data);
                p.buf.paste(&part, in_tile.row_off as usize, in_tile.col_off as usize);
                for r in 0..inter.height {
                    let row = in_tile.row_off as usize + r;
                    for c in 0..inter.width {
                        let i = row * tile.width + in_tile.col_off as usize + c;
                        let (word, bit) = (i / 64, 1u64 << (i % 64));
                        if p.covered[word] & bit == 0 {
                            p.covered[word] |= bit;
                            p.count += 1;
                        }
                    }
                }
                if p.count == tw.area() {
                    let p = self.pending.remove(&key).expect("pending tile present");
                    done.push((key, p));
                }
            }
        }
        self.flush(done)
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let rest: Vec<_> = self.pending.drain().collect();
        self.flush(rest)?;
        let tmp = self.tmp.take().expect("finish runs once");
        let tmp_path = tmp.keep();
        let dest = &self.dest;
        if dest.exists() {
            // Overwrite: move the old store aside, put the new one in place, drop the old one.
            let old = tmp_path.with_extension("old");
            std::fs::rename(dest, &old).map_err(|e| Error::io(dest, e))?;
            if let Err(e) = std::fs::rename(&tmp_path, dest) {
                let _ = std::fs::rename(&old, dest);
                let _ = std::fs::remove_dir_all(&tmp_path);
                return Err(Error::io(dest, e));
            }
            let _ = if old.is_dir() {
                std::fs::remove_dir_all(&old)
            } else {
                std::fs::remove_file(&old)
            };
        } else if let Err(e) = std::fs::rename(&tmp_path, dest) {
            let _ = std::fs::remove_dir_all(&tmp_path);
            return Err(Error::io(dest, e));
        }
        Ok(())
    }
}
