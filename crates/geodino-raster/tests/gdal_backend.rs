//! The GDAL backend (feature `gdal`): agreement with the pure-Rust readers (window checksums),
//! with GDAL's Python bindings (exact statistics), VRT mosaics, and GeoTIFF/COG output.
#![cfg(feature = "gdal")]

#[path = "../../geodino-zarr/tests/common/mod.rs"]
mod common;

use std::process::Command;

use geodino_core::{RasterRead, Window};
use geodino_raster::{
    Backend, CreateOptions, GdalReader, OpenOptions, band_stats, block_windows, create, open,
    open_with, processing_windows,
};
use geodino_testutil::{oracle, shared_data};
use geodino_zarr::ZarrReader;

const TIFFS: &[&str] = &[
    "RGB.byte.tif",
    "rgb_lzw.tif",
    "rgb_deflate.tif",
    "shade.tif",
    "byte.tif",
    "world.byte.tif",
    "m_3607824_se_17_1_20160620_sub.tif",
    "usda_naip_256_webp_z3.tif",
    "cog.tif",
    "cog_rgb.tif",
];

/// A checksum of a window: (sum, sum of squares, weighted position sum) over all bands.
fn checksum(r: &dyn RasterRead, w: Window) -> (f64, f64, f64) {
    let bands: Vec<usize> = (0..r.meta().band_count()).collect();
    let a = r.read_window(&bands, w).unwrap().to_f64();
    let mut s = (0.0, 0.0, 0.0);
    for ((b, y, x), v) in a.indexed_iter() {
        if v.is_nan() {
            continue;
        }
        s.0 += v;
        s.1 += v * v;
        s.2 += v * ((b * 7919 + y * 131 + x) % 1009) as f64;
    }
    s
}

/// Windows that straddle blocks, touch edges, and cover the whole raster.
fn probe_windows(w: usize, h: usize) -> Vec<Window> {
    let mut v = vec![Window::full(w, h)];
    v.push(Window::new(0, 0, w.min(17), h.min(9)));
    v.push(Window::new((w / 3) as i64, (h / 4) as i64, (w / 2).max(1), (h / 3).max(1)));
    v.push(Window::new((w - w.min(31)) as i64, (h - h.min(29)) as i64, w.min(31), h.min(29)));
    v
}

#[test]
fn gdal_backend_matches_gdal_python_on_every_shared_geotiff() {
    let mut names = Vec::new();
    let mut readers = Vec::new();
    for t in TIFFS {
        let Some(p) = shared_data(&format!("geotiff/{t}")) else { return };
        readers.push(
            open_with(&p, &OpenOptions { backend: Backend::Gdal, ..Default::default() }).unwrap(),
        );
        names.push(p.display().to_string());
    }
    let Some(g) = common::gdal(&names) else { return };
    for ((r, g), name) in readers.iter().zip(&g).zip(TIFFS) {
        common::assert_matches_gdal(r.as_ref(), std::slice::from_ref(g), name);
        // the parallel, block-by-block statistics agree with numpy's exact sums too
        let bands: Vec<usize> = (0..r.meta().band_count()).collect();
        let s = band_stats(r.as_ref(), &bands, &|_, _| {}).unwrap();
        for (b, st) in s.iter().enumerate() {
            assert_eq!(Some(st.sum), g["bands"][b]["sum"].as_f64(), "{name} band {}", b + 1);
        }
        assert_eq!(
            serde_json::json!([r.meta().block.width, r.meta().block.height]),
            g["bands"][0]["block"],
            "{name}: block"
        );
    }
}

#[test]
fn gdal_backend_agrees_with_the_zarr_reader() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let ours = ZarrReader::open(&zip).unwrap();
    let gd = GdalReader::open(format!("/vsizip/{}", zip.display())).unwrap();
    assert_eq!(gd.meta().geotransform, ours.meta().geotransform);
    assert_eq!(gd.meta().crs.as_ref().unwrap().epsg, ours.meta().crs.as_ref().unwrap().epsg);
    for w in probe_windows(20, 20) {
        assert_eq!(checksum(&gd, w), checksum(&ours, w), "byte_no_cf {w}");
    }
    let ours = ZarrReader::open(v2.join("FROST_DAYS")).unwrap();
    for t in [0usize, 4, 9] {
        let gd = GdalReader::open(format!("ZARR:\"{}\":/FROST_DAYS:{t}", v2.display())).unwrap();
        for w in probe_windows(72, 36) {
            let a = gd.read_window(&[0], w).unwrap();
            let b = ours.read_window(&[t], w).unwrap();
            let (a, b) = (a.to_f64(), b.to_f64());
            assert!(a.iter().zip(b.iter()).all(|(x, y)| x == y || (x.is_nan() && y.is_nan())));
        }
    }
}

#[test]
fn reads_a_vrt_mosaic_built_with_gdalbuildvrt() {
    let Some(src) = shared_data("geotiff/rgb_lzw.tif") else { return };
    if !oracle::gdal() {
        return;
    }
    let tmp = geodino_testutil::tempdir();
    let d = tmp.path();
    // Four quadrants of different sizes, mosaicked back together.
    let parts = [
        ("a.tif", "0 0 400 300"),
        ("b.tif", "400 0 391 300"),
        ("c.tif", "0 300 400 418"),
        ("d.tif", "400 300 391 418"),
    ];
    for (name, win) in parts {
        let mut c = Command::new("gdal_translate");
        c.arg("-q").arg("-srcwin").args(win.split(' ')).arg(&src).arg(d.join(name));
        oracle::run(&mut c);
    }
    let vrt = d.join("mosaic.vrt");
    let mut c = Command::new("gdalbuildvrt");
    c.arg("-q").arg(&vrt).args(parts.iter().map(|(n, _)| d.join(n)));
    oracle::run(&mut c);
    let mosaic = open(&vrt).unwrap();
    let whole = GdalReader::open(&src).unwrap();
    assert_eq!(mosaic.meta().metadata["GDAL_DRIVER"], "VRT");
    assert_eq!((mosaic.meta().width, mosaic.meta().height), (791, 718));
    assert_eq!(mosaic.meta().geotransform, whole.meta().geotransform);
    assert_eq!(mosaic.meta().crs.as_ref().unwrap().epsg, Some(32618));
    for w in probe_windows(791, 718) {
        assert_eq!(checksum(mosaic.as_ref(), w), checksum(&whole, w), "mosaic {w}");
    }
    // Many threads read through the dataset pool at once.
    let wins = processing_windows(mosaic.meta(), 128 * 128);
    assert!(wins.len() > 8);
    let s = band_stats(mosaic.as_ref(), &[0, 1, 2], &|_, _| {}).unwrap();
    let t = band_stats(&whole, &[0, 1, 2], &|_, _| {}).unwrap();
    assert_eq!(s, t);
}

#[test]
fn tiff_and_cog_output_through_gdal() {
    let Some(src) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let r = open(src.join("CDD0")).unwrap();
    let tmp = geodino_testutil::tempdir();
    for (name, cog) in [("cdd0.tif", false), ("cdd0_cog.tif", true)] {
        let dest = tmp.path().join(name);
        let opts = CreateOptions { cog, block: Some(16), ..Default::default() };
        let mut w = create(&dest, r.meta(), &opts).unwrap();
        let bands: Vec<usize> = (0..10).collect();
        for win in block_windows(r.meta()) {
            w.write_window(win, &r.read_window(&bands, win).unwrap()).unwrap();
        }
        assert!(!dest.exists());
        w.finish().unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), if cog { 2 } else { 1 });
        let Some(g) = common::gdal(&[dest.display().to_string()]) else { return };
        common::assert_matches_gdal(r.as_ref(), &g, name);
        if cog {
            let Some(py) = oracle::gdal_python() else { return };
            let mut c = Command::new(py);
            c.args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff"]).arg(&dest);
            let out = oracle::run(&mut c);
            assert!(out.contains("is a valid cloud optimized GeoTIFF"), "{out}");
        }
    }
}
