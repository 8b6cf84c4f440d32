//! Label rasters on another grid than their image, warped onto the image's grid with GDAL's
//! warper (feature `gdal`).
//!
//! [`warp_args`] builds the `gdalwarp` arguments that put a label raster on an image's grid
//! (same size, extent and CRS; `-ot Float32`; the label nodata kept, NaN outside the labels
//! when they have none), and [`gdalwarp`] runs them through `GDALWarp`, the library entry point
//! of the `gdalwarp` utility, so `gdalwarp ARGS labels.tif out.tif` on the command line
//! writes the same pixels (the test oracle). Without the feature, [`gdalwarp`] returns an error
//! that says to build with `--features gdal`.

use std::path::Path;

use geodino_core::RasterMeta;

use crate::error::{Error, Result};

/// The `gdalwarp` arguments (without source and destination) that warp `labels` onto the grid
/// of `image` with resampling `method` (a `gdalwarp -r` name): `-te`/`-ts` from the image's
/// extent and size, `-t_srs` its CRS, `-ot Float32`, tiled deflate GeoTIFF output, and
/// `-dstnodata nan` when the labels have no nodata value (otherwise GDAL keeps theirs), so
/// that pixels outside the labels' extent are invalid rather than 0.
///
/// # Errors
/// [`Error::Data`] naming the file when either raster has no geotransform or CRS, or when the
/// image's geotransform is rotated (not north-up).
pub fn warp_args(
    image_path: &Path,
    image: &RasterMeta,
    labels_path: &Path,
    labels: &RasterMeta,
    label_band: usize,
    method: &str,
) -> Result<Vec<String>> {
    let need = |p: &Path, what: &str| {
        Error::Data(format!(
            "{}: has no {what}, so its labels cannot be resampled onto another grid",
            p.display()
        ))
    };
    let gt = image.geotransform.as_ref().ok_or_else(|| need(image_path, "geotransform"))?;
    labels.geotransform.as_ref().ok_or_else(|| need(labels_path, "geotransform"))?;
    let crs =
        image.crs.as_ref().filter(|c| !c.is_empty()).ok_or_else(|| need(image_path, "CRS"))?;
    labels.crs.as_ref().filter(|c| !c.is_empty()).ok_or_else(|| need(labels_path, "CRS"))?;
    let g = gt.0;
    if g[2] != 0.0 || g[4] != 0.0 || g[1] <= 0.0 || g[5] >= 0.0 {
        return Err(Error::Data(format!(
            "{}: only north-up images (no rotation, negative pixel height) can receive resampled \
             labels; its geotransform is {g:?}",
            image_path.display()
        )));
    }
    let (w, h) = (image.width as f64, image.height as f64);
    let (xmin, xmax, ymax, ymin) = (g[0], g[0] + w * g[1], g[3], g[3] + h * g[5]);
    let srs = match (crs.epsg, &crs.wkt) {
        (Some(code), _) => format!("EPSG:{code}"),
        (None, Some(wkt)) => wkt.clone(),
        (None, None) => return Err(need(image_path, "CRS")),
    };
    let mut args: Vec<String> = [
        "-of",
        "GTiff",
        "-co",
        "TILED=YES",
        "-co",
        "COMPRESS=DEFLATE",
        "-ot",
        "Float32",
        "-r",
        method,
        "-t_srs",
        &srs,
        "-te",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([xmin, ymin, xmax, ymax].iter().map(|v| v.to_string()));
    args.extend(["-ts".into(), image.width.to_string(), image.height.to_string()]);
    if labels.nodata(label_band.saturating_sub(1)).is_none() {
        args.extend(["-dstnodata".into(), "nan".into()]);
    }
    Ok(args)
}

/// Run `gdalwarp ARGS src dst` through GDAL's library (`GDALWarp`), writing `dst`.
///
/// # Errors
/// [`Error::Data`] with GDAL's message, naming `src`.
#[cfg(feature = "gdal")]
pub fn gdalwarp(src: &Path, dst: &Path, args: &[String]) -> Result<()> {
    let bad = |m: String| Error::Data(format!("{}: warping the labels: {m}", src.display()));
    let ds = gdal::Dataset::open(src).map_err(|e| bad(e.to_string()))?;
    ffi::warp(&ds, dst, args).map_err(bad)
}

/// Without the `gdal` feature: an error saying how to get it.
///
/// # Errors
/// Always [`Error::Config`].
#[cfg(not(feature = "gdal"))]
pub fn gdalwarp(src: &Path, dst: &Path, args: &[String]) -> Result<()> {
    let _ = (dst, args);
    Err(Error::Config(format!(
        "{}: resampling labels onto the image's grid (data.resample_labels / --resample-labels) \
         needs GDAL: build geodino with `--features gdal` (libgdal-dev), or align the labels \
         first with gdalwarp",
        src.display()
    )))
}

/// The only unsafe code of the crate: `GDALWarp` from gdal-sys (the gdal crate wraps
/// `GDALReprojectImage` with bilinear resampling only).
#[cfg(feature = "gdal")]
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::{CStr, CString, c_char, c_int};
    use std::path::Path;
    use std::ptr::null_mut;

    fn last_error() -> String {
        // SAFETY: CPLGetLastErrorMsg returns a pointer to a NUL-terminated thread-local buffer
        // (never null), valid until the next GDAL call on this thread; it is copied at once.
        let msg = unsafe { CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) };
        let msg = msg.to_string_lossy().into_owned();
        if msg.is_empty() { "GDAL failed without a message".into() } else { msg }
    }

    pub(super) fn warp(
        src: &gdal::Dataset,
        dst: &Path,
        args: &[String],
    ) -> std::result::Result<(), String> {
        let nul = |s: &str| CString::new(s).map_err(|_| format!("NUL byte in {s:?}"));
        let owned: Vec<CString> = args.iter().map(|a| nul(a)).collect::<Result<_, _>>()?;
        let mut argv: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr().cast_mut()).collect();
        argv.push(null_mut());
        let dst_c = nul(&dst.to_string_lossy())?;
        // SAFETY: `argv` is a NULL-terminated array of NUL-terminated strings that outlive the
        // call (`owned`); GDALWarpAppOptionsNew copies them and does not write through them.
        let opts = unsafe { gdal_sys::GDALWarpAppOptionsNew(argv.as_mut_ptr(), null_mut()) };
        if opts.is_null() {
            return Err(format!("invalid gdalwarp arguments {args:?}: {}", last_error()));
        }
        // SAFETY: clears the thread's error state so that a failure below is this call's.
        unsafe { gdal_sys::CPLErrorReset() };
        let mut handles = [src.c_dataset()];
        let mut usage_error: c_int = 0;
        // SAFETY: `opts` is a valid options object (checked above), `handles` holds one open
        // dataset that `src` keeps alive for the call, `dst_c` is NUL-terminated; no
        // destination dataset is passed (null), so GDALWarp creates `dst` and returns its handle
        // (or null on failure).
        let out = unsafe {
            gdal_sys::GDALWarp(
                dst_c.as_ptr(),
                null_mut(),
                1,
                handles.as_mut_ptr(),
                opts,
                &mut usage_error,
            )
        };
        // SAFETY: `opts` came from GDALWarpAppOptionsNew and is freed once.
        unsafe { gdal_sys::GDALWarpAppOptionsFree(opts) };
        if out.is_null() {
            return Err(last_error());
        }
        // SAFETY: `out` is the dataset GDALWarp returned and is closed once, which flushes it.
        // As for the `gdalwarp` utility, success is a non-null result: GDAL also reports
        // non-fatal failures (e.g. a colour table it cannot copy to Float32 output) through
        // the error state. A file that was not written completely fails when it is opened and
        // read next.
        unsafe { gdal_sys::GDALClose(out) };
        Ok(())
    }
}
