//! `open` / `create` dispatch, statistics and parallel reads, checked against GDAL and
//! zarr-python (the oracles of `crates/geodino-zarr/tests/oracle.py`).

#[path = "../../geodino-zarr/tests/common/mod.rs"]
mod common;

use geodino_core::{Crs, DataType, GeoTransform, NoData, RasterBuffer, RasterMeta, Window};
use geodino_raster::{CreateOptions, band_stats, block_windows, create, open, read_windows_par};
use geodino_testutil::shared_data;

fn no_progress(_: usize, _: usize) {}

/// `band_stats` must agree with the oracle's exact statistics.
fn assert_stats(r: &dyn geodino_core::RasterRead, oracle_bands: &[serde_json::Value], what: &str) {
    let bands: Vec<usize> = (0..r.meta().band_count()).collect();
    let s = band_stats(r, &bands, &no_progress).unwrap();
    assert_eq!(s.len(), oracle_bands.len(), "{what}");
    for (b, (ours, g)) in s.iter().zip(oracle_bands).enumerate() {
        let gsum = g["sum"].as_f64().unwrap();
        let exact = !r.meta().dtype.is_float();
        if exact {
            assert_eq!(ours.sum, gsum, "{what} band {} sum", b + 1);
        } else {
            assert!(
                (ours.sum - gsum).abs() <= 1e-12 * gsum.abs().max(1.0),
                "{what} band {}",
                b + 1
            );
        }
        assert_eq!(Some(ours.valid_count), g["valid_count"].as_u64(), "{what} band {}", b + 1);
        assert_eq!(ours.min, g["min"].as_f64(), "{what} band {} min", b + 1);
        assert_eq!(ours.max, g["max"].as_f64(), "{what} band {} max", b + 1);
    }
}

#[test]
fn zarr_stores_open_by_path_and_stats_match_gdal() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let r = open(&zip).unwrap();
    let Some(g) = common::gdal(&[format!("/vsizip/{}", zip.display())]) else { return };
    assert_stats(r.as_ref(), g[0]["bands"].as_array().unwrap(), "byte_no_cf");
    let r = open(v2.join("DISPH")).unwrap();
    let names: Vec<String> =
        (0..10).map(|i| format!("ZARR:\"{}\":/DISPH:{i}", v2.display())).collect();
    let g = common::gdal(&names).unwrap();
    let gb: Vec<serde_json::Value> = g.iter().map(|d| d["bands"][0].clone()).collect();
    assert_stats(r.as_ref(), &gb, "DISPH");
}

#[test]
fn zarr_v3_stats_match_zarr_python() {
    let Some(v3) = shared_data("zarr/zarr_store_v3.zarr") else { return };
    let r = open(v3.join("GWETPROF")).unwrap();
    let Some(z) = common::zarr(&v3, "GWETPROF") else { return };
    assert_stats(r.as_ref(), z["bands"].as_array().unwrap(), "GWETPROF v3");
}

#[test]
fn bad_input_gives_an_error_naming_the_file() {
    let tmp = geodino_testutil::tempdir();
    let missing = tmp.path().join("missing.tif");
    let e = open(&missing).err().unwrap().to_string();
    assert!(e.contains("missing.tif"), "{e}");
    let txt = tmp.path().join("notes.txt");
    std::fs::write(&txt, "not a raster at all").unwrap();
    let e = open(&txt).err().unwrap().to_string();
    assert!(e.contains("notes.txt"), "{e}");
    let dir = tmp.path().join("plain");
    std::fs::create_dir(&dir).unwrap();
    let e = open(&dir).err().unwrap().to_string();
    assert!(e.contains("plain") && e.contains("not a Zarr store"), "{e}");
    let bad = tmp.path().join("bad.zarr");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("zarr.json"), "{\"zarr_format\": 3, \"node_type\": ").unwrap();
    let e = open(&bad).err().unwrap().to_string();
    assert!(e.contains("bad.zarr/zarr.json"), "{e}");
    // A truncated TIFF: GDAL (or the TIFF reader) refuses it with the name.
    let tif = tmp.path().join("trunc.tif");
    std::fs::write(&tif, b"II*\0\x08\0\0\0\xff").unwrap();
    let e = open(&tif).err().unwrap().to_string();
    assert!(e.contains("trunc.tif"), "{e}");
    // Unknown output extension
    let m = RasterMeta::new(4, 4, 1, DataType::Uint8);
    let e = create(tmp.path().join("x.png"), &m, &CreateOptions::default()).err().unwrap();
    assert!(e.to_string().contains("x.png"), "{e}");
}

#[test]
fn create_picks_the_zarr_writer_and_parallel_reads_agree() {
    let tmp = geodino_testutil::tempdir();
    let mut m = RasterMeta::new(300, 200, 2, DataType::Int16);
    m.geotransform = Some(GeoTransform::north_up(500000.0, 10.0, 4000000.0, -10.0));
    m.crs = Some(Crs::from_epsg(32633));
    m.set_nodata(Some(-1.0));
    m.block = geodino_core::BlockSize::new(64, 64);
    let data = RasterBuffer::Int16(ndarray::Array3::from_shape_fn((2, 200, 300), |(b, y, x)| {
        ((x * 3 + y * 5 + b) % 700) as i16 - 1
    }));
    for (name, v2) in [("a.zarr", false), ("b.zarr", true)] {
        let dest = tmp.path().join(name);
        let opts = CreateOptions { zarr_v2: v2, block: Some(64), ..Default::default() };
        let mut w = create(&dest, &m, &opts).unwrap();
        for win in block_windows(&m) {
            let (r0, c0) = (win.row_off as usize, win.col_off as usize);
            let part = geodino_core::with_buffer!(&data, a => geodino_core::RasterElement::wrap(
                a.slice(ndarray::s![.., r0..r0 + win.height, c0..c0 + win.width]).to_owned()));
            w.write_window(win, &part).unwrap();
        }
        w.finish().unwrap();
        let r = open(&dest).unwrap();
        assert_eq!(r.meta().metadata["ZARR_FORMAT"], if v2 { "2" } else { "3" });
        assert_eq!(r.meta().nodata(1), Some(NoData(-1.0)));
        assert_eq!(r.meta().crs.as_ref().unwrap().epsg, Some(32633));
        assert_eq!((r.meta().block.width, r.meta().block.height), (64, 64));
        let wins = block_windows(r.meta());
        let parts = read_windows_par(r.as_ref(), &[0, 1], &wins, |w, b| Ok((w, b))).unwrap();
        for (w, b) in parts {
            assert_eq!(b, r.read_window(&[0, 1], w).unwrap());
        }
        assert_eq!(r.read_all().unwrap(), data);
        let s = band_stats(r.as_ref(), &[0, 1], &no_progress).unwrap();
        let a = data.to_f64();
        for b in 0..2 {
            let v: Vec<f64> =
                a.index_axis(ndarray::Axis(0), b).iter().copied().filter(|x| *x != -1.0).collect();
            assert_eq!(s[b].sum, common::fsum(&v));
            assert_eq!(s[b].valid_count, v.len() as u64);
        }
    }
    // Options that do not fit the format are refused.
    let e =
        create(tmp.path().join("c.zarr"), &m, &CreateOptions { cog: true, ..Default::default() });
    assert!(e.err().unwrap().to_string().contains("c.zarr"));
    let _ = Window::new(0, 0, 1, 1);
}
