//! Streaming: windows in any order, memory bounded by a band of pending tiles, unwritten pixels.

mod write_support;

use geodino_core::{Crs, DataType, GeoTransform, RasterBuffer, RasterMeta, RasterWrite, Window};
use geodino_tiff::write::{GeoTiffWriter, TiffCompression, TiffWriteOptions, WriterStats};
use ndarray::{Array3, s};
use write_support::{Rng, gdal_readback, le_bytes, smooth_buffer, validate_cog};

fn meta(w: usize, h: usize, bands: usize, dt: DataType) -> RasterMeta {
    let mut m = RasterMeta::new(w, h, bands, dt);
    m.geotransform = Some(GeoTransform::north_up(600000.0, 1.0, 5000000.0, -1.0));
    m.crs = Some(Crs::from_epsg(32631));
    m
}

fn window_of(buf: &RasterBuffer, w: Window) -> RasterBuffer {
    let (r0, c0) = (w.row_off as usize, w.col_off as usize);
    let sl = s![.., r0..r0 + w.height, c0..c0 + w.width];
    match buf {
        RasterBuffer::Uint8(a) => RasterBuffer::Uint8(a.slice(sl).to_owned()),
        RasterBuffer::Float32(a) => RasterBuffer::Float32(a.slice(sl).to_owned()),
        RasterBuffer::Int16(a) => RasterBuffer::Int16(a.slice(sl).to_owned()),
        _ => unreachable!("test data types"),
    }
}

/// An 8192 × 8192 uint8 raster (64 MiB, plus 21 MiB of overviews) written the way the
/// inference engine writes, in 256-row bands: the writer never holds more than one row of
/// tiles per pyramid level plus the batch being compressed — about 2 × (16 + 8 + 4 + 2 + 1)
/// tiles of 256 KiB = 15.5 MiB, a quarter of the raster — and GDAL reads every pixel back.
#[test]
fn large_raster_in_row_bands_keeps_memory_bounded() {
    let (n, ts, band_rows) = (8192usize, 512usize, 256usize);
    let dir = geodino_testutil::tempdir();
    let path = dir.path().join("big.tif");
    let m = meta(n, n, 1, DataType::Uint8);
    let opts = TiffWriteOptions {
        compression: TiffCompression::Zstd,
        level: Some(1),
        ..Default::default()
    };
    let pixel = |r: usize, c: usize| ((r / 3) ^ (c / 5)).wrapping_add(r * c / 4096) as u8;
    let mut w = GeoTiffWriter::create(&path, &m, &opts).unwrap();
    let mut peak_seen = 0;
    for row in (0..n).step_by(band_rows) {
        let band = RasterBuffer::Uint8(Array3::from_shape_fn((1, band_rows, n), |(_, r, c)| {
            pixel(row + r, c)
        }));
        w.write_window(Window::new(0, row as i64, n, band_rows), &band).unwrap();
        let st = w.stats();
        peak_seen = peak_seen.max(st.pending_bytes);
    }
    let mut calls: Vec<(u64, u64)> = Vec::new();
    let stats: WriterStats = w.finish_with_progress(&mut |d, t| calls.push((d, t))).unwrap();
    // progress of the final copy: from 0 to the total, monotonic, in a few steps
    let total = calls[0].1;
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(total, total)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0 && w[1].1 == total));
    assert!(total >= stats.scratch_bytes && calls.len() >= 2);
    let tile_bytes = ts * ts;
    let tiles_per_row: usize = [16, 8, 4, 2, 1].iter().sum();
    let bound = 2 * tiles_per_row * tile_bytes;
    eprintln!(
        "peak pending {:.1} MiB ({} tiles), bound {:.1} MiB, raster {:.0} MiB, {} tiles encoded, \
         {:.1} MiB compressed",
        stats.peak_pending_bytes as f64 / 1048576.0,
        stats.peak_pending_tiles,
        bound as f64 / 1048576.0,
        (n * n) as f64 / 1048576.0,
        stats.tiles_encoded,
        stats.scratch_bytes as f64 / 1048576.0
    );
    assert!(stats.peak_pending_bytes <= bound, "{stats:?}");
    assert!(stats.peak_pending_bytes * 4 <= n * n);
    assert!(peak_seen <= stats.peak_pending_bytes);
    assert_eq!(stats.pending_tiles, 0);
    assert_eq!(stats.tiles_encoded, 256 + 64 + 16 + 4 + 1);

    if let Some((ok, text)) = validate_cog(&path) {
        assert!(ok, "{text}");
    }
    let Some(back) = gdal_readback(&[&path]) else { return };
    assert_eq!(
        back[0].info["overviews"],
        serde_json::json!([[4096, 4096], [2048, 2048], [1024, 1024], [512, 512]])
    );
    let got = &back[0].levels[0];
    assert_eq!(got.len(), n * n);
    for r in (0..n).step_by(97).chain([n - 1]) {
        for c in 0..n {
            assert_eq!(got[r * n + c], pixel(r, c), "pixel ({r}, {c})");
        }
    }
    let sum: u64 = got.iter().map(|&v| v as u64).sum();
    let want: u64 = (0..n).map(|r| (0..n).map(|c| pixel(r, c) as u64).sum::<u64>()).sum();
    assert_eq!(sum, want);
}

/// Windows in any order — shuffled, unaligned, some pixels rewritten before their tile is
/// complete — give a file byte-identical to one written in row order, and so does any
/// number of compression threads.
#[test]
fn windows_in_any_order_give_identical_files() {
    let dir = geodino_testutil::tempdir();
    let (w, h) = (700, 500);
    let mut m = meta(w, h, 2, DataType::Float32);
    m.set_nodata(Some(-9999.0));
    let data = smooth_buffer(DataType::Float32, (2, h, w), 3);
    let opts = TiffWriteOptions { tile_size: 64, ..Default::default() };

    let a = dir.path().join("rows.tif");
    let mut wr = GeoTiffWriter::create(&a, &m, &opts).unwrap();
    for row in (0..h).step_by(100) {
        let win = Window::new(0, row as i64, w, 100);
        wr.write_window(win, &window_of(&data, win)).unwrap();
    }
    wr.finish().unwrap();

    let b = dir.path().join("shuffled.tif");
    let mut windows = Vec::new();
    for r in (0..h).step_by(70) {
        for c in (0..w).step_by(50) {
            windows.push(Window::new(c as i64, r as i64, 50.min(w - c), 70.min(h - r)));
        }
    }
    let mut rng = Rng(7);
    for i in (1..windows.len()).rev() {
        windows.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut wr: Box<dyn RasterWrite> = Box::new(GeoTiffWriter::create(&b, &m, &opts).unwrap());
    // garbage first, overwritten by the real pixels before its tile is complete
    let junk = Window::new(3, 5, 20, 20);
    wr.write_window(junk, &RasterBuffer::filled(DataType::Float32, (2, 20, 20), 1e6)).unwrap();
    wr.write_window(junk, &window_of(&data, junk)).unwrap();
    for win in windows {
        wr.write_window(win, &window_of(&data, win)).unwrap();
    }
    wr.finish().unwrap();

    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "files differ");

    // and whatever the number of compression threads
    for threads in [1, 3] {
        let c = dir.path().join(format!("threads{threads}.tif"));
        let o = TiffWriteOptions { threads, ..opts.clone() };
        geodino_tiff::write::write_geotiff(&c, &m, &data, &o).unwrap();
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&c).unwrap(), "{threads} threads");
    }
}

/// Rewriting a tile after it was completed (and compressed) is refused with a clear error,
/// changes nothing, and the writer goes on; pixels never written read back as nodata.
#[test]
fn finished_tiles_are_final_and_holes_become_nodata() {
    let dir = geodino_testutil::tempdir();
    let p = dir.path().join("holes.tif");
    let mut m = meta(200, 150, 1, DataType::Int16);
    m.set_nodata(Some(-32768.0));
    let data = smooth_buffer(DataType::Int16, (1, 150, 200), 5);
    let opts = TiffWriteOptions { tile_size: 64, ..Default::default() };
    let mut w = GeoTiffWriter::create(&p, &m, &opts).unwrap();
    let first = Window::new(0, 0, 64, 64);
    w.write_window(first, &window_of(&data, first)).unwrap();
    let again = Window::new(60, 10, 10, 10);
    let err = w.write_window(again, &window_of(&data, again)).unwrap_err().to_string();
    assert!(
        err.contains("holes.tif")
            && err.contains("tile (0, 0)")
            && err.contains("already complete"),
        "{err}"
    );
    // everything but a 30 x 20 hole at (100, 100)
    for win in [
        Window::new(64, 0, 136, 64),
        Window::new(0, 64, 200, 36),
        Window::new(0, 100, 100, 50),
        Window::new(130, 100, 70, 50),
        Window::new(100, 120, 30, 30),
    ] {
        w.write_window(win, &window_of(&data, win)).unwrap();
    }
    // bad requests are refused with the file named
    let e = w.write_window(
        Window::new(190, 0, 20, 5),
        &RasterBuffer::filled(DataType::Int16, (1, 5, 20), 0.0),
    );
    assert!(e.unwrap_err().to_string().contains("not inside the 200x150 raster"));
    let e = w.write_window(
        Window::new(0, 0, 5, 5),
        &RasterBuffer::filled(DataType::Uint8, (1, 5, 5), 0.0),
    );
    assert!(e.unwrap_err().to_string().contains("data is uint8 but the raster is int16"));
    let e = w.write_window(
        Window::new(0, 0, 5, 5),
        &RasterBuffer::filled(DataType::Int16, (2, 5, 5), 0.0),
    );
    assert!(e.unwrap_err().to_string().contains("does not match window"));
    w.finish().unwrap();

    let Some(back) = gdal_readback(&[&p]) else { return };
    let got = &back[0].levels[0];
    let mut want = le_bytes(&data);
    for r in 100..120 {
        for c in 100..130 {
            let i = 2 * (r * 200 + c);
            want[i..i + 2].copy_from_slice(&(-32768i16).to_le_bytes());
        }
    }
    assert!(got == &want, "pixels differ");
}
