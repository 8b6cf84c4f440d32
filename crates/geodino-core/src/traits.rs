//! The capability traits every raster backend implements.

use std::path::Path;
use std::sync::Arc;

use ndarray::Array2;

use crate::{Error, RasterBuffer, RasterMeta, Result, Window};

/// Read access to a raster dataset. Implementations are `Send + Sync` so that one reader can
/// serve windows to many threads (rayon) at once.
pub trait RasterRead: Send + Sync {
    /// Where the data comes from (a file path or a URI), for error messages.
    fn path(&self) -> &Path;

    /// What is known about the dataset.
    fn meta(&self) -> &RasterMeta;

    /// Read `window` (which must lie inside the raster) of the 0-based `bands`, in the dataset's
    /// native data type, as `(band, row, col)`. Implementations touch only the storage blocks
    /// that intersect the window.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] for bad bands or windows; IO, format or decode errors naming the
    /// file otherwise.
    fn read_window(&self, bands: &[usize], window: Window) -> Result<RasterBuffer>;

    /// The per-dataset validity mask over `window` (255 = valid, 0 = invalid), when the dataset
    /// has one (TIFF internal masks, alpha-derived masks). `None` when it has none.
    fn read_mask(&self, window: Window) -> Result<Option<Array2<u8>>> {
        let _ = window;
        Ok(None)
    }

    /// Read `window`, which may extend past the raster, filling pixels outside with `fill`.
    fn read_boundless(&self, bands: &[usize], window: Window, fill: f64) -> Result<RasterBuffer> {
        let meta = self.meta();
        if window.is_inside(meta.width, meta.height) {
            return self.read_window(bands, window);
        }
        let mut out =
            RasterBuffer::filled(meta.dtype, (bands.len(), window.height, window.width), fill);
        if let Some(inner) = window.intersection(&Window::full(meta.width, meta.height)) {
            let data = self.read_window(bands, inner)?;
            let rel = inner.relative_to(&window);
            out.paste(&data, rel.row_off as usize, rel.col_off as usize);
        }
        Ok(out)
    }

    /// Read every band of the whole raster. Meant for small rasters and tests.
    fn read_all(&self) -> Result<RasterBuffer> {
        let m = self.meta();
        let bands: Vec<usize> = (0..m.band_count()).collect();
        self.read_window(&bands, Window::full(m.width, m.height))
    }

    /// Check 0-based band indices and a window against the dataset, with an error naming the
    /// file. Backends call this at the top of `read_window`.
    fn check_request(&self, bands: &[usize], window: &Window) -> Result<()> {
        let m = self.meta();
        if let Some(&b) = bands.iter().find(|&&b| b >= m.band_count()) {
            return Err(Error::OutOfBounds {
                path: self.path().to_path_buf(),
                message: format!(
                    "band {} requested, the dataset has {} band(s)",
                    b + 1,
                    m.band_count()
                ),
            });
        }
        if bands.is_empty() {
            return Err(Error::Invalid("no band requested".into()));
        }
        if !window.is_inside(m.width, m.height) {
            return Err(Error::OutOfBounds {
                path: self.path().to_path_buf(),
                message: format!(
                    "window {window} is not inside the {}x{} raster",
                    m.width, m.height
                ),
            });
        }
        Ok(())
    }
}

/// A reader shared between threads.
pub type SharedReader = Arc<dyn RasterRead>;

/// Write access to a raster being created. Windows may come in any order; a writer that is fed
/// windows in row order keeps only a bounded band of pending blocks in memory. Nothing appears
/// at the destination path until [`RasterWrite::finish`] succeeds (temporary file, then rename).
pub trait RasterWrite: Send {
    /// The description of the raster being written.
    fn meta(&self) -> &RasterMeta;

    /// Write `data` (`(bands, rows, cols)`, all bands, the raster's data type) at `window`,
    /// which must lie inside the raster.
    fn write_window(&mut self, window: Window, data: &RasterBuffer) -> Result<()>;

    /// Flush, build overviews where configured, and move the finished file into place.
    fn finish(self: Box<Self>) -> Result<()>;
}
