//! `geodino info` and `geodino convert` against GDAL (`gdalinfo -json`, GDAL's Python bindings
//! with numpy) and zarr-python.

#[path = "../../geodino-zarr/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use geodino_testutil::{oracle, shared_data};
use serde_json::Value;

fn geodino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_geodino")).args(args).output().expect("run geodino")
}

fn ok(args: &[&str]) -> String {
    let o = geodino(args);
    assert!(o.status.success(), "geodino {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn info(path: &Path) -> Value {
    serde_json::from_str(&ok(&["info", "--json", "--stats", path.to_str().unwrap()])).unwrap()
}

/// `info --json --stats` against `gdalinfo -json` (size, geotransform, EPSG, nodata, block) and
/// against the exact sums of GDAL + numpy (`oracle` = that band list).
fn check_info(j: &Value, gi: &Value, oracle_bands: &[Value], what: &str) {
    assert_eq!(j["width"], gi["size"][0], "{what}");
    assert_eq!(j["height"], gi["size"][1], "{what}");
    assert_eq!(j["band_count"].as_u64().unwrap() as usize, oracle_bands.len(), "{what}");
    match (&j["geotransform"], &gi["geoTransform"]) {
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{what}: {a:?} vs {b:?}");
            }
        }
        (Value::Null, Value::Null) => {}
        (a, b) => panic!("{what}: geotransform {a} vs {b}"),
    }
    assert_eq!(j["crs"]["epsg"], gi["stac"]["proj:epsg"], "{what}: EPSG");
    for (i, ob) in oracle_bands.iter().enumerate() {
        let jb = &j["bands"][i];
        assert_eq!(jb["index"], i + 1);
        if let Some(gb) = gi["bands"].get(i) {
            assert_eq!(j["block"], gb["block"], "{what}: block");
            let gnd = match &gb["noDataValue"] {
                Value::Number(n) => Value::from(n.as_f64().unwrap()),
                Value::String(s) if s.eq_ignore_ascii_case("nan") => Value::from("nan"),
                other => other.clone(),
            };
            let jnd = match &jb["nodata"] {
                Value::Number(n) => Value::from(n.as_f64().unwrap()),
                other => other.clone(),
            };
            assert_eq!(jnd, gnd, "{what}: band {} nodata", i + 1);
        }
        let s = &jb["stats"];
        let (sum, osum) = (s["sum"].as_f64().unwrap(), ob["sum"].as_f64().unwrap());
        if j["compression"] == "jpeg" {
            // Lossy JPEG: geodino-tiff's decoder and GDAL's libjpeg differ by a few levels on
            // some pixels (see docs/raster-io.md); `--gdal` gives GDAL's exact numbers.
            assert!((sum - osum).abs() <= 2e-3 * osum.abs(), "{what}: {sum} vs {osum}");
            assert_eq!(s["valid_count"], ob["valid_count"], "{what}: band {} count", i + 1);
            continue;
        }
        if jb["dtype"].as_str().unwrap().starts_with("float") {
            assert!((sum - osum).abs() <= 1e-12 * osum.abs().max(1.0), "{what}: {sum} vs {osum}");
        } else {
            assert_eq!(sum, osum, "{what}: band {} sum", i + 1);
        }
        assert_eq!(s["valid_count"], ob["valid_count"], "{what}: band {} count", i + 1);
        assert_eq!(s["min"], ob["min"], "{what}: band {} min", i + 1);
        assert_eq!(s["max"], ob["max"], "{what}: band {} max", i + 1);
    }
}

#[test]
fn info_json_stats_equals_gdal_on_the_shared_geotiffs() {
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
    let mut paths = Vec::new();
    for t in TIFFS {
        let Some(p) = shared_data(&format!("geotiff/{t}")) else { return };
        paths.push(p);
    }
    if !oracle::gdal() {
        return;
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let Some(sums) = common::gdal(&names) else { return };
    for (p, o) in paths.iter().zip(&sums) {
        let j = info(p);
        let gi = oracle::gdalinfo_json(p, false);
        check_info(&j, &gi, o["bands"].as_array().unwrap(), &p.display().to_string());
        #[cfg(feature = "gdal")]
        if j["compression"] == "jpeg" {
            // through GDAL the statistics are GDAL's to the last bit
            let jg: Value = serde_json::from_str(&ok(&[
                "info",
                "--json",
                "--stats",
                "--gdal",
                p.to_str().unwrap(),
            ]))
            .unwrap();
            assert_eq!(jg["driver"], "GTiff");
            for (i, ob) in o["bands"].as_array().unwrap().iter().enumerate() {
                assert_eq!(jg["bands"][i]["stats"]["sum"], ob["sum"]);
            }
        }
        let ovr = gi["bands"][0]["overviews"].as_array().map_or(0, Vec::len);
        assert_eq!(j["overviews"].as_array().unwrap().len(), ovr);
    }
}

#[test]
fn info_json_stats_equals_gdal_on_the_shared_zarr() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    if !oracle::gdal() {
        return;
    }
    let vsi = format!("/vsizip/{}", zip.display());
    let Some(o) = common::gdal(std::slice::from_ref(&vsi)) else { return };
    let gi = oracle::gdalinfo_json(Path::new(&vsi), false);
    check_info(&info(&zip), &gi, o[0]["bands"].as_array().unwrap(), "byte_no_cf");
    // A 3-D xarray array: GDAL shows one band per time slice (ZARR:"...":/CDD0:i).
    let names: Vec<String> =
        (0..10).map(|i| format!("ZARR:\"{}\":/CDD0:{i}", v2.display())).collect();
    let o = common::gdal(&names).unwrap();
    let bands: Vec<Value> = o.iter().map(|d| d["bands"][0].clone()).collect();
    let gi = oracle::gdalinfo_json(Path::new(&names[0]), false);
    let j = info(&v2.join("CDD0"));
    check_info(&j, &gi, &bands, "CDD0");
    assert_eq!(j["bands"][0]["nodata"], "nan");
    assert_eq!(j["driver"], "Zarr");
    // The v3 twin (GDAL 3.6 cannot read final v3): statistics from zarr-python.
    let Some(v3) = shared_data("zarr/zarr_store_v3.zarr") else { return };
    let Some(z) = common::zarr(&v3, "CDD0") else { return };
    let j3 = info(&v3.join("CDD0"));
    check_info(&j3, &gi, z["bands"].as_array().unwrap(), "CDD0 v3");
}

#[test]
fn info_text_is_readable() {
    let Some(zip) = shared_data("zarr/byte_no_cf.zarr.zip") else { return };
    let t = ok(&["info", "--stats", zip.to_str().unwrap()]);
    for want in [
        "Size: 20 x 20, 1 band(s) of uint8",
        "CRS: EPSG:26711",
        "Origin: (440720, 3751320)",
        "Band 1: uint8, nodata 0",
        "sum 50706  valid 400",
    ] {
        assert!(t.contains(want), "{want:?} missing from:\n{t}");
    }
}

#[test]
fn convert_zarr_v2_to_v3_and_to_a_gdal_readable_v2_subset() {
    let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") else { return };
    let tmp = geodino_testutil::tempdir();
    let src = v2.join("DISPH");
    let out3 = tmp.path().join("disph.zarr");
    ok(&["convert", src.to_str().unwrap(), out3.to_str().unwrap()]);
    let a = info(&src);
    let b = info(&out3);
    for k in ["width", "height", "band_count", "geotransform", "crs", "dtype"] {
        assert_eq!(a[k], b[k], "{k}");
    }
    for i in 0..10 {
        assert_eq!(a["bands"][i]["stats"], b["bands"][i]["stats"], "band {}", i + 1);
        assert_eq!(b["bands"][i]["nodata"], "nan");
    }
    if let Some(z) = common::zarr(&out3, "data") {
        assert_eq!(z["shards"], serde_json::json!([1, 36, 72]));
        for i in 0..10 {
            assert_eq!(z["bands"][i]["sum"], a["bands"][i]["stats"]["sum"]);
        }
    }
    // Two bands, a window, Zarr v2 for GDAL 3.6.
    let out2 = tmp.path().join("sub.zarr");
    ok(&[
        "convert",
        src.to_str().unwrap(),
        out2.to_str().unwrap(),
        "--zarr-v2",
        "--bands",
        "5,2",
        "--window",
        "10,5,40,20",
    ]);
    let names: Vec<String> =
        (1..=2).map(|b| format!("ZARR:\"{}\":/Band{b}", out2.display())).collect();
    let Some(g) = common::gdal(&names) else { return };
    assert_eq!(g[0]["size"], serde_json::json!([40, 20]));
    // origin moved by the window: (-180 + 10·5, -90 + 5·5)
    assert_eq!(g[0]["geotransform"], serde_json::json!([-130.0, 5.0, 0.0, -65.0, 0.0, 5.0]));
    let j = info(&out2);
    assert_eq!(j["bands"][0]["stats"]["sum"], g[0]["bands"][0]["sum"]);
    assert_eq!(j["bands"][1]["stats"]["sum"], g[1]["bands"][0]["sum"]);
    // band 5 of the window, read from the source through the library
    let r = geodino_raster_window_sum(&src, 4, (10, 5, 40, 20));
    assert_eq!(g[0]["bands"][0]["sum"].as_f64().unwrap(), r);
}

/// Exact sum of one band of a window, via `geodino convert` to a one-band store and info.
fn geodino_raster_window_sum(src: &Path, band0: usize, w: (usize, usize, usize, usize)) -> f64 {
    let tmp = geodino_testutil::tempdir();
    let out = tmp.path().join("one.zarr");
    let b = (band0 + 1).to_string();
    let win = format!("{},{},{},{}", w.0, w.1, w.2, w.3);
    ok(&["convert", src.to_str().unwrap(), out.to_str().unwrap(), "--bands", &b, "--window", &win]);
    let j = info(&out);
    // cross-check against zarr-python reading the same file
    if let Some(z) = common::zarr(&out, "data") {
        assert_eq!(z["bands"][0]["sum"], j["bands"][0]["stats"]["sum"]);
    }
    j["bands"][0]["stats"]["sum"].as_f64().unwrap()
}

#[test]
fn convert_geotiff_to_zarr_and_back_to_a_valid_cog() {
    let Some(src) = shared_data("geotiff/rgb_lzw.tif") else { return };
    let tmp = geodino_testutil::tempdir();
    let z = tmp.path().join("rgb.zarr");
    let cog = tmp.path().join("rgb_cog.tif");
    ok(&["convert", src.to_str().unwrap(), z.to_str().unwrap()]);
    ok(&["convert", z.to_str().unwrap(), cog.to_str().unwrap(), "--cog", "--compress", "deflate"]);
    let names = vec![src.display().to_string(), cog.display().to_string()];
    let Some(g) = common::gdal(&names) else { return };
    assert_eq!(g[0]["geotransform"], g[1]["geotransform"]);
    assert_eq!(g[0]["epsg"], g[1]["epsg"]);
    assert_eq!(
        g[0]["bands"],
        g[1]["bands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let mut b = b.clone();
                b["block"] = g[0]["bands"][0]["block"].clone();
                b
            })
            .collect::<Value>()
    );
    let Some(py) = oracle::gdal_python() else { return };
    let mut c = Command::new(py);
    c.args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff"]).arg(&cog);
    assert!(oracle::run(&mut c).contains("is a valid cloud optimized GeoTIFF"));
    let gi = oracle::gdalinfo_json(&cog, false);
    assert_eq!(gi["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"], "DEFLATE");
}

#[test]
fn bad_input_fails_with_the_file_named_and_no_panic() {
    let tmp = geodino_testutil::tempdir();
    let d = tmp.path();
    let txt = d.join("notes.txt");
    std::fs::write(&txt, "plain text").unwrap();
    let bad = d.join("bad.zarr");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join(".zgroup"), "{\"zarr_format\": 2}").unwrap();
    std::fs::create_dir(bad.join("a")).unwrap();
    std::fs::write(bad.join("a").join(".zarray"), "{\"zarr_format\": 2, \"shape\": [").unwrap();
    let trunc = d.join("trunc.tif");
    std::fs::write(&trunc, b"II*\0\x08\0\0\0\xff").unwrap();
    let missing = d.join("missing.zarr");
    let out = d.join("out.zarr");
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["info".into(), missing.display().to_string()], "missing.zarr".into()),
        (vec!["info".into(), "--json".into(), txt.display().to_string()], "notes.txt".into()),
        (vec!["info".into(), bad.display().to_string()], "bad.zarr/a/.zarray".into()),
        (vec!["info".into(), "--stats".into(), trunc.display().to_string()], "trunc.tif".into()),
        (
            vec!["convert".into(), bad.display().to_string(), out.display().to_string()],
            "bad.zarr".into(),
        ),
    ];
    let mut cases = cases;
    if let Some(v2) = shared_data("zarr/zarr_store_v2.zarr") {
        let src = v2.join("CDD0").display().to_string();
        let o = out.display().to_string();
        cases.push((
            vec!["convert".into(), src.clone(), o.clone(), "--bands".into(), "11".into()],
            "CDD0".into(),
        ));
        cases.push((
            vec!["convert".into(), src.clone(), o.clone(), "--window".into(), "70,0,5,5".into()],
            "CDD0".into(),
        ));
        cases.push((
            vec!["convert".into(), src.clone(), d.join("x.png").display().to_string()],
            "x.png".into(),
        ));
        cases.push((
            vec!["convert".into(), src, o, "--compress".into(), "lzw".into()],
            "out.zarr".into(),
        ));
    }
    for (args, name) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = geodino(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{a:?} should fail");
        assert!(err.contains(&name), "{a:?}: {err}");
        assert!(!err.contains("panicked"), "{a:?}: {err}");
    }
    assert!(!out.exists(), "no half-written output");
    let left: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 3, "no temporary files left: {left:?}");
}
