//! Every Zarr store of the shared data read by geodino-zarr and compared with a reference:
//! GDAL 3.6 for the v2 stores, zarr-python for the v3 xarray store (GDAL 3.6 reads only the
//! pre-release v3 draft, not final v3).

mod common;

use geodino_core::{RasterRead, Window};
use geodino_testutil::shared_data;
use geodino_zarr::{ZarrOpenOptions, ZarrReader};

fn open_var(store: &std::path::Path, var: &str) -> ZarrReader {
    ZarrReader::open_with(store, &ZarrOpenOptions { variable: Some(var.into()) })
        .unwrap_or_else(|e| panic!("open {var}: {e}"))
}

#[test]
fn gdal_byte_no_cf_zip_matches_gdal() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let r = ZarrReader::open(&zip).unwrap();
    assert_eq!(r.variable(), "/byte_no_cf");
    let Some(g) = common::gdal(&[format!("/vsizip/{}", zip.display())]) else { return };
    common::assert_matches_gdal(&r, &g, "byte_no_cf");
    assert_eq!(r.meta().crs.as_ref().unwrap().epsg, Some(26711));
    // The path-inside-the-zip form names the same array.
    let r2 = ZarrReader::open(zip.join("byte_no_cf")).unwrap();
    assert_eq!(r2.read_all().unwrap(), r.read_all().unwrap());
}

#[test]
fn nasa_cf_nested_zip_matches_gdal() {
    let Some(zip) = shared_data("zarr/cf_nasa_4326.zarr.zip") else { return };
    // The group holds several rasters: opening it bare is an error that lists them.
    let e = ZarrReader::open(&zip).unwrap_err().to_string();
    assert!(e.contains("cf_nasa_4326.zarr.zip") && e.contains("/science/grids/data/temp"), "{e}");
    let vsi = format!("/vsizip/{}", zip.display());
    let temp = open_var(&zip, "science/grids/data/temp");
    let Some(g) = common::gdal(&[format!("ZARR:\"{vsi}\":/science/grids/data/temp")]) else {
        return;
    };
    common::assert_matches_gdal(&temp, &g, "temp");
    assert_eq!(temp.meta().crs.as_ref().unwrap().epsg, Some(4326));
    assert!(temp.meta().geotransform.is_none(), "GDAL finds no transform either");
    // A 3-D array: its first dimension holds the bands, one GDAL extra-dimension slice each.
    let look = open_var(&zip, "/science/grids/imagingGeometry/lookAngle");
    assert_eq!(look.meta().band_count(), 4);
    let names: Vec<String> = (0..4)
        .map(|i| format!("ZARR:\"{vsi}\":/science/grids/imagingGeometry/lookAngle:{i}"))
        .collect();
    let g = common::gdal(&names).unwrap();
    common::assert_matches_gdal(&look, &g, "lookAngle");
}

#[test]
fn xarray_v2_store_matches_gdal() {
    let Some(store) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let e = ZarrReader::open(&store).unwrap_err().to_string();
    assert!(e.contains("/CDD0") && e.contains("/GWETPROF"), "{e}");
    for var in ["CDD0", "DISPH", "FROST_DAYS", "GWETPROF"] {
        // Both spellings: a path into the store and an explicit variable.
        let r = ZarrReader::open(store.join(var)).unwrap();
        assert_eq!(r.meta().band_count(), 10, "{var}: the time axis holds the bands");
        let names: Vec<String> =
            (0..10).map(|i| format!("ZARR:\"{}\":/{var}:{i}", store.display())).collect();
        let Some(g) = common::gdal(&names) else { return };
        common::assert_matches_gdal(&r, &g, var);
        assert_eq!(r.meta().geotransform.unwrap().0, [-180.0, 5.0, 0.0, -90.0, 0.0, 5.0]);
        assert_eq!(open_var(&store, var).read_all().unwrap(), r.read_all().unwrap());
    }
}

#[test]
fn xarray_v3_store_matches_zarr_python_and_the_v2_twin() {
    let Some(store) = shared_data("zarr/zarr_store_v3.zarr") else { return };
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    for var in ["CDD0", "DISPH", "FROST_DAYS", "GWETPROF"] {
        let r = open_var(&store, var);
        let m = r.meta();
        assert_eq!((m.width, m.height, m.band_count()), (72, 36, 10));
        // xarray's base64 `_FillValue` ("AAAAAAAA+H8=") wins over the metadata fill value 0.0.
        assert!(m.nodata(0).unwrap().0.is_nan(), "{var}: nodata {:?}", m.nodata(0));
        assert_eq!(m.metadata["ZARR_FORMAT"], "3");
        assert_eq!(m.metadata["ZARR_DIMENSIONS"], "time,lat,lon");
        let Some(z) = common::zarr(&store, var) else { return };
        let ours = common::stats(&r);
        for (b, zb) in z["bands"].as_array().unwrap().iter().enumerate() {
            assert_eq!(zb["sum"].as_f64().unwrap(), ours[b].0, "{var} band {}", b + 1);
            assert_eq!(zb["valid_count"].as_u64().unwrap(), ours[b].1);
            assert_eq!(zb["min"].as_f64().unwrap(), ours[b].2);
            assert_eq!(zb["max"].as_f64().unwrap(), ours[b].3);
        }
        // Georeferencing from the lon/lat coordinates as zarr-python reads them ...
        let lon: Vec<f64> =
            z["others"]["lon"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let lat: Vec<f64> =
            z["others"]["lat"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let gt = m.geotransform.unwrap();
        assert_eq!(gt.0[0], lon[0] - (lon[71] - lon[0]) / 71.0 / 2.0);
        assert_eq!(gt.0[3], lat[0] - (lat[35] - lat[0]) / 35.0 / 2.0);
        // ... and equal to GDAL's reading of the v2 twin of this store.
        let twin = open_var(&v2, var);
        assert_eq!(twin.meta().geotransform, m.geotransform);
        assert_eq!(twin.meta().crs, m.crs);
        assert!(m.crs.is_none(), "the store carries no CRS");
        assert_eq!(twin.read_all().unwrap(), r.read_all().unwrap(), "{var}: v2 and v3 pixels");
    }
}

#[test]
fn gdal_written_multiband_groups_read_as_one_raster() {
    // What `gdal_translate -of Zarr` writes: Band1..Band3 + X/Y + _CRS, derived from a shared
    // GeoTIFF, uncompressed and with blosc-zstd.
    let Some(tif) = shared_data("geotiff/RGB.byte.tif") else { return };
    if !geodino_testutil::oracle::gdal() {
        return;
    }
    let tmp = geodino_testutil::tempdir();
    let Some(g) = common::gdal(&[tif.display().to_string()]) else { return };
    for (name, extra) in [
        ("plain.zarr", vec![]),
        ("blosc.zarr", vec!["-co", "COMPRESS=BLOSC", "-co", "BLOSC_CNAME=zstd"]),
    ] {
        let out = tmp.path().join(name);
        let mut c = std::process::Command::new("gdal_translate");
        c.args(["-q", "-of", "Zarr", "-co", "BLOCKSIZE=256,256"]).args(extra).arg(&tif).arg(&out);
        geodino_testutil::oracle::run(&mut c);
        let r = ZarrReader::open(&out).unwrap();
        assert_eq!(r.variable(), "/Band1,/Band2,/Band3");
        assert_eq!((r.meta().block.width, r.meta().block.height), (256, 256));
        // the same pixels, nodata, geotransform (from the X/Y centres) and CRS as the source
        common::assert_matches_gdal(&r, &g, name);
        assert_eq!(r.meta().metadata["GEOTRANSFORM_SOURCE"], "coordinate arrays");
        assert_eq!(r.meta().metadata["CRS_SOURCE"], "GDAL _CRS");
    }
}

#[test]
fn windows_read_only_the_chunks_they_touch() {
    let Some(src) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let tmp = geodino_testutil::tempdir();
    let store = tmp.path().join("copy.zarr");
    copy_dir(&src, &store);
    let r = ZarrReader::open(store.join("CDD0")).unwrap();
    let full = r.read_all().unwrap();
    // A window straddling chunks equals the same slice of the whole raster.
    let w = Window::new(7, 3, 25, 14);
    let win = r.read_window(&[2, 3, 7], w).unwrap();
    let f = full.to_f64();
    let got = win.to_f64();
    for (i, b) in [2usize, 3, 7].iter().enumerate() {
        for y in 0..14 {
            for x in 0..25 {
                let (a, e) = (got[[i, y, x]], f[[*b, 3 + y, 7 + x]]);
                assert!(a == e || (a.is_nan() && e.is_nan()));
            }
        }
    }
    // Corrupt a chunk far from a window (chunks are 10x10x10, key time.lat.lon): reading the
    // window still works, reading the whole raster names the file and fails.
    std::fs::write(store.join("CDD0").join("0.3.7"), b"garbage").unwrap();
    let r = ZarrReader::open(store.join("CDD0")).unwrap();
    r.read_window(&[0], Window::new(0, 0, 20, 20)).expect("window away from the bad chunk");
    let e = r.read_all().unwrap_err().to_string();
    assert!(e.contains("copy.zarr"), "{e}");
}

#[test]
fn bad_input_names_the_file() {
    let tmp = geodino_testutil::tempdir();
    let missing = tmp.path().join("nope.zarr");
    let e = ZarrReader::open(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.zarr"), "{e}");
    let empty = tmp.path().join("empty.zarr");
    std::fs::create_dir(&empty).unwrap();
    let e = ZarrReader::open(&empty).unwrap_err().to_string();
    assert!(e.contains("empty.zarr") && e.contains("no Zarr metadata"), "{e}");
    // Corrupt metadata JSON
    let bad = tmp.path().join("bad.zarr");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join(".zgroup"), "{\"zarr_format\": 2}").unwrap();
    std::fs::create_dir(bad.join("a")).unwrap();
    std::fs::write(bad.join("a").join(".zarray"), "{\"zarr_format\": 2, \"shape\": [4, ").unwrap();
    let e = ZarrReader::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.zarr/a/.zarray") && e.contains("invalid Zarr metadata JSON"), "{e}");
    // Valid JSON, nonsense metadata
    std::fs::write(bad.join("a").join(".zarray"), "{\"zarr_format\": 2, \"shape\": \"big\"}")
        .unwrap();
    let e = ZarrReader::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.zarr/a/.zarray") && e.contains("shape"), "{e}");
    // Metadata zarrs rejects (unknown codec)
    std::fs::write(
        bad.join("a").join(".zarray"),
        r#"{"zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": "<f4",
            "compressor": {"id": "no-such-codec"}, "fill_value": 0, "order": "C", "filters": null}"#,
    )
    .unwrap();
    let e = ZarrReader::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.zarr") && e.contains("/a"), "{e}");
    // A plain file that is not a zip
    let txt = tmp.path().join("notes.zarr");
    std::fs::write(&txt, "hello").unwrap();
    let e = ZarrReader::open(&txt).unwrap_err().to_string();
    assert!(e.contains("notes.zarr"), "{e}");
    // Unsupported element type
    std::fs::write(
        bad.join("a").join(".zarray"),
        r#"{"zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": "<c8",
            "compressor": null, "fill_value": 0, "order": "C", "filters": null}"#,
    )
    .unwrap();
    let e = ZarrReader::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.zarr") && e.contains("data type"), "{e}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &p);
        } else {
            std::fs::copy(e.path(), p).unwrap();
        }
    }
}

#[test]
fn band_last_arrays_are_transposed_to_band_row_col() {
    // An xarray-style (y, x, band) array written by zarr-python, chunked unevenly (7, 11, 2).
    let Some(py) = geodino_testutil::oracle::zarr_python() else { return };
    let tmp = geodino_testutil::tempdir();
    let store = tmp.path().join("yxb.zarr");
    let script = format!(
        "import zarr, numpy as np\n\
         a = zarr.create_array({:?}, shape=(20, 30, 3), chunks=(7, 11, 2), dtype='int16', zarr_format=2, fill_value=None)\n\
         a[...] = (np.arange(20 * 30 * 3).reshape(20, 30, 3) % 1000).astype('int16')\n\
         a.attrs['_ARRAY_DIMENSIONS'] = ['y', 'x', 'band']\n",
        store.display().to_string()
    );
    geodino_testutil::oracle::run(std::process::Command::new(py).args(["-c", &script]));
    let r = ZarrReader::open(&store).unwrap();
    assert_eq!((r.meta().width, r.meta().height, r.meta().band_count()), (30, 20, 3));
    assert_eq!(r.meta().nodata(0), None);
    let w = Window::new(5, 3, 17, 12);
    let got = r.read_window(&[2, 0], w).unwrap().to_f64();
    for (i, b) in [2usize, 0].iter().enumerate() {
        for y in 0..12 {
            for x in 0..17 {
                let want = ((((3 + y) * 30 + 5 + x) * 3 + b) % 1000) as f64;
                assert_eq!(got[[i, y, x]], want, "band {b} at ({x}, {y})");
            }
        }
    }
}
