//! Streaming copies from a reader into a writer.

use geodino_core::{Error, RasterRead, RasterWrite, Result, Window};

/// Copy `window` of the 0-based `bands` of `src` into `dst` (whose raster is `window`-sized,
/// with `bands.len()` bands), in `step` × `step` output windows in row-major order, reading
/// one batch of windows per rayon thread in parallel and writing them in order. Memory is
/// bounded by the batch (threads × step² × bands), whatever the raster size. `progress` gets
/// (windows done, windows total). Does not call [`RasterWrite::finish`].
///
/// # Errors
/// The first read or write error; an empty band list or a window outside `src`.
pub fn copy_into(
    src: &dyn RasterRead,
    bands: &[usize],
    window: Window,
    dst: &mut dyn RasterWrite,
    step: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<()> {
    let m = src.meta();
    if !window.is_inside(m.width, m.height) {
        return Err(Error::OutOfBounds {
            path: src.path().to_path_buf(),
            message: format!("window {window} is not inside the {}x{} raster", m.width, m.height),
        });
    }
    let out = dst.meta();
    if (out.width, out.height, out.band_count()) != (window.width, window.height, bands.len()) {
        return Err(Error::Invalid(format!(
            "copy: the output is {}x{} with {} band(s), the request {}x{} with {}",
            out.width,
            out.height,
            out.band_count(),
            window.width,
            window.height,
            bands.len()
        )));
    }
    let step = step.max(1);
    let mut tiles = Vec::new();
    for r in (0..window.height).step_by(step) {
        for c in (0..window.width).step_by(step) {
            tiles.push(Window::new(
                c as i64,
                r as i64,
                step.min(window.width - c),
                step.min(window.height - r),
            ));
        }
    }
    let batch = rayon::current_num_threads().max(1);
    let mut done = 0;
    for chunk in tiles.chunks(batch) {
        let src_windows: Vec<Window> = chunk
            .iter()
            .map(|t| {
                Window::new(
                    t.col_off + window.col_off,
                    t.row_off + window.row_off,
                    t.width,
                    t.height,
                )
            })
            .collect();
        let parts = crate::read_windows_par(src, bands, &src_windows, |_, b| Ok(b))?;
        for (t, part) in chunk.iter().zip(parts) {
            dst.write_window(*t, &part)?;
            done += 1;
            progress(done, tiles.len());
        }
    }
    Ok(())
}
