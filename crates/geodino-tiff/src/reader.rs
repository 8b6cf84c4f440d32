//! [`GeoTiffReader`]: the `RasterRead` implementation for GeoTIFF, BigTIFF and COG files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use geodino_core::{
    BandMeta, ColorEntry, DataType, Error, NoData, RasterBuffer, RasterMeta, RasterRead, Result,
    Window,
};
use ndarray::Array2;

use crate::decode::{self, Ctx};
use crate::gdal_meta;
use crate::geokeys::{self, GeoKeys};
use crate::ifd::{self, Header, Ifd};
use crate::layout::{Image, Storage};
use crate::source::{self, Source};
use crate::tags;

/// How the pixels of the image a reader serves are stored, for diagnostics and `info` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiffStructure {
    /// BigTIFF (64-bit offsets) rather than classic TIFF.
    pub bigtiff: bool,
    /// Motorola (`MM`) byte order rather than Intel (`II`).
    pub big_endian: bool,
    /// Number of image file directories in the file (images, overviews, masks).
    pub ifd_count: usize,
    /// Offset of this image's IFD.
    pub ifd_offset: u64,
    /// Tiles rather than strips.
    pub tiled: bool,
    /// `PlanarConfiguration = 2` (GDAL `INTERLEAVE=BAND` with more than one band).
    pub planar: bool,
    /// `BitsPerSample`.
    pub bits_per_sample: u16,
    /// `SampleFormat` (1 unsigned, 2 signed, 3 IEEE float).
    pub sample_format: u16,
    /// `PhotometricInterpretation`.
    pub photometric: u16,
    /// The `Compression` tag value (e.g. 8 or 32946 for Deflate, 50000 for ZSTD).
    pub compression_code: u16,
    /// `Predictor` (1 none, 2 horizontal, 3 floating point).
    pub predictor: u16,
}

/// Everything shared by a reader and its overview views.
#[derive(Debug)]
struct Shared {
    path: PathBuf,
    src: Source,
    header: Header,
    ifd_count: usize,
    /// `[full resolution, overview 1, overview 2, ...]`, largest first.
    levels: Vec<Image>,
    /// The internal mask of each level, if any.
    masks: Vec<Option<Image>>,
    /// The band whose values GDAL uses as the mask when there is no internal mask (alpha).
    alpha_band: Option<usize>,
    /// Metadata of the full-resolution image.
    meta: RasterMeta,
}

/// A GeoTIFF / BigTIFF / Cloud-Optimized GeoTIFF reader, written from scratch: its own IFD and
/// GeoKey parser, positioned reads, and codec crates (flate2, weezl, zstd, jpeg-decoder,
/// image-webp).
///
/// One reader is `Send + Sync` and serves windows to many threads at once; every read touches
/// only the blocks that intersect the window and decodes them in parallel (rayon). Cloning is
/// cheap (the file is shared).
///
/// ```no_run
/// use geodino_core::{RasterRead, Window};
/// use geodino_tiff::GeoTiffReader;
///
/// let r = GeoTiffReader::open("scene.tif")?;
/// let rgb = r.read_window(&[0, 1, 2], Window::new(0, 0, 512, 512))?; // (band, row, col)
/// let small = r.overview(0)?; // the largest internal overview, same API
/// # Ok::<(), geodino_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GeoTiffReader {
    shared: Arc<Shared>,
    /// 0 = full resolution, `i` = overview `i - 1`.
    level: usize,
    meta: RasterMeta,
}

impl GeoTiffReader {
    /// Open a GeoTIFF (classic or BigTIFF, either byte order, tiled or striped, COG or not).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::Format`] when it is not a TIFF or is
    /// damaged, [`Error::Unsupported`] for a compression or sample type the reader does not
    /// decode (LERC, LZMA, JPEG 2000, old-style JPEG, complex or 64-bit integer samples); every
    /// message names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<GeoTiffReader> {
        let path = path.as_ref();
        let src = Source::open(path)?;
        Self::from_source(path.to_path_buf(), src)
    }

    /// Read a TIFF held in memory; `name` stands for the path in messages.
    ///
    /// # Errors
    /// As [`GeoTiffReader::open`].
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<GeoTiffReader> {
        Self::from_source(source::memory_path(name), Source::Memory(bytes))
    }

    fn from_source(path: PathBuf, src: Source) -> Result<GeoTiffReader> {
        let header = ifd::read_header(&src, &path)?;
        let ifds = ifd::read_ifds(&src, &path, header)?;
        // The full-resolution image: the first IFD that is neither an overview nor a mask.
        let main_idx = ifds
            .iter()
            .position(|d| d.uint(tags::NEW_SUBFILE_TYPE).unwrap_or(0) & 5 == 0)
            .unwrap_or(0);
        let main_ifd = &ifds[main_idx];
        let main = Image::from_ifd(main_ifd, &path)?;

        let mut overviews: Vec<Image> = Vec::new();
        let mut mask_imgs: Vec<Image> = Vec::new();
        for (i, d) in ifds.iter().enumerate() {
            if i == main_idx {
                continue;
            }
            // Damaged or unsupported secondary images are left out; the main image stays usable.
            let Ok(img) = Image::from_ifd(d, &path) else { continue };
            if img.is_mask() {
                if img.spp == 1 && img.dtype == DataType::Uint8 {
                    mask_imgs.push(img);
                }
            } else if img.is_reduced()
                && img.spp == main.spp
                && img.dtype == main.dtype
                && img.width < main.width
                && !overviews.iter().any(|o| o.width == img.width && o.height == img.height)
            {
                overviews.push(img);
            }
        }
        overviews.sort_by(|a, b| b.width.cmp(&a.width).then(b.height.cmp(&a.height)));
        let mut levels = vec![main];
        levels.extend(overviews);
        let masks: Vec<Option<Image>> = levels
            .iter()
            .map(|l| mask_imgs.iter().find(|m| m.width == l.width && m.height == l.height).cloned())
            .collect();

        let main = &levels[0];
        let alpha_band = (0..main.spp)
            .find(|&b| band_is_alpha(main, b))
            .filter(|_| matches!(main.dtype, DataType::Uint8 | DataType::Uint16));
        let meta = build_meta(main_ifd, &levels, &masks, alpha_band);
        let shared = Shared {
            path,
            src,
            header,
            ifd_count: ifds.len(),
            levels,
            masks,
            alpha_band,
            meta: meta.clone(),
        };
        Ok(GeoTiffReader { shared: Arc::new(shared), level: 0, meta })
    }

    /// Number of internal overviews (reduced-resolution images) of the full-resolution image.
    pub fn overview_count(&self) -> usize {
        self.shared.levels.len() - 1
    }

    /// A reader of internal overview `index` (0 = the largest), with the same API. Its
    /// geotransform is the full-resolution one with pixels scaled by the size ratio, as GDAL
    /// reports for overviews; its mask is the overview's internal mask (or alpha band).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] when there is no such overview.
    pub fn overview(&self, index: usize) -> Result<GeoTiffReader> {
        let level = index + 1;
        let Some(img) = self.shared.levels.get(level) else {
            return Err(Error::OutOfBounds {
                path: self.shared.path.clone(),
                message: format!(
                    "overview {index} requested, the file has {} overview(s)",
                    self.overview_count()
                ),
            });
        };
        let base = &self.shared.meta;
        let mut meta = base.clone();
        meta.width = img.width;
        meta.height = img.height;
        meta.block = img.block_size();
        meta.compression = img.compression();
        meta.overviews = Vec::new();
        meta.has_mask = self.shared.masks[level].is_some() || self.shared.alpha_band.is_some();
        meta.geotransform = base.geotransform.map(|gt| {
            gt.scaled(base.width as f64 / img.width as f64, base.height as f64 / img.height as f64)
        });
        Ok(GeoTiffReader { shared: self.shared.clone(), level, meta })
    }

    /// Which level this reader serves: 0 for the full-resolution image, `i + 1` for overview `i`.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The block-aligned windows of the image (tiles or strips, clipped at the right and bottom
    /// edges), row by row. Reading them one by one visits every block exactly once.
    pub fn block_windows(&self) -> Vec<Window> {
        let img = self.image();
        let bs = img.block_size();
        let mut v = Vec::with_capacity(img.blocks_across * img.blocks_down);
        for br in 0..img.blocks_down {
            for bc in 0..img.blocks_across {
                v.push(bs.window(bc, br, img.width, img.height));
            }
        }
        v
    }

    /// How the image this reader serves is stored.
    pub fn structure(&self) -> TiffStructure {
        let img = self.image();
        TiffStructure {
            bigtiff: self.shared.header.bigtiff,
            big_endian: self.shared.header.big_endian,
            ifd_count: self.shared.ifd_count,
            ifd_offset: img.ifd_offset,
            tiled: img.tiled,
            planar: img.planar,
            bits_per_sample: img.bits,
            sample_format: img.sample_format,
            photometric: img.photometric,
            compression_code: img.compression_code,
            predictor: img.predictor,
        }
    }

    fn image(&self) -> &Image {
        &self.shared.levels[self.level]
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            src: &self.shared.src,
            path: &self.shared.path,
            sparse_fill: self.meta.nodata(0).map(|n| n.0).filter(|v| v.is_finite()).unwrap_or(0.0),
        }
    }
}

impl RasterRead for GeoTiffReader {
    fn path(&self) -> &Path {
        &self.shared.path
    }

    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn read_window(&self, bands: &[usize], window: Window) -> Result<RasterBuffer> {
        self.check_request(bands, &window)?;
        let img = self.image();
        let ctx = self.ctx();
        Ok(match img.dtype {
            DataType::Uint8 => RasterBuffer::Uint8(decode::read_window(&ctx, img, bands, window)?),
            DataType::Int8 => RasterBuffer::Int8(decode::read_window(&ctx, img, bands, window)?),
            DataType::Uint16 => {
                RasterBuffer::Uint16(decode::read_window(&ctx, img, bands, window)?)
            }
            DataType::Int16 => RasterBuffer::Int16(decode::read_window(&ctx, img, bands, window)?),
            DataType::Uint32 => {
                RasterBuffer::Uint32(decode::read_window(&ctx, img, bands, window)?)
            }
            DataType::Int32 => RasterBuffer::Int32(decode::read_window(&ctx, img, bands, window)?),
            DataType::Float32 => {
                RasterBuffer::Float32(decode::read_window(&ctx, img, bands, window)?)
            }
            DataType::Float64 => {
                RasterBuffer::Float64(decode::read_window(&ctx, img, bands, window)?)
            }
        })
    }

    /// The validity mask over `window` (255 valid, 0 invalid): the internal (GDAL) mask of this
    /// level, else the alpha band as GDAL derives its mask from it (8-bit alpha as is, 16-bit
    /// alpha divided by 257); `None` when the file has neither.
    fn read_mask(&self, window: Window) -> Result<Option<Array2<u8>>> {
        let m = &self.meta;
        if !window.is_inside(m.width, m.height) {
            return Err(Error::OutOfBounds {
                path: self.shared.path.clone(),
                message: format!(
                    "mask window {window} is not inside the {}x{} raster",
                    m.width, m.height
                ),
            });
        }
        let ctx = Ctx { sparse_fill: 255.0, ..self.ctx() };
        if let Some(mask) = &self.shared.masks[self.level] {
            let a = decode::read_window::<u8>(&ctx, mask, &[0], window)?;
            let one_bit = mask.storage == Storage::Packed(1);
            let a = a.index_axis_move(ndarray::Axis(0), 0);
            return Ok(Some(if one_bit { a.mapv(|v| if v != 0 { 255 } else { 0 }) } else { a }));
        }
        let Some(alpha) = self.shared.alpha_band else { return Ok(None) };
        let img = self.image();
        let a = match img.dtype {
            DataType::Uint8 => decode::read_window::<u8>(&ctx, img, &[alpha], window)?,
            _ => decode::read_window::<u16>(&ctx, img, &[alpha], window)?.mapv(|v| (v / 257) as u8),
        };
        Ok(Some(a.index_axis_move(ndarray::Axis(0), 0)))
    }
}

/// True when band `b` of `img` is an alpha band (`ExtraSamples` 1 or 2).
fn band_is_alpha(img: &Image, b: usize) -> bool {
    let base = base_bands(img);
    b >= base
        && matches!(
            img.extra_samples.get(b - base),
            Some(&tags::EXTRA_SAMPLE_ASSOCIATED_ALPHA | &tags::EXTRA_SAMPLE_UNASSOCIATED_ALPHA)
        )
}

/// Bands that the photometric interpretation accounts for (the rest are extra samples).
fn base_bands(img: &Image) -> usize {
    let n = match img.photometric {
        tags::PHOTOMETRIC_RGB | tags::PHOTOMETRIC_YCBCR => 3,
        tags::PHOTOMETRIC_SEPARATED => 4,
        _ => 1,
    };
    let n = n.min(img.spp);
    // ExtraSamples counts the trailing samples; trust it when it is consistent.
    if !img.extra_samples.is_empty() && img.extra_samples.len() < img.spp {
        img.spp - img.extra_samples.len()
    } else {
        n
    }
}

/// True for a one-band bilevel image, which GDAL presents with a black/white colour table.
fn is_bilevel(img: &Image) -> bool {
    img.spp == 1
        && img.bits == 1
        && matches!(img.photometric, tags::PHOTOMETRIC_MINISBLACK | tags::PHOTOMETRIC_MINISWHITE)
}

/// GDAL's colour interpretation of band `b`.
fn color_interp(img: &Image, b: usize) -> &'static str {
    if is_bilevel(img) {
        return "palette";
    }
    let base = base_bands(img);
    if b >= base {
        return if band_is_alpha(img, b) { "alpha" } else { "undefined" };
    }
    match img.photometric {
        tags::PHOTOMETRIC_RGB | tags::PHOTOMETRIC_YCBCR => match b {
            0 => "red",
            1 => "green",
            2 => "blue",
            _ => "undefined",
        },
        tags::PHOTOMETRIC_SEPARATED => match b {
            0 => "cyan",
            1 => "magenta",
            2 => "yellow",
            3 => "black",
            _ => "undefined",
        },
        tags::PHOTOMETRIC_PALETTE if b == 0 => "palette",
        tags::PHOTOMETRIC_MINISBLACK | tags::PHOTOMETRIC_MINISWHITE if b == 0 => "gray",
        _ => "undefined",
    }
}

/// The colour table of a palette image, scaled to 8 bits as GDAL does.
fn color_table(ifd: &Ifd, img: &Image) -> Option<Vec<ColorEntry>> {
    if is_bilevel(img) {
        let black = ColorEntry { r: 0, g: 0, b: 0, a: 255 };
        let white = ColorEntry { r: 255, g: 255, b: 255, a: 255 };
        return Some(if img.photometric == tags::PHOTOMETRIC_MINISWHITE {
            vec![white, black]
        } else {
            vec![black, white]
        });
    }
    if img.photometric != tags::PHOTOMETRIC_PALETTE || img.bits > 16 {
        return None;
    }
    let map = ifd.uints(tags::COLOR_MAP)?;
    let n = 1usize << img.bits;
    if map.len() < 3 * n {
        return None;
    }
    let max = map[..3 * n].iter().copied().max().unwrap_or(0);
    // GDAL: 16-bit entries are divided by 257; a map whose values all fit in 8 bits was written
    // unscaled by a broken writer and is taken as is.
    let scale = |v: u64| if max < 256 { v as u8 } else { (v / 257).min(255) as u8 };
    Some(
        (0..n)
            .map(|i| ColorEntry {
                r: scale(map[i]),
                g: scale(map[n + i]),
                b: scale(map[2 * n + i]),
                a: 255,
            })
            .collect(),
    )
}

/// Build the dataset description of the full-resolution image.
fn build_meta(
    ifd: &Ifd,
    levels: &[Image],
    masks: &[Option<Image>],
    alpha_band: Option<usize>,
) -> RasterMeta {
    let img = &levels[0];
    let mut meta = RasterMeta::new(img.width, img.height, img.spp, img.dtype);
    meta.block = img.block_size();
    meta.compression = img.compression();
    meta.overviews = levels[1..].iter().map(|l| (l.width, l.height)).collect();
    meta.has_mask = masks[0].is_some() || alpha_band.is_some();

    // Georeferencing.
    let keys = GeoKeys::parse(ifd);
    let point = keys.as_ref().is_some_and(GeoKeys::pixel_is_point);
    meta.pixel_is_point = point;
    meta.geotransform = geokeys::geotransform(ifd, point);
    meta.crs = keys.as_ref().and_then(GeoKeys::crs);
    // Several tie points and no transform are ground control points: GDAL gives the dataset no
    // CRS then (the CRS is the GCPs'); geodino records them as metadata.
    let ties = ifd.floats(tags::MODEL_TIEPOINT).unwrap_or_default();
    if meta.geotransform.is_none() && ties.len() >= 12 {
        meta.metadata.insert("GCP_COUNT".into(), (ties.len() / 6).to_string());
        if let Some(crs) = meta.crs.take() {
            let text = crs.epsg_string().or(crs.wkt).unwrap_or_default();
            meta.metadata.insert("GCP_CRS".into(), text);
        }
    }
    if keys.is_some() || meta.geotransform.is_some() {
        meta.metadata.insert("AREA_OR_POINT".into(), if point { "Point" } else { "Area" }.into());
    }

    // Nodata applies to every band.
    let nodata = ifd.ascii(tags::GDAL_NODATA).and_then(|s| NoData::parse(&s));
    let table = color_table(ifd, img);
    for (b, band) in meta.bands.iter_mut().enumerate() {
        *band = BandMeta {
            nodata,
            color_interp: Some(color_interp(img, b).to_string()),
            color_table: if b == 0 { table.clone() } else { None },
            ..BandMeta::default()
        };
    }

    // TIFF text tags, named as GDAL names them.
    for (tag, name) in [
        (tags::DOCUMENT_NAME, "TIFFTAG_DOCUMENTNAME"),
        (tags::IMAGE_DESCRIPTION, "TIFFTAG_IMAGEDESCRIPTION"),
        (tags::MAKE, "TIFFTAG_MAKE"),
        (tags::MODEL, "TIFFTAG_MODEL"),
        (tags::SOFTWARE, "TIFFTAG_SOFTWARE"),
        (tags::DATE_TIME, "TIFFTAG_DATETIME"),
        (tags::ARTIST, "TIFFTAG_ARTIST"),
        (tags::HOST_COMPUTER, "TIFFTAG_HOSTCOMPUTER"),
        (tags::COPYRIGHT, "TIFFTAG_COPYRIGHT"),
    ] {
        if let Some(v) = ifd.ascii(tag).filter(|v| !v.is_empty()) {
            meta.metadata.insert(name.into(), v);
        }
    }

    // GDAL_METADATA: band roles into BandMeta, everything else into the metadata map.
    if let Some(xml) = ifd.ascii(tags::GDAL_METADATA) {
        for item in gdal_meta::parse(&xml) {
            let band = item.sample.and_then(|s| meta.bands.get_mut(s));
            match (band, item.role.as_deref()) {
                (Some(bm), Some("description")) => bm.description = Some(item.value),
                (Some(bm), Some("scale")) => bm.scale = item.value.trim().parse().ok(),
                (Some(bm), Some("offset")) => bm.offset = item.value.trim().parse().ok(),
                (Some(bm), Some("colorinterp")) => {
                    bm.color_interp = Some(item.value.trim().to_ascii_lowercase())
                }
                (Some(_), _) => {
                    let s = item.sample.unwrap_or(0) + 1;
                    let key = match (&item.domain, item.role.as_deref()) {
                        (_, Some(role)) => format!("band{s}:{}", role.to_ascii_uppercase()),
                        (Some(d), None) => format!("band{s}:{d}:{}", item.name),
                        (None, None) => format!("band{s}:{}", item.name),
                    };
                    meta.metadata.insert(key, item.value);
                }
                (None, _) => {
                    let key = match &item.domain {
                        Some(d) => format!("{d}:{}", item.name),
                        None => item.name,
                    };
                    meta.metadata.insert(key, item.value);
                }
            }
        }
    }
    meta
}
