//! The GeoTIFF / BigTIFF / Cloud-Optimized GeoTIFF writer.
//!
//! [`GeoTiffWriter`] implements [`geodino_core::RasterWrite`]: windows arrive in any order
//! (typically row bands from an inference engine); every tile is compressed as soon as its
//! last pixel arrives and appended to a scratch file beside the destination, the overview
//! pyramid is built on the fly from finished tiles (2 × 2 blocks, each level from the one
//! above, as GDAL does), and [`GeoTiffWriter::finish`] lays the final file out — header,
//! GDAL's structural metadata, every IFD, then the tiles of the smallest overview first and
//! of full resolution last — in a second temporary file that is renamed over the destination.
//! Nothing appears at the destination before `finish` succeeds, and both temporary files are
//! removed on error or drop.
//!
//! Memory is bounded by the tiles that are partly written: fed row bands, one row of tiles per
//! pyramid level (see [`WriterStats`]).
//!
//! ```no_run
//! use geodino_core::{DataType, GeoTransform, Crs, RasterBuffer, RasterMeta, RasterWrite, Window};
//! use geodino_tiff::write::{GeoTiffWriter, TiffWriteOptions};
//!
//! let mut meta = RasterMeta::new(30_000, 30_000, 1, DataType::Float32);
//! meta.geotransform = Some(GeoTransform::north_up(300_000.0, 0.6, 4_100_040.0, -0.6));
//! meta.crs = Some(Crs::from_epsg(32633));
//! meta.set_nodata(Some(-9999.0));
//! let mut w = GeoTiffWriter::create("chm.tif", &meta, &TiffWriteOptions::cog())?;
//! for row in (0..30_000).step_by(1024) {
//!     let h = 1024.min(30_000 - row);
//!     let band = RasterBuffer::filled(DataType::Float32, (1, h, 30_000), 0.0);
//!     w.write_window(Window::new(0, row as i64, 30_000, h), &band)?;
//! }
//! w.finish()?;
//! # Ok::<(), geodino_core::Error>(())
//! ```

mod bands;
mod codec;
mod epsg_kind;
mod geokeys;
mod ifd;
mod options;
mod pyramid;
mod resample;

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use geodino_core::{
    BlockSize, DataType, Error, RasterBuffer, RasterMeta, RasterWrite, Result, Window,
};

pub use options::{
    BigTiff, Layout, Overviews, Predictor, Resampling, TiffCompression, TiffWriteOptions,
};

use codec::Encoding;
use ifd::{Entry, tag};
use pyramid::{EncodedTile, Engine, LevelDims, Pool, Pyramid};
use resample::{Reducer, Reducible};

/// Counters of a writer's memory and work, for tests and progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Tiles partly written right now, all levels.
    pub pending_tiles: usize,
    /// Bytes of those tiles' pixel buffers.
    pub pending_bytes: usize,
    /// Largest number of partly written tiles seen.
    pub peak_pending_tiles: usize,
    /// Largest pixel memory seen: partly written tiles, the batch of finished tiles being
    /// reduced and compressed, and tile buffers kept for reuse.
    pub peak_pending_bytes: usize,
    /// Tiles compressed so far (all written levels).
    pub tiles_encoded: usize,
    /// Bytes of compressed tiles in the scratch file.
    pub scratch_bytes: u64,
}

/// GDAL's "ghost" structural metadata of COG files, read by GDAL and its COG validator.
const COG_GHOST: &str = "LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n\
BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ";

fn ghost_bytes() -> Vec<u8> {
    let mut g =
        format!("GDAL_STRUCTURAL_METADATA_SIZE={:06} bytes\n", COG_GHOST.len()).into_bytes();
    g.extend_from_slice(COG_GHOST.as_bytes());
    g
}

/// Sizes of the pyramid levels: level 0 is the raster, each next level halves (rounding
/// down, at least 1 pixel) as GDAL's COG driver does. `emit` marks the levels written.
fn plan_levels(
    width: usize,
    height: usize,
    ts: usize,
    layout: Layout,
    ov: &Overviews,
) -> Vec<LevelDims> {
    let mut dims = vec![LevelDims { width, height, emit: true }];
    let half = |d: &LevelDims| LevelDims {
        width: (d.width / 2).max(1),
        height: (d.height / 2).max(1),
        emit: true,
    };
    match (ov, layout) {
        (Overviews::None, _) | (Overviews::Auto, Layout::Tiled) => {}
        (Overviews::Auto, Layout::Cog) => {
            while {
                let l = dims.last().expect("non-empty");
                l.width > ts || l.height > ts
            } {
                let next = half(dims.last().expect("non-empty"));
                dims.push(next);
            }
        }
        (Overviews::Levels(factors), _) => {
            let max = factors.iter().copied().max().unwrap_or(1);
            let mut f = 1u32;
            while f < max {
                f *= 2;
                let mut next = half(dims.last().expect("non-empty"));
                next.emit = factors.contains(&f);
                dims.push(next);
            }
        }
    }
    dims
}

/// Where each encoded tile sits in the scratch file.
#[derive(Debug, Clone, Copy)]
struct TileLoc {
    offset: u64,
    len: u64,
}

struct Scratch {
    file: tempfile::NamedTempFile,
    out: BufWriter<File>,
    len: u64,
    /// Per level, per tile.
    locs: Vec<Vec<Option<TileLoc>>>,
}

impl Scratch {
    fn append(&mut self, t: EncodedTile, path: &Path) -> Result<()> {
        self.out.write_all(&t.bytes).map_err(|e| Error::io(path, e))?;
        self.locs[t.level][t.index] = Some(TileLoc { offset: self.len, len: t.bytes.len() as u64 });
        self.len += t.bytes.len() as u64;
        Ok(())
    }
}

/// The static (data-independent) tags of every IFD.
struct TagPlan {
    /// Tags of the full-resolution IFD (without tile offsets/counts).
    main: Vec<Entry>,
    /// Tags of overview IFDs (without tile offsets/counts).
    overview: Vec<Entry>,
}

/// Streaming GeoTIFF / COG writer; see the [module documentation](self).
pub struct GeoTiffWriter {
    path: PathBuf,
    meta: RasterMeta,
    opts: TiffWriteOptions,
    levels: Vec<LevelDims>,
    tags: TagPlan,
    engine: Box<dyn Engine>,
    scratch: Scratch,
    failed: bool,
}

impl std::fmt::Debug for GeoTiffWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoTiffWriter")
            .field("path", &self.path)
            .field("width", &self.meta.width)
            .field("height", &self.meta.height)
            .field("bands", &self.meta.band_count())
            .field("dtype", &self.meta.dtype)
            .field("opts", &self.opts)
            .field("stats", &self.stats())
            .finish()
    }
}

fn make_engine<T: Reducible>(
    levels: &[LevelDims],
    enc: Encoding,
    nodata: Option<f64>,
    kind: Resampling,
    pool: Pool,
) -> Box<dyn Engine> {
    let nd = nodata.map(T::from_f64);
    let fill = nd.unwrap_or_default();
    Box::new(Pyramid::<T>::new(levels, enc, fill, Reducer { kind, nodata: nd }, pool))
}

impl GeoTiffWriter {
    /// Start writing `meta` (size, bands, data type, georeferencing, nodata, band metadata)
    /// to `path` with `opts`. `meta.block`, `meta.compression` and `meta.overviews` are
    /// ignored: the options decide them (see [`GeoTiffWriter::meta`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad options or metadata (nodata that differs between bands or
    /// does not fit the data type, a colour table on a multi-band or float raster, ...);
    /// [`Error::Io`] when the scratch file cannot be created in the destination directory.
    pub fn create(
        path: impl AsRef<Path>,
        meta: &RasterMeta,
        opts: &TiffWriteOptions,
    ) -> Result<GeoTiffWriter> {
        let path = path.as_ref().to_path_buf();
        opts.validate()?;
        if meta.width == 0 || meta.height == 0 || meta.band_count() == 0 {
            return Err(Error::Invalid(format!(
                "{}: cannot write an empty raster ({}x{}, {} band(s))",
                path.display(),
                meta.width,
                meta.height,
                meta.band_count()
            )));
        }
        if meta.width > u32::MAX as usize
            || meta.height > u32::MAX as usize
            || meta.band_count() > u16::MAX as usize
        {
            return Err(Error::Invalid(format!(
                "{}: {}x{} with {} bands exceeds TIFF's limits",
                path.display(),
                meta.width,
                meta.height,
                meta.band_count()
            )));
        }
        let ts = opts.tile_size;
        let compression = opts.compression;
        let predictor = opts.predictor.resolve(meta.dtype, compression)?;
        let nodata = bands::common_nodata(meta, &path)?;
        let color_map = bands::color_map(meta, &path)?;
        let photo = bands::photometric(meta);
        let georef = geokeys::georef_entries(
            meta.geotransform.as_ref(),
            meta.crs.as_ref(),
            meta.pixel_is_point,
            &path,
        )?;
        let levels = plan_levels(meta.width, meta.height, ts, opts.layout, &opts.overviews);
        let resampling = match opts.resampling {
            Resampling::Auto => {
                let b = &meta.bands[0];
                if b.color_table.is_some() || b.category_names.is_some() {
                    Resampling::Mode
                } else {
                    Resampling::Average
                }
            }
            r => r,
        };

        // static tags
        let spp = meta.band_count();
        let bits = (meta.dtype.size_bytes() * 8) as u16;
        let mut common = vec![
            Entry::shorts(tag::BITS_PER_SAMPLE, &vec![bits; spp]),
            Entry::short(tag::COMPRESSION, compression.tiff_code()),
            Entry::short(tag::PHOTOMETRIC, photo.value),
            Entry::short(tag::SAMPLES_PER_PIXEL, spp as u16),
            Entry::short(tag::PLANAR_CONFIG, 1),
            Entry::dim(tag::TILE_WIDTH, ts),
            Entry::dim(tag::TILE_LENGTH, ts),
            Entry::shorts(tag::SAMPLE_FORMAT, &vec![codec::sample_format(meta.dtype); spp]),
        ];
        if predictor != 1 {
            common.push(Entry::short(tag::PREDICTOR, predictor));
        }
        if !photo.extra.is_empty() {
            common.push(Entry::shorts(tag::EXTRA_SAMPLES, &photo.extra));
        }
        if let Some(cm) = color_map {
            common.push(cm);
        }
        if let Some(nd) = nodata {
            common.push(Entry::ascii(tag::GDAL_NODATA, &nd.to_gdal_string()));
        }
        let mut main = common.clone();
        main.extend(georef);
        if let Some(xml) = bands::gdal_metadata(meta, &photo) {
            main.push(Entry::ascii(tag::GDAL_METADATA, &xml));
        }
        let mut overview = common;
        overview.push(Entry::long(tag::NEW_SUBFILE_TYPE, 1));

        // scratch file beside the destination
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| {
            Error::Invalid(format!("{}: the destination has no file name", path.display()))
        })?;
        let file = tempfile::Builder::new()
            .prefix(&format!(".{}.tiles-", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                Error::io(
                    &path,
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot create a scratch file in {}: {e}", dir.display()),
                    ),
                )
            })?;
        let out = BufWriter::with_capacity(
            1 << 20,
            file.as_file().try_clone().map_err(|e| Error::io(&path, e))?,
        );
        let locs = levels
            .iter()
            .map(|l| {
                let (tx, ty) = l.tiles(ts);
                vec![None; tx * ty]
            })
            .collect();

        let enc = Encoding { compression, level: opts.level, predictor, tile: ts, spp };
        let pool = Pool::new(opts.threads)?;
        let nd = nodata.map(|n| n.0);
        let engine = match meta.dtype {
            DataType::Uint8 => make_engine::<u8>(&levels, enc, nd, resampling, pool),
            DataType::Int8 => make_engine::<i8>(&levels, enc, nd, resampling, pool),
            DataType::Uint16 => make_engine::<u16>(&levels, enc, nd, resampling, pool),
            DataType::Int16 => make_engine::<i16>(&levels, enc, nd, resampling, pool),
            DataType::Uint32 => make_engine::<u32>(&levels, enc, nd, resampling, pool),
            DataType::Int32 => make_engine::<i32>(&levels, enc, nd, resampling, pool),
            DataType::Float32 => make_engine::<f32>(&levels, enc, nd, resampling, pool),
            DataType::Float64 => make_engine::<f64>(&levels, enc, nd, resampling, pool),
        };

        let mut out_meta = meta.clone();
        out_meta.block = BlockSize::new(ts, ts);
        out_meta.compression = compression.to_core();
        out_meta.overviews =
            levels.iter().skip(1).filter(|l| l.emit).map(|l| (l.width, l.height)).collect();
        out_meta.has_mask = false;
        Ok(GeoTiffWriter {
            path,
            meta: out_meta,
            opts: opts.clone(),
            levels,
            tags: TagPlan { main, overview },
            engine,
            scratch: Scratch { file, out, len: 0, locs },
            failed: false,
        })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Memory and work counters.
    pub fn stats(&self) -> WriterStats {
        let c = self.engine.counters();
        WriterStats {
            pending_tiles: c.pending_tiles,
            pending_bytes: self.engine.pending_bytes(),
            peak_pending_tiles: c.peak_pending_tiles,
            peak_pending_bytes: c.peak_pending_bytes,
            tiles_encoded: c.tiles_encoded,
            scratch_bytes: self.scratch.len,
        }
    }

    fn check(&self, window: &Window, data: &RasterBuffer) -> Result<()> {
        if self.failed {
            return Err(Error::Invalid(format!(
                "{}: an earlier write failed; the writer cannot continue",
                self.path.display()
            )));
        }
        let m = &self.meta;
        if data.dtype() != m.dtype {
            return Err(Error::Invalid(format!(
                "{}: data is {} but the raster is {}",
                self.path.display(),
                data.dtype(),
                m.dtype
            )));
        }
        if window.is_empty() || !window.is_inside(m.width, m.height) {
            return Err(Error::OutOfBounds {
                path: self.path.clone(),
                message: format!(
                    "window {window} is empty or not inside the {}x{} raster",
                    m.width, m.height
                ),
            });
        }
        if data.shape() != (m.band_count(), window.height, window.width) {
            return Err(Error::Invalid(format!(
                "{}: data of shape {:?} (bands, rows, cols) does not match window {window} of \
                 a {}-band raster",
                self.path.display(),
                data.shape(),
                m.band_count()
            )));
        }
        Ok(())
    }

    /// Write `data` (`(bands, rows, cols)`, every band, the raster's data type) at `window`.
    /// Pixels may be rewritten until their tile is complete.
    ///
    /// # Errors
    /// [`Error::Invalid`] / [`Error::OutOfBounds`] for a data type, shape or window that does
    /// not fit, or a window touching an already completed tile (nothing is written then);
    /// [`Error::Io`] when the scratch file cannot be written (the writer is then unusable).
    pub fn write_window(&mut self, window: Window, data: &RasterBuffer) -> Result<()> {
        self.check(&window, data)?;
        let GeoTiffWriter { engine, scratch, path, .. } = self;
        let r = engine.write(window, data, path, &mut |t| scratch.append(t, path));
        if let Err(Error::Io { .. }) = &r {
            self.failed = true;
        }
        r
    }

    /// Complete every tile (never-written pixels get the nodata value, or 0), then lay out the
    /// file and move it into place atomically. Returns the final statistics.
    ///
    /// # Errors
    /// IO errors naming the destination; [`Error::Invalid`] when `bigtiff: No` was asked for
    /// but the file would pass 4 GiB. Nothing is left at the destination on error.
    pub fn finish(self) -> Result<WriterStats> {
        self.finish_with_progress(&mut |_, _| {})
    }

    /// [`GeoTiffWriter::finish`], reporting the copy of the compressed tiles into the final file
    /// as `(bytes done, bytes total)` (about every 16 MiB and at the end): what a CLI shows as
    /// a progress bar while a multi-gigabyte output is laid out.
    ///
    /// # Errors
    /// As [`GeoTiffWriter::finish`].
    pub fn finish_with_progress(
        mut self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<WriterStats> {
        if self.failed {
            return Err(Error::Invalid(format!(
                "{}: an earlier write failed; nothing was written",
                self.path.display()
            )));
        }
        {
            let GeoTiffWriter { engine, scratch, path, .. } = &mut self;
            engine.finish(path, &mut |t| scratch.append(t, path))?;
        }
        let stats = self.stats();
        self.scratch.out.flush().map_err(|e| Error::io(&self.path, e))?;
        self.layout_and_persist(progress)?;
        Ok(stats)
    }

    /// Emitted levels in IFD order (full resolution, then overviews by decreasing size).
    fn emitted(&self) -> Vec<usize> {
        (0..self.levels.len()).filter(|&l| self.levels[l].emit).collect()
    }

    fn ifd_entries(&self, level: usize, offsets: &[u64], counts: &[u64], big: bool) -> Vec<Entry> {
        let d = self.levels[level];
        let mut e = if level == 0 { self.tags.main.clone() } else { self.tags.overview.clone() };
        e.push(Entry::dim(tag::IMAGE_WIDTH, d.width));
        e.push(Entry::dim(tag::IMAGE_LENGTH, d.height));
        e.push(Entry::offsets(tag::TILE_OFFSETS, offsets, big));
        e.push(Entry::offsets(tag::TILE_BYTE_COUNTS, counts, big));
        e
    }

    fn layout_and_persist(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let cog = self.opts.layout == Layout::Cog;
        let ghost = if cog { ghost_bytes() } else { Vec::new() };
        let emitted = self.emitted();
        let tile_overhead = if cog { 8 } else { 0 };
        let data_bytes: u64 = emitted
            .iter()
            .flat_map(|&l| self.scratch.locs[l].iter())
            .map(|t| t.expect("finish completes every tile").len + tile_overhead)
            .sum();
        let size_with = |big: bool| -> u64 {
            let head = if big { 16 } else { 8 };
            let g = (ghost.len() as u64).next_multiple_of(2);
            let ifds: u64 = emitted
                .iter()
                .map(|&l| {
                    let n = self.scratch.locs[l].len();
                    ifd::ifd_size(&self.ifd_entries(l, &vec![0; n], &vec![0; n], big), big)
                })
                .sum();
            head + g + ifds + data_bytes
        };
        let classic = size_with(false);
        let big = self.opts.bigtiff.use_bigtiff(classic);
        if !big && classic > u32::MAX as u64 {
            return Err(Error::Invalid(format!(
                "{}: the file would be {classic} bytes, more than classic TIFF's 4 GiB; use \
                 bigtiff: auto or yes",
                self.path.display()
            )));
        }

        // IFD positions
        let head = if big { 16u64 } else { 8 };
        let first_ifd = head + (ghost.len() as u64).next_multiple_of(2);
        let mut ifd_at = Vec::with_capacity(emitted.len());
        let mut pos = first_ifd;
        for &l in &emitted {
            ifd_at.push(pos);
            let n = self.scratch.locs[l].len();
            pos += ifd::ifd_size(&self.ifd_entries(l, &vec![0; n], &vec![0; n], big), big);
        }
        // tile positions: smallest overview first, full resolution last, row-major
        let mut offsets: Vec<Vec<u64>> =
            emitted.iter().map(|&l| vec![0; self.scratch.locs[l].len()]).collect();
        let mut counts = offsets.clone();
        for (k, &l) in emitted.iter().enumerate().rev() {
            for (i, t) in self.scratch.locs[l].iter().enumerate() {
                let t = t.expect("complete");
                let lead = if cog { 4 } else { 0 };
                offsets[k][i] = pos + lead;
                counts[k][i] = t.len;
                pos += t.len + tile_overhead;
            }
        }
        debug_assert_eq!(pos, size_with(big));

        // write it
        let dir = self
            .scratch
            .file
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let name =
            self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let io = |e: std::io::Error| Error::io(&self.path, e);
        let final_tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io)?;
        {
            let mut out = BufWriter::with_capacity(1 << 20, final_tmp.as_file());
            out.write_all(&ifd::header(first_ifd, big)).map_err(io)?;
            out.write_all(&ghost).map_err(io)?;
            if ghost.len() % 2 == 1 {
                out.write_all(&[0]).map_err(io)?;
            }
            for (k, &l) in emitted.iter().enumerate() {
                let next = ifd_at.get(k + 1).copied().unwrap_or(0);
                let mut entries = self.ifd_entries(l, &offsets[k], &counts[k], big);
                out.write_all(&ifd::write_ifd(&mut entries, ifd_at[k], next, big)).map_err(io)?;
            }
            let mut src = self.scratch.file.as_file();
            let mut buf = Vec::new();
            let (mut copied, mut last) = (0u64, 0u64);
            progress(0, data_bytes);
            for &l in emitted.iter().rev() {
                for t in &self.scratch.locs[l] {
                    let t = t.expect("complete");
                    buf.resize(t.len as usize, 0);
                    src.seek(SeekFrom::Start(t.offset)).map_err(io)?;
                    src.read_exact(&mut buf).map_err(io)?;
                    if cog {
                        out.write_all(&(t.len as u32).to_le_bytes()).map_err(io)?;
                    }
                    out.write_all(&buf).map_err(io)?;
                    if cog {
                        let mut trailer = [0u8; 4];
                        let n = buf.len().min(4);
                        trailer[4 - n..].copy_from_slice(&buf[buf.len() - n..]);
                        out.write_all(&trailer).map_err(io)?;
                    }
                    copied += t.len + tile_overhead;
                    if copied - last >= 1 << 24 || copied == data_bytes {
                        progress(copied, data_bytes);
                        last = copied;
                    }
                }
            }
            out.flush().map_err(io)?;
        }
        final_tmp.as_file().sync_all().map_err(io)?;
        final_tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

impl RasterWrite for GeoTiffWriter {
    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn write_window(&mut self, window: Window, data: &RasterBuffer) -> Result<()> {
        GeoTiffWriter::write_window(self, window, data)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        GeoTiffWriter::finish(*self).map(|_| ())
    }
}

/// Write a whole in-memory raster (`(bands, rows, cols)`) to `path` in one call.
///
/// # Errors
/// As [`GeoTiffWriter::create`], [`GeoTiffWriter::write_window`] and
/// [`GeoTiffWriter::finish`].
pub fn write_geotiff(
    path: impl AsRef<Path>,
    meta: &RasterMeta,
    data: &RasterBuffer,
    opts: &TiffWriteOptions,
) -> Result<WriterStats> {
    let mut w = GeoTiffWriter::create(path, meta, opts)?;
    w.write_window(Window::full(meta.width, meta.height), data)?;
    w.finish()
}

/// The overview sizes `(width, height)`, largest first, that `opts` gives a `width` ×
/// `height` raster.
pub fn overview_sizes(width: usize, height: usize, opts: &TiffWriteOptions) -> Vec<(usize, usize)> {
    plan_levels(width, height, opts.tile_size, opts.layout, &opts.overviews)
        .iter()
        .skip(1)
        .filter(|l| l.emit)
        .map(|l| (l.width, l.height))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_plans_match_gdal_cog_sizes() {
        let o = TiffWriteOptions { tile_size: 256, ..Default::default() };
        // observed with GDAL 3.6.2's COG driver, BLOCKSIZE=256
        assert_eq!(overview_sizes(1000, 600, &o), vec![(500, 300), (250, 150)]);
        assert_eq!(overview_sizes(1001, 601, &o), vec![(500, 300), (250, 150)]);
        assert_eq!(overview_sizes(1023, 515, &o), vec![(511, 257), (255, 128)]);
        assert_eq!(
            overview_sizes(5000, 3, &o),
            vec![(2500, 1), (1250, 1), (625, 1), (312, 1), (156, 1)]
        );
        assert_eq!(overview_sizes(513, 513, &o), vec![(256, 256)]);
        assert_eq!(overview_sizes(256, 256, &o), vec![]);
        let t = TiffWriteOptions { layout: Layout::Tiled, ..o.clone() };
        assert!(overview_sizes(5000, 5000, &t).is_empty());
        let l = TiffWriteOptions { overviews: Overviews::Levels(vec![4, 16]), ..o };
        assert_eq!(overview_sizes(1000, 1000, &l), vec![(250, 250), (62, 62)]);
    }

    #[test]
    fn ghost_block_is_gdal_s() {
        let g = ghost_bytes();
        assert!(
            g.starts_with(b"GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\nLAYOUT=IFDS_BEFORE_DATA\n")
        );
        assert_eq!(g.len(), 43 + 140);
    }
}
