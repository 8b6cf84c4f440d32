//! The GDAL backend (feature `gdal`): every format GDAL opens, VRT mosaics, `/vsicurl/` paths.
//!
//! GDAL 3.6's `Dataset` is `Send` but not `Sync` (thread-safe datasets need GDAL 3.10), so the
//! reader keeps a pool of datasets and lends one to each thread that reads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gdal::raster::{GdalDataType, GdalType, RasterCreationOptions};
use gdal::{Dataset, DriverManager, Metadata};
use geodino_core::{
    BandMeta, BlockSize, ColorEntry, Compression, Crs, DataType, Error, GeoTransform, NoData,
    RasterBuffer, RasterElement, RasterMeta, RasterRead, RasterWrite, Result, Window,
};
use ndarray::{Array2, Array3};

fn gerr(path: &Path, e: gdal::errors::GdalError) -> Error {
    Error::format(path, format!("GDAL: {e}"))
}

/// A raster read through GDAL.
#[derive(Debug)]
pub struct GdalReader {
    path: PathBuf,
    meta: RasterMeta,
    pool: Mutex<Vec<Dataset>>,
}

fn dtype_of(path: &Path, t: GdalDataType) -> Result<DataType> {
    Ok(match t {
        GdalDataType::UInt8 => DataType::Uint8,
        GdalDataType::UInt16 => DataType::Uint16,
        GdalDataType::Int16 => DataType::Int16,
        GdalDataType::UInt32 => DataType::Uint32,
        GdalDataType::Int32 => DataType::Int32,
        GdalDataType::Float32 => DataType::Float32,
        GdalDataType::Float64 => DataType::Float64,
        other => {
            return Err(Error::unsupported(path, format!("GDAL data type {}", other.name())));
        }
    })
}

impl GdalReader {
    /// Open `path` (a file, a VRT, or a GDAL virtual path such as `/vsicurl/https://...`).
    ///
    /// # Errors
    /// GDAL cannot open it, it has no bands, or its bands differ in data type.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let ds = Dataset::open(&path).map_err(|e| gerr(&path, e))?;
        let meta = describe(&path, &ds)?;
        Ok(GdalReader { path, meta, pool: Mutex::new(vec![ds]) })
    }

    fn with_dataset<R>(&self, f: impl FnOnce(&Dataset) -> Result<R>) -> Result<R> {
        let ds = self.pool.lock().map_err(|_| Error::Invalid("GDAL pool poisoned".into()))?.pop();
        let ds = match ds {
            Some(d) => d,
            None => Dataset::open(&self.path).map_err(|e| gerr(&self.path, e))?,
        };
        let r = f(&ds);
        if let Ok(mut p) = self.pool.lock() {
            p.push(ds);
        }
        r
    }

    fn read_typed<T: RasterElement + GdalType + Copy>(
        &self,
        bands: &[usize],
        w: Window,
    ) -> Result<Array3<T>> {
        self.with_dataset(|ds| {
            let mut out = Array3::<T>::default((bands.len(), w.height, w.width));
            for (i, &b) in bands.iter().enumerate() {
                let band = ds.rasterband(b + 1).map_err(|e| gerr(&self.path, e))?;
                let slice = out
                    .index_axis_mut(ndarray::Axis(0), i)
                    .into_slice()
                    .expect("a fresh array is contiguous");
                band.read_into_slice::<T>(
                    (w.col_off as isize, w.row_off as isize),
                    (w.width, w.height),
                    (w.width, w.height),
                    slice,
                    None,
                )
                .map_err(|e| gerr(&self.path, e))?;
            }
            Ok(out)
        })
    }
}

fn describe(path: &Path, ds: &Dataset) -> Result<RasterMeta> {
    let (w, h) = ds.raster_size();
    let n = ds.raster_count();
    if n == 0 {
        let subs = ds.metadata_domain("SUBDATASETS").unwrap_or_default();
        let names: Vec<String> = subs
            .iter()
            .filter_map(|s| s.split_once("_NAME=").map(|(_, v)| v.to_string()))
            .collect();
        let msg = if names.is_empty() {
            "the dataset has no raster band".to_string()
        } else {
            format!("the dataset has no raster band; its subdatasets are {}", names.join(", "))
        };
        return Err(Error::format(path, msg));
    }
    let b1 = ds.rasterband(1).map_err(|e| gerr(path, e))?;
    let dtype = dtype_of(path, b1.band_type())?;
    let mut bands = Vec::with_capacity(n);
    for i in 1..=n {
        let b = ds.rasterband(i).map_err(|e| gerr(path, e))?;
        if dtype_of(path, b.band_type())? != dtype {
            return Err(Error::unsupported(path, "bands of different data types"));
        }
        let desc = b.description().ok().filter(|d| !d.is_empty());
        let ci = b.color_interpretation().name();
        let color_table = b.color_table().map(|t| {
            (0..t.entry_count())
                .filter_map(|k| t.entry_as_rgb(k))
                .map(|e| ColorEntry { r: e.r as u8, g: e.g as u8, b: e.b as u8, a: e.a as u8 })
                .collect()
        });
        bands.push(BandMeta {
            description: desc,
            nodata: b.no_data_value().map(NoData),
            scale: b.scale().filter(|s| *s != 1.0),
            offset: b.offset().filter(|o| *o != 0.0),
            color_interp: Some(ci.to_ascii_lowercase()),
            color_table,
            category_names: None,
        });
    }
    let mut meta = RasterMeta::new(w, h, n, dtype);
    meta.bands = bands;
    let (bx, by) = b1.block_size();
    meta.block = BlockSize::new(bx.max(1), by.max(1));
    meta.geotransform = ds.geo_transform().ok().map(GeoTransform);
    meta.crs = ds.spatial_ref().ok().map(|srs| {
        let epsg = match (srs.auth_name(), srs.auth_code()) {
            (Some(a), Ok(c)) if a.eq_ignore_ascii_case("EPSG") => Some(c as u32),
            _ => None,
        };
        Crs { epsg, wkt: srs.to_wkt().ok() }
    });
    meta.compression = ds
        .metadata_item("COMPRESSION", "IMAGE_STRUCTURE")
        .map(|c| Compression::parse(&c))
        .unwrap_or(Compression::None);
    let ovr = b1.overview_count().unwrap_or(0).max(0) as usize;
    meta.overviews =
        (0..ovr).filter_map(|i| b1.overview(i).ok()).map(|o| o.size()).collect::<Vec<_>>();
    meta.has_mask = b1.mask_flags().is_ok_and(|f| f.is_per_dataset() && !f.is_alpha());
    meta.pixel_is_point = ds.metadata_item("AREA_OR_POINT", "").as_deref() == Some("Point");
    for e in ds.metadata() {
        if e.domain.is_empty() {
            meta.metadata.insert(e.key, e.value);
        }
    }
    meta.metadata.insert("GDAL_DRIVER".into(), ds.driver().short_name());
    Ok(meta)
}

impl RasterRead for GdalReader {
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
            // GDAL 3.6 has no Int8 type (it arrived in 3.7); describe() never yields it.
            DataType::Int8 => {
                return Err(Error::unsupported(&self.path, "Int8 through GDAL 3.6"));
            }
            DataType::Uint16 => RasterBuffer::Uint16(self.read_typed(bands, window)?),
            DataType::Int16 => RasterBuffer::Int16(self.read_typed(bands, window)?),
            DataType::Uint32 => RasterBuffer::Uint32(self.read_typed(bands, window)?),
            DataType::Int32 => RasterBuffer::Int32(self.read_typed(bands, window)?),
            DataType::Float32 => RasterBuffer::Float32(self.read_typed(bands, window)?),
            DataType::Float64 => RasterBuffer::Float64(self.read_typed(bands, window)?),
        })
    }

    fn read_mask(&self, w: Window) -> Result<Option<Array2<u8>>> {
        if !self.meta.has_mask {
            return Ok(None);
        }
        self.with_dataset(|ds| {
            let b = ds.rasterband(1).map_err(|e| gerr(&self.path, e))?;
            let m = b.open_mask_band().map_err(|e| gerr(&self.path, e))?;
            let buf = m
                .read_as::<u8>(
                    (w.col_off as isize, w.row_off as isize),
                    (w.width, w.height),
                    (w.width, w.height),
                    None,
                )
                .map_err(|e| gerr(&self.path, e))?;
            let (_, v) = buf.into_shape_and_vec();
            Ok(Some(
                Array2::from_shape_vec((w.height, w.width), v)
                    .map_err(|e| Error::format(&self.path, e.to_string()))?,
            ))
        })
    }
}

/// GeoTIFF output through GDAL: a tiled GeoTIFF written into a temporary file beside the
/// destination, turned into a COG by GDAL's COG driver when asked, then renamed into place.
#[derive(Debug)]
pub struct GdalWriter {
    dest: PathBuf,
    tmp: Option<tempfile::TempDir>,
    ds: Option<Dataset>,
    meta: RasterMeta,
    cog: bool,
    compress: String,
}

impl GdalWriter {
    /// Start a GeoTIFF (or, with `cog`, a Cloud-Optimized GeoTIFF) at `dest`.
    ///
    /// # Errors
    /// The destination exists and `overwrite` is off; GDAL cannot create the file.
    pub fn create(
        dest: impl AsRef<Path>,
        meta: &RasterMeta,
        cog: bool,
        compress: &Compression,
        block: usize,
        overwrite: bool,
    ) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        if dest.exists() && !overwrite {
            return Err(Error::io(
                &dest,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists (use overwrite)",
                ),
            ));
        }
        let compress = match compress {
            Compression::None => "NONE",
            Compression::Deflate => "DEFLATE",
            Compression::Lzw => "LZW",
            Compression::Zstd => "ZSTD",
            other => {
                return Err(Error::Invalid(format!(
                    "{}: cannot write {} compression (use zstd, deflate, lzw or none)",
                    dest.display(),
                    other.name()
                )));
            }
        }
        .to_string();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".geodino-tif-")
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        let work = tmp.path().join("work.tif");
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(|e| gerr(&dest, e))?;
        let predictor = if meta.dtype.is_float() { "3" } else { "2" };
        let mut opts = vec![
            "TILED=YES".to_string(),
            format!("BLOCKXSIZE={block}"),
            format!("BLOCKYSIZE={block}"),
            "BIGTIFF=IF_SAFER".to_string(),
            "INTERLEAVE=BAND".to_string(),
        ];
        if !cog {
            opts.push(format!("COMPRESS={compress}"));
            if compress != "NONE" {
                opts.push(format!("PREDICTOR={predictor}"));
            }
        }
        let co = RasterCreationOptions::from_iter(opts.iter().map(String::as_str));
        let (w, h, n) = (meta.width, meta.height, meta.band_count());
        let mut ds = match meta.dtype {
            DataType::Uint8 => {
                driver.create_with_band_type_with_options::<u8, _>(&work, w, h, n, &co)
            }
            DataType::Uint16 => {
                driver.create_with_band_type_with_options::<u16, _>(&work, w, h, n, &co)
            }
            DataType::Int16 => {
                driver.create_with_band_type_with_options::<i16, _>(&work, w, h, n, &co)
            }
            DataType::Uint32 => {
                driver.create_with_band_type_with_options::<u32, _>(&work, w, h, n, &co)
            }
            DataType::Int32 => {
                driver.create_with_band_type_with_options::<i32, _>(&work, w, h, n, &co)
            }
            DataType::Float32 => {
                driver.create_with_band_type_with_options::<f32, _>(&work, w, h, n, &co)
            }
            DataType::Float64 => {
                driver.create_with_band_type_with_options::<f64, _>(&work, w, h, n, &co)
            }
            DataType::Int8 => {
                return Err(Error::unsupported(&dest, "Int8 through GDAL 3.6"));
            }
        }
        .map_err(|e| gerr(&dest, e))?;
        if let Some(gt) = &meta.geotransform {
            ds.set_geo_transform(&gt.0).map_err(|e| gerr(&dest, e))?;
        }
        if let Some(crs) = &meta.crs {
            let srs = match (crs.epsg, &crs.wkt) {
                (Some(c), _) => gdal::spatial_ref::SpatialRef::from_epsg(c),
                (None, Some(w)) => gdal::spatial_ref::SpatialRef::from_wkt(w),
                (None, None) => Err(gdal::errors::GdalError::BadArgument("empty CRS".into())),
            };
            if let Ok(srs) = srs {
                ds.set_spatial_ref(&srs).map_err(|e| gerr(&dest, e))?;
            }
        }
        for (i, bm) in meta.bands.iter().enumerate() {
            let mut b = ds.rasterband(i + 1).map_err(|e| gerr(&dest, e))?;
            if let Some(nd) = bm.nodata {
                b.set_no_data_value(Some(nd.0)).map_err(|e| gerr(&dest, e))?;
            }
            if let Some(d) = &bm.description {
                b.set_description(d).map_err(|e| gerr(&dest, e))?;
            }
            if let Some(s) = bm.scale {
                b.set_scale(s).map_err(|e| gerr(&dest, e))?;
            }
            if let Some(o) = bm.offset {
                b.set_offset(o).map_err(|e| gerr(&dest, e))?;
            }
        }
        Ok(GdalWriter { dest, tmp: Some(tmp), ds: Some(ds), meta: meta.clone(), cog, compress })
    }
}

impl RasterWrite for GdalWriter {
    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn write_window(&mut self, w: Window, data: &RasterBuffer) -> Result<()> {
        let m = &self.meta;
        if !w.is_inside(m.width, m.height)
            || data.shape() != (m.band_count(), w.height, w.width)
            || data.dtype() != m.dtype
        {
            return Err(Error::Invalid(format!(
                "{}: window {w} does not fit the raster or the buffer ({} {:?})",
                self.dest.display(),
                data.dtype(),
                data.shape()
            )));
        }
        let ds = self.ds.as_ref().expect("dataset open until finish");
        let dest = &self.dest;
        fn put<T: RasterElement + GdalType + Copy>(
            ds: &Dataset,
            dest: &Path,
            w: Window,
            a: &Array3<T>,
        ) -> Result<()> {
            for b in 0..a.dim().0 {
                let mut band = ds.rasterband(b + 1).map_err(|e| gerr(dest, e))?;
                let v: Vec<T> = a.index_axis(ndarray::Axis(0), b).iter().copied().collect();
                let mut buf = gdal::raster::Buffer::new((w.width, w.height), v);
                band.write((w.col_off as isize, w.row_off as isize), (w.width, w.height), &mut buf)
                    .map_err(|e| gerr(dest, e))?;
            }
            Ok(())
        }
        match data {
            RasterBuffer::Uint8(a) => put(ds, dest, w, a),
            RasterBuffer::Uint16(a) => put(ds, dest, w, a),
            RasterBuffer::Int16(a) => put(ds, dest, w, a),
            RasterBuffer::Uint32(a) => put(ds, dest, w, a),
            RasterBuffer::Int32(a) => put(ds, dest, w, a),
            RasterBuffer::Float32(a) => put(ds, dest, w, a),
            RasterBuffer::Float64(a) => put(ds, dest, w, a),
            RasterBuffer::Int8(_) => Err(Error::unsupported(dest, "Int8 through GDAL 3.6")),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let tmp = self.tmp.take().expect("finish runs once");
        let ds = self.ds.take().expect("finish runs once");
        let dest = self.dest.clone();
        let out = tmp.path().join("out.tif");
        if self.cog {
            let driver = DriverManager::get_driver_by_name("COG").map_err(|e| gerr(&dest, e))?;
            let predictor = if self.compress == "NONE" { "NO" } else { "YES" };
            let co = RasterCreationOptions::from_iter([
                format!("COMPRESS={}", self.compress).as_str(),
                &format!("PREDICTOR={predictor}"),
                "BIGTIFF=IF_SAFER",
                "OVERVIEWS=AUTO",
            ]);
            ds.create_copy(&driver, &out, &co).map_err(|e| gerr(&dest, e))?;
            drop(ds);
        } else {
            ds.close().map_err(|e| gerr(&dest, e))?;
            std::fs::rename(tmp.path().join("work.tif"), &out).map_err(|e| Error::io(&dest, e))?;
        }
        std::fs::rename(&out, &dest).map_err(|e| Error::io(&dest, e))?;
        Ok(())
    }
}
