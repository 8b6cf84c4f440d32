//! [`ZarrReader`]: a Zarr v2 / v3 array (or a GDAL-style group of per-band arrays) as a raster.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{
    BandMeta, BlockSize, DataType, Error, NoData, RasterBuffer, RasterElement, RasterMeta,
    RasterRead, Result, Window,
};
use ndarray::{Array3, ArrayD, IxDyn};
use serde_json::Value;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

use crate::dtype::{ZType, block_shape, compression, dtype_text, parse_dtype, parse_fill};
use crate::georef;
use crate::store::{Location, Node, NodeKind, locate, scan};

type ZArray = Array<FilesystemStore>;

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct ZarrOpenOptions {
    /// The array (Zarr path inside the store, e.g. `"CDD0"` or `"/science/grids/data/temp"`) to
    /// read; overrides one named in the path. `None`: the path's own array, or the only raster
    /// array of the group (or its `Band1`, `Band2`, ... arrays, GDAL-style).
    pub variable: Option<String>,
}

/// Which axes of an N-D array are the band, row and column axes.
#[derive(Debug, Clone)]
struct Axes {
    shape: Vec<u64>,
    band: Option<usize>,
    y: usize,
    x: usize,
}

#[derive(Debug)]
enum Source {
    /// One array holding every band.
    Single { array: Box<ZArray>, axes: Axes },
    /// One 2-D `(y, x)` array per band (GDAL's layout).
    PerBand { arrays: Vec<ZArray> },
}

/// A Zarr array read as a raster: `(band, y, x)` arrays and 2-D arrays of v2 or v3 stores
/// (sharded too), GDAL's one-array-per-band groups, xarray-written stores, and zipped stores
/// (unpacked to a temporary directory that lives as long as the reader).
///
/// Dimension names come from `dimension_names` (v3) or `_ARRAY_DIMENSIONS` (v2); an axis named
/// `x`/`lon`/`longitude` (resp. `y`/`lat`/`latitude`) is the column (row) axis, else the last two
/// axes are `(y, x)`; the remaining axis (`band`, `time`, ...) holds the bands. Nodata is the
/// `_FillValue` attribute (number, `"NaN"` or xarray's base64), else `missing_value`, else the
/// metadata fill value (v2, as GDAL does; v3 only when it is NaN, since every v3 array has a
/// fill value). Georeferencing: see [`crate`] docs.
#[derive(Debug)]
pub struct ZarrReader {
    path: PathBuf,
    meta: RasterMeta,
    source: Source,
    variable: String,
    format: u8,
    /// The regular chunk shape of unsharded arrays (read chunk by chunk, in parallel); `None`
    /// for sharded arrays (read through zarrs' partial shard decoding).
    chunks: Option<Vec<u64>>,
    _tmp: Option<Arc<tempfile::TempDir>>,
}

const X_NAMES: &[&str] = &["x", "lon", "longitude", "easting", "columns", "cols"];
const Y_NAMES: &[&str] = &["y", "lat", "latitude", "northing", "rows"];

fn is_named(name: &str, set: &[&str]) -> bool {
    set.iter().any(|s| s.eq_ignore_ascii_case(name))
}

fn band_number(name: &str) -> Option<u32> {
    name.strip_prefix("Band").and_then(|n| n.parse().ok())
}

impl ZarrReader {
    /// Open the raster at `path`: a `.zarr` directory (group or array), a path to an array
    /// inside one (`store.zarr/CDD0`), a zipped store (`store.zarr.zip`, optionally followed by
    /// `/inner/array`), or GDAL's `ZARR:"store.zarr":/array`.
    ///
    /// # Errors
    /// A missing path, a directory without Zarr metadata, corrupt metadata JSON, an unsupported
    /// data type or codec, or a group holding several unrelated arrays (the message lists them):
    /// each error names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &ZarrOpenOptions::default())
    }

    /// [`ZarrReader::open`] with options.
    pub fn open_with(path: impl AsRef<Path>, opts: &ZarrOpenOptions) -> Result<Self> {
        let path = path.as_ref();
        let Location { root, selected, tmp } = locate(path, opts.variable.as_deref())?;
        let nodes = scan(&root)?;
        if nodes.is_empty() {
            return Err(Error::format(path, "no Zarr metadata found"));
        }
        let store =
            Arc::new(FilesystemStore::new(&root).map_err(|e| {
                Error::format(path, format!("cannot open the store directory: {e}"))
            })?);
        let group = match selected {
            Some(sel) => {
                let node = nodes.iter().find(|n| n.path == sel).ok_or_else(|| {
                    Error::format(
                        path,
                        format!(
                            "the store has no array {sel:?}; its arrays are {}",
                            list_arrays(&nodes)
                        ),
                    )
                })?;
                if node.kind == NodeKind::Array {
                    return Self::from_nodes(path, &nodes, vec![node.clone()], store, tmp);
                }
                sel
            }
            None => nodes[0].path.clone(),
        };
        let chosen = auto_select(path, &nodes, &group)?;
        Self::from_nodes(path, &nodes, chosen, store, tmp)
    }

    fn from_nodes(
        path: &Path,
        nodes: &[Node],
        chosen: Vec<Node>,
        store: Arc<FilesystemStore>,
        tmp: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        let first = &chosen[0];
        let err = |m: String| Error::format(path, format!("array {}: {m}", first.path));
        let dtype = match parse_dtype(&first.meta) {
            Some(ZType::Raster(d)) => d,
            _ => {
                return Err(Error::unsupported(
                    path,
                    format!(
                        "array {} has data type {}; geodino reads uint8/int8/uint16/int16/uint32/int32/float32/float64",
                        first.path,
                        dtype_text(&first.meta)
                    ),
                ));
            }
        };
        let open_array = |n: &Node| -> Result<ZArray> {
            Array::open(store.clone(), &n.path).map_err(|e| {
                Error::unsupported(path, format!("array {}: zarrs cannot open it: {e}", n.path))
            })
        };
        let shape = first.shape();
        let dims = first.dimension_names();
        let axes = find_axes(&shape, dims.as_deref()).map_err(err)?;
        let (height, width) = (shape[axes.y] as usize, shape[axes.x] as usize);
        let (source, n_bands) = if chosen.len() == 1 {
            let nb = axes.band.map_or(1, |b| shape[b] as usize);
            (Source::Single { array: Box::new(open_array(first)?), axes: axes.clone() }, nb)
        } else {
            let arrays = chosen.iter().map(open_array).collect::<Result<Vec<_>>>()?;
            (Source::PerBand { arrays }, chosen.len())
        };
        if n_bands == 0 || width == 0 || height == 0 {
            return Err(err(format!("empty raster ({n_bands} bands, {width}x{height})")));
        }
        let band_meta = |n: &Node| -> BandMeta {
            let nodata = ["_FillValue", "missing_value"]
                .iter()
                .find_map(|k| n.attrs.get(*k).and_then(|v| parse_fill(v, dtype)))
                .or_else(|| {
                    // v2: GDAL reads `fill_value` as nodata (`null`: none). v3 always carries a
                    // fill value, a storage default rather than a nodata declaration: only a NaN
                    // fill is taken as nodata there.
                    n.meta
                        .get("fill_value")
                        .and_then(|v| parse_fill(v, dtype))
                        .filter(|f| n.format == 2 || f.is_nan())
                });
            let text = |k: &str| n.attrs.get(k).and_then(Value::as_str).map(str::to_string);
            BandMeta {
                description: text("long_name").or_else(|| text("description")),
                nodata: nodata.map(NoData),
                scale: n.attrs.get("scale_factor").and_then(Value::as_f64),
                offset: n.attrs.get("add_offset").and_then(Value::as_f64),
                ..BandMeta::default()
            }
        };
        let bands: Vec<BandMeta> = if chosen.len() == 1 {
            let mut b = band_meta(first);
            if n_bands > 1 {
                b.description = None;
            }
            let mut v = vec![b; n_bands];
            if let Some(Value::Array(d)) = first.attrs.get("band_descriptions")
                && d.len() == n_bands
            {
                for (bm, d) in v.iter_mut().zip(d) {
                    bm.description = d.as_str().map(str::to_string);
                }
            }
            v
        } else {
            chosen
                .iter()
                .map(|n| {
                    let mut b = band_meta(n);
                    if b.description.is_none() {
                        b.description = Some(n.name().to_string());
                    }
                    b
                })
                .collect()
        };
        let block = block_shape(&first.meta);
        let block = if block.len() == shape.len() {
            BlockSize::new(block[axes.x] as usize, block[axes.y] as usize)
        } else {
            BlockSize::new(width, height)
        };
        let store_for_coords = store.clone();
        let coords = move |n: &Node| read_1d(&store_for_coords, n);
        let (yd, xd) = match &dims {
            Some(d) => (Some(d[axes.y].as_str()), Some(d[axes.x].as_str())),
            None => (None, None),
        };
        let g = georef::resolve(nodes, first, yd, xd, width, height, &coords);
        let mut meta = RasterMeta::new(width, height, n_bands, dtype);
        meta.bands = bands;
        meta.block = block;
        meta.compression = compression(&first.meta);
        meta.geotransform = g.gt;
        meta.crs = g.crs;
        meta.metadata.insert("ZARR_FORMAT".into(), first.format.to_string());
        let variable = if chosen.len() == 1 {
            first.path.clone()
        } else {
            chosen.iter().map(|n| n.path.as_str()).collect::<Vec<_>>().join(",")
        };
        meta.metadata.insert("ZARR_ARRAY".into(), variable.clone());
        if let Some(d) = &dims {
            meta.metadata.insert("ZARR_DIMENSIONS".into(), d.join(","));
        }
        if let Some(s) = g.gt_source {
            meta.metadata.insert("GEOTRANSFORM_SOURCE".into(), s.into());
        }
        if let Some(s) = g.crs_source {
            meta.metadata.insert("CRS_SOURCE".into(), s.into());
        }
        if let Some(Value::String(a)) = first.attrs.get("AREA_OR_POINT") {
            meta.metadata.insert("AREA_OR_POINT".into(), a.clone());
        }
        let sharded = first.meta.get("codecs").and_then(Value::as_array).is_some_and(|c| {
            c.iter().any(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
        });
        let chunk_shape = block_shape(&first.meta);
        let chunks =
            (!sharded && chunk_shape.len() == shape.len() && chunk_shape.iter().all(|&c| c > 0))
                .then_some(chunk_shape);
        Ok(ZarrReader {
            path: path.to_path_buf(),
            meta,
            source,
            variable,
            format: first.format,
            chunks,
            _tmp: tmp.map(Arc::new),
        })
    }

    /// The Zarr path(s) of the array(s) read (comma-separated for per-band groups).
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The Zarr format version of the store, 2 or 3.
    pub fn zarr_format(&self) -> u8 {
        self.format
    }
}

fn list_arrays(nodes: &[Node]) -> String {
    let a: Vec<&str> =
        nodes.iter().filter(|n| n.kind == NodeKind::Array).map(|n| n.path.as_str()).collect();
    if a.is_empty() { "(none)".into() } else { a.join(", ") }
}

/// The raster array(s) of group `group`: the only array of two or more dimensions that is not a
/// coordinate, or GDAL's `Band1..BandN`.
fn auto_select(path: &Path, nodes: &[Node], group: &str) -> Result<Vec<Node>> {
    let inside =
        |n: &&Node| group == "/" || n.path == group || n.path.starts_with(&format!("{group}/"));
    let candidates: Vec<&Node> = nodes
        .iter()
        .filter(inside)
        .filter(|n| n.kind == NodeKind::Array && n.shape().len() >= 2)
        .collect();
    match candidates.as_slice() {
        [] => Err(Error::format(
            path,
            format!(
                "the Zarr group {group} holds no array of two or more dimensions (arrays: {})",
                list_arrays(nodes)
            ),
        )),
        [one] => Ok(vec![(*one).clone()]),
        many => {
            let shape = many[0].shape();
            let gdal_style = many.iter().all(|n| {
                band_number(n.name()).is_some() && n.shape() == shape && n.shape().len() == 2
            }) && many.iter().all(|n| {
                n.meta.get("dtype") == many[0].meta.get("dtype")
                    && n.meta.get("data_type") == many[0].meta.get("data_type")
            });
            if gdal_style {
                let mut v: Vec<Node> = many.iter().map(|n| (*n).clone()).collect();
                v.sort_by_key(|n| band_number(n.name()));
                return Ok(v);
            }
            let names: Vec<&str> = many.iter().map(|n| n.path.as_str()).collect();
            Err(Error::format(
                path,
                format!(
                    "the store holds {} raster arrays ({}); name one, e.g. {}{}",
                    many.len(),
                    names.join(", "),
                    path.display(),
                    names[0]
                ),
            ))
        }
    }
}

fn find_axes(shape: &[u64], dims: Option<&[String]>) -> std::result::Result<Axes, String> {
    let n = shape.len();
    if n < 2 {
        return Err(format!("has {n} dimension(s); a raster needs 2 or more"));
    }
    let by_name = |set: &[&str]| -> Option<usize> {
        dims.filter(|d| d.len() == n)?.iter().position(|d| is_named(d, set))
    };
    let (y, x) = match (by_name(Y_NAMES), by_name(X_NAMES)) {
        (Some(y), Some(x)) if y != x => (y, x),
        _ => (n - 2, n - 1),
    };
    let others: Vec<usize> = (0..n).filter(|&i| i != y && i != x).collect();
    let band = match others.as_slice() {
        [] => None,
        [b] => Some(*b),
        many => {
            let big: Vec<usize> = many.iter().copied().filter(|&i| shape[i] > 1).collect();
            match big.as_slice() {
                [] => Some(many[0]),
                [b] => Some(*b),
                _ => {
                    return Err(format!(
                        "has {n} dimensions of shape {shape:?}; only one non-spatial dimension longer than 1 can be read as bands"
                    ));
                }
            }
        }
    };
    Ok(Axes { shape: shape.to_vec(), band, y, x })
}

/// A 1-D numeric array as `f64` (coordinate arrays).
fn read_1d(store: &Arc<FilesystemStore>, n: &Node) -> Option<Vec<f64>> {
    let a: ZArray = Array::open(store.clone(), &n.path).ok()?;
    let len = *n.shape().first()?;
    let r: Vec<Range<u64>> = std::iter::once(0..len).collect();
    macro_rules! get {
        ($t:ty) => {
            a.retrieve_array_subset::<Vec<$t>>(&r).ok()?.into_iter().map(|v| v as f64).collect()
        };
    }
    Some(match parse_dtype(&n.meta)? {
        ZType::Raster(DataType::Uint8) => get!(u8),
        ZType::Raster(DataType::Int8) => get!(i8),
        ZType::Raster(DataType::Uint16) => get!(u16),
        ZType::Raster(DataType::Int16) => get!(i16),
        ZType::Raster(DataType::Uint32) => get!(u32),
        ZType::Raster(DataType::Int32) => get!(i32),
        ZType::Raster(DataType::Float32) => get!(f32),
        ZType::Raster(DataType::Float64) => get!(f64),
        ZType::Int64 => get!(i64),
        ZType::Uint64 => get!(u64),
    })
}

/// Runs of consecutive band indices: `[0, 1, 2, 5]` → `[(0, 3), (5, 1)]` as (first, count), with
/// the position of each run in the request.
fn band_runs(bands: &[usize]) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for (i, &b) in bands.iter().enumerate() {
        match runs.last_mut() {
            Some((first, count, _)) if *first + *count == b => *count += 1,
            _ => runs.push((b, 1, i)),
        }
    }
    runs
}

/// The elements of `ranges` (C order). Unsharded arrays (`chunks` given) are read chunk by
/// chunk: every chunk that intersects the ranges is decoded once, in parallel, and its overlap
/// copied into place (GDAL's strategy; faster than zarrs' generic subset path for whole-chunk
/// reads). Sharded arrays go through `retrieve_array_subset`, which decodes only the inner
/// chunks it needs.
fn retrieve<T>(
    array: &ZArray,
    ranges: &[Range<u64>],
    chunks: Option<&[u64]>,
) -> std::result::Result<Vec<T>, zarrs::array::ArrayError>
where
    T: RasterElement + zarrs::array::ElementOwned,
{
    use rayon::prelude::*;
    let Some(cs) = chunks else {
        return array.retrieve_array_subset::<Vec<T>>(&ranges.to_vec());
    };
    let lens: Vec<usize> = ranges.iter().map(|r| (r.end - r.start) as usize).collect();
    // Chunk index ranges per axis, then their cartesian product.
    let per_axis: Vec<Range<u64>> =
        ranges.iter().zip(cs).map(|(r, &c)| r.start / c..(r.end - 1) / c + 1).collect();
    let mut indices: Vec<Vec<u64>> = vec![Vec::new()];
    for ax in &per_axis {
        indices = indices
            .into_iter()
            .flat_map(|p| {
                ax.clone().map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    // One chunk per rayon task, each decoded on its task's thread (no nested parallelism).
    let one_thread = zarrs::array::CodecOptions::default().with_concurrent_target(1);
    let decoded: Vec<(Vec<u64>, Vec<T>)> = indices
        .into_par_iter()
        .map(|idx| array.retrieve_chunk_opt::<Vec<T>>(&idx, &one_thread).map(|v| (idx, v)))
        .collect::<std::result::Result<_, _>>()?;
    let n = lens.len();
    let total: usize = lens.iter().product();
    let mut out = vec![T::default(); total];
    let cshape: Vec<usize> = cs.iter().map(|&c| c as usize).collect();
    let strides = |shape: &[usize]| -> Vec<usize> {
        let mut st = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            st[i] = st[i + 1] * shape[i + 1];
        }
        st
    };
    let (out_st, chunk_st) = (strides(&lens), strides(&cshape));
    for (idx, v) in decoded {
        // Overlap of the chunk and the request: start in the chunk, start in the output, length.
        let mut src0 = vec![0usize; n];
        let mut dst0 = vec![0usize; n];
        let mut len = vec![0usize; n];
        for a in 0..n {
            let (r, c) = (&ranges[a], cs[a]);
            let o = idx[a] * c;
            let (lo, hi) = (r.start.max(o), r.end.min(o + c));
            src0[a] = (lo - o) as usize;
            dst0[a] = (lo - r.start) as usize;
            len[a] = (hi - lo) as usize;
        }
        // Copy contiguous runs along the last axis, walking the others like an odometer.
        let run = len[n - 1];
        let mut pos = vec![0usize; n - 1];
        'copy: loop {
            let (mut so, mut dof) = (src0[n - 1], dst0[n - 1]);
            for a in 0..n - 1 {
                so += (src0[a] + pos[a]) * chunk_st[a];
                dof += (dst0[a] + pos[a]) * out_st[a];
            }
            out[dof..dof + run].copy_from_slice(&v[so..so + run]);
            let mut a = n - 1;
            loop {
                if a == 0 {
                    break 'copy;
                }
                a -= 1;
                pos[a] += 1;
                if pos[a] < len[a] {
                    break;
                }
                pos[a] = 0;
            }
        }
    }
    Ok(out)
}

impl ZarrReader {
    fn read_typed<T>(&self, bands: &[usize], w: Window) -> Result<Array3<T>>
    where
        T: RasterElement + zarrs::array::ElementOwned,
    {
        let (r0, c0) = (w.row_off as u64, w.col_off as u64);
        let rows = r0..r0 + w.height as u64;
        let cols = c0..c0 + w.width as u64;
        let new_out = || Array3::<T>::default((bands.len(), w.height, w.width));
        let zerr = |a: &str, e: zarrs::array::ArrayError| {
            Error::format(&self.path, format!("array {a}: cannot read window {w}: {e}"))
        };
        match &self.source {
            Source::PerBand { arrays } => {
                let mut out = new_out();
                for (i, &b) in bands.iter().enumerate() {
                    let a = &arrays[b];
                    let v: Vec<T> =
                        retrieve(a, &[rows.clone(), cols.clone()], self.chunks.as_deref())
                            .map_err(|e| zerr(a.path().as_str(), e))?;
                    let arr = ndarray::Array2::from_shape_vec((w.height, w.width), v)
                        .map_err(|e| Error::format(&self.path, e.to_string()))?;
                    out.index_axis_mut(ndarray::Axis(0), i).assign(&arr);
                }
                Ok(out)
            }
            Source::Single { array, axes } => {
                let mut out: Option<Array3<T>> = None;
                for (first, count, pos) in band_runs(bands) {
                    let ranges: Vec<Range<u64>> = (0..axes.shape.len())
                        .map(|i| {
                            if i == axes.y {
                                rows.clone()
                            } else if i == axes.x {
                                cols.clone()
                            } else if Some(i) == axes.band {
                                first as u64..(first + count) as u64
                            } else {
                                0..1
                            }
                        })
                        .collect();
                    let lens: Vec<usize> =
                        ranges.iter().map(|r| (r.end - r.start) as usize).collect();
                    let v: Vec<T> = retrieve(array, &ranges, self.chunks.as_deref())
                        .map_err(|e| zerr(array.path().as_str(), e))?;
                    // Move (band, y, x) to the front; the rest have length 1.
                    let mut order: Vec<usize> = Vec::with_capacity(lens.len());
                    order.extend(axes.band);
                    order.push(axes.y);
                    order.push(axes.x);
                    let rest: Vec<usize> = (0..lens.len()).filter(|i| !order.contains(i)).collect();
                    order.extend(rest);
                    let moving: Vec<usize> =
                        order.iter().copied().filter(|&a| lens[a] > 1).collect();
                    let arr3 = if moving.windows(2).all(|p| p[0] < p[1]) {
                        // Already (band, y, x) in memory: no transposition.
                        Array3::from_shape_vec((count, w.height, w.width), v)
                            .map_err(|e| Error::format(&self.path, e.to_string()))?
                    } else {
                        let arr = ArrayD::from_shape_vec(IxDyn(&lens), v)
                            .map_err(|e| Error::format(&self.path, e.to_string()))?;
                        let arr = arr.permuted_axes(IxDyn(&order));
                        arr.as_standard_layout()
                            .to_shape((count, w.height, w.width))
                            .map_err(|e| Error::format(&self.path, e.to_string()))?
                            .to_owned()
                    };
                    if count == bands.len() {
                        // One run holds every requested band: no further copy.
                        return Ok(arr3);
                    }
                    out.get_or_insert_with(new_out)
                        .slice_mut(ndarray::s![pos..pos + count, .., ..])
                        .assign(&arr3);
                }
                Ok(out.unwrap_or_else(new_out))
            }
        }
    }
}

impl RasterRead for ZarrReader {
    fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn read_window(&self, bands: &[usize], window: Window) -> Result<RasterBuffer> {
        self.check_request(bands, &window)?;
        Ok(match self.meta.dtype {
            DataType::Uint8 => RasterBuffer::Uint8(self.read_typed(bands, window)?),
            DataType::Int8 => RasterBuffer::Int8(self.read_typed(bands, window)?),
            DataType::Uint16 => RasterBuffer::Uint16(self.read_typed(bands, window)?),
            DataType::Int16 => RasterBuffer::Int16(self.read_typed(bands, window)?),
            DataType::Uint32 => RasterBuffer::Uint32(self.read_typed(bands, window)?),
            DataType::Int32 => RasterBuffer::Int32(self.read_typed(bands, window)?),
            DataType::Float32 => RasterBuffer::Float32(self.read_typed(bands, window)?),
            DataType::Float64 => RasterBuffer::Float64(self.read_typed(bands, window)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_from_names_and_positions() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = find_axes(&[10, 36, 72], Some(&s(&["time", "lat", "lon"]))).unwrap();
        assert_eq!((a.band, a.y, a.x), (Some(0), 1, 2));
        let a = find_axes(&[36, 72, 3], Some(&s(&["y", "x", "band"]))).unwrap();
        assert_eq!((a.band, a.y, a.x), (Some(2), 0, 1));
        let a = find_axes(&[3, 20, 20], None).unwrap();
        assert_eq!((a.band, a.y, a.x), (Some(0), 1, 2));
        let a = find_axes(&[1, 3, 20, 20], None).unwrap();
        assert_eq!((a.band, a.y, a.x), (Some(1), 2, 3));
        assert!(find_axes(&[2, 3, 20, 20], None).is_err());
        assert!(find_axes(&[20], None).is_err());
        assert_eq!(band_runs(&[0, 1, 2, 5]), vec![(0, 3, 0), (5, 1, 3)]);
        assert_eq!(band_runs(&[2, 1]), vec![(2, 1, 0), (1, 1, 1)]);
    }
}
