//! Fuzz target: any bytes given to the GeoTIFF reader must give a reader or an error, never a
//! panic, a hang or an unbounded allocation. A reader that opens is exercised on its metadata,
//! two windows of the full image and of each overview (all bands, up to 8), and its masks.
#![no_main]

use geodino_core::{RasterRead, Window};
use geodino_tiff::GeoTiffReader;
use libfuzzer_sys::fuzz_target;

fn exercise(r: &GeoTiffReader) {
    let m = r.meta();
    let _ = r.structure();
    let bands: Vec<usize> = (0..m.band_count().min(8)).collect();
    let (w, h) = (m.width.min(300), m.height.min(300));
    let corner = Window::new((m.width - w) as i64, (m.height - h) as i64, w, h);
    for win in [Window::new(0, 0, w, h), corner] {
        let _ = r.read_window(&bands, win);
        let _ = r.read_mask(win);
    }
    let _ = r.read_boundless(&bands[..1], Window::new(-3, -3, 7, 7), 1.0);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = GeoTiffReader::from_bytes("fuzz", data.to_vec()) {
        exercise(&r);
        for i in 0..r.overview_count().min(4) {
            if let Ok(o) = r.overview(i) {
                exercise(&o);
            }
        }
    }
});
