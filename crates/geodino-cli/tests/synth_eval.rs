//! `geodino synth-scene` and `geodino eval` end to end: GDAL reads what synth-scene writes
//! (size, CRS, transform, colour table, class names, pixels equal to the renderer's), and eval's
//! numbers equal values computed directly from the arrays.

use std::path::{Path, PathBuf};
use std::process::Command;

use geodino_core::{RasterElement, RasterRead, Window};
use geodino_data::synth::{Class, SceneGenerator, SynthConfig};
use geodino_testutil::oracle;
use geodino_tiff::GeoTiffReader;
use geodino_tiff::write::{GeoTiffWriter, TiffWriteOptions};
use ndarray::Array2;

fn geodino(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_geodino"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run geodino");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    out
}

fn ok(args: &[&str]) -> String {
    let out = geodino(args);
    assert!(
        out.status.success(),
        "geodino {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Write a scene with synth-scene; returns the three paths.
fn scene(dir: &Path, name: &str, args: &[&str]) -> [PathBuf; 3] {
    let img = dir.join(format!("{name}.tif"));
    let mut a = vec!["synth-scene", s(&img)];
    a.extend_from_slice(args);
    ok(&a);
    [img, dir.join(format!("{name}.chm.tif")), dir.join(format!("{name}.landcover.tif"))]
}

fn read_band<T: RasterElement>(p: &Path) -> Array2<T> {
    let r = GeoTiffReader::open(p).unwrap();
    let m = r.meta();
    let b = r.read_window(&[0], Window::full(m.width, m.height)).unwrap();
    T::unwrap(b).unwrap().index_axis_move(ndarray::Axis(0), 0)
}

/// Write `data` as a single-band GeoTIFF on the grid of `like`.
fn write_like<T: RasterElement>(like: &Path, out: &Path, data: &Array2<T>) {
    let r = GeoTiffReader::open(like).unwrap();
    let mut m = r.meta().clone();
    m.dtype = T::DTYPE;
    let mut w =
        GeoTiffWriter::create(out, &m, &TiffWriteOptions::preset("tiled").unwrap()).unwrap();
    let (h, wd) = data.dim();
    let buf = T::wrap(data.clone().into_shape_with_order((1, h, wd)).unwrap());
    geodino_core::RasterWrite::write_window(&mut w, Window::full(wd, h), &buf).unwrap();
    w.finish().unwrap();
}

#[test]
fn synth_scene_writes_geotiffs_that_gdal_reads() {
    let dir = geodino_testutil::tempdir();
    let preview = dir.path().join("preview.png");
    let [img, chm, lc] = scene(
        dir.path(),
        "village",
        &[
            "--size",
            "320",
            "--seed",
            "3",
            "--preset",
            "village",
            "--nir",
            "--band-rows",
            "64",
            "--preview",
            s(&preview),
        ],
    );
    for p in [&img, &chm, &lc, &preview] {
        assert!(p.is_file(), "{} written", p.display());
    }
    // Refuses to overwrite without --overwrite, naming the file.
    let out = geodino(&["synth-scene", s(&img), "--size", "320"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));

    // The same scene rendered in memory.
    let cfg = SynthConfig {
        width: 320,
        height: 320,
        seed: 3,
        nir: true,
        ..SynthConfig::preset("village").unwrap()
    };
    let g = SceneGenerator::new(&cfg).unwrap();
    let tile = g.render(Window::full(320, 320)).unwrap();
    // Our own reader sees exactly the rendered pixels.
    let r = GeoTiffReader::open(&img).unwrap();
    let px = u8::unwrap(r.read_all().unwrap()).unwrap();
    assert_eq!(px, tile.image);
    assert_eq!(read_band::<f32>(&chm), tile.chm);
    assert_eq!(read_band::<u8>(&lc), tile.landcover);

    if !oracle::gdal() {
        return;
    }
    let gt = g.geotransform().0;
    for (p, bands, dtype) in [(&img, 4, "Byte"), (&chm, 1, "Float32"), (&lc, 1, "Byte")] {
        let j = oracle::gdalinfo_json(p, false);
        assert_eq!(j["size"], serde_json::json!([320, 320]), "{}", p.display());
        assert_eq!(j["bands"].as_array().unwrap().len(), bands);
        assert_eq!(j["bands"][0]["type"], dtype);
        let got: Vec<f64> =
            j["geoTransform"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got, gt.to_vec(), "{}: geotransform", p.display());
        let wkt = j["coordinateSystem"]["wkt"].as_str().unwrap();
        assert!(
            wkt.contains("UTM zone 32N") && wkt.trim_end().ends_with("ID[\"EPSG\",32632]]"),
            "{wkt}"
        );
    }
    let j = oracle::gdalinfo_json(&chm, false);
    assert_eq!(j["bands"][0]["noDataValue"], -9999.0);
    assert_eq!(j["bands"][0]["description"], "canopy height (m)");
    let j = oracle::gdalinfo_json(&lc, false);
    let band = &j["bands"][0];
    assert_eq!(band["noDataValue"], 0.0);
    assert_eq!(band["colorInterpretation"], "Palette");
    let entries = band["colorTable"]["entries"].as_array().unwrap();
    for c in Class::ALL {
        let want: Vec<u64> = c.color().iter().map(|&v| v as u64).collect();
        let got: Vec<u64> = entries[c.value() as usize]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "colour of {c:?}");
    }
    let names: Vec<&str> =
        band["categories"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, Class::ALL.iter().map(|c| c.name()).collect::<Vec<_>>());
    let j = oracle::gdalinfo_json(&img, false);
    let interp: Vec<&str> = j["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["colorInterpretation"].as_str().unwrap())
        .collect();
    assert_eq!(interp, ["Red", "Green", "Blue", "Undefined"]);
    // GDAL's pixels equal the renderer's (per-band sums of every pixel).
    if let Some(py) = oracle::gdal_python() {
        let code = "import sys\nfrom osgeo import gdal\nfor p in sys.argv[1:]:\n    ds = gdal.Open(p)\n    print(' '.join(repr(float(ds.GetRasterBand(b + 1).ReadAsArray().astype('float64').sum())) for b in range(ds.RasterCount)))\n";
        let out = oracle::run(Command::new(py).args(["-c", code, s(&img), s(&chm), s(&lc)]));
        let lines: Vec<Vec<f64>> = out
            .lines()
            .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
            .collect();
        for b in 0..4 {
            let want: f64 =
                tile.image.index_axis(ndarray::Axis(0), b).iter().map(|&v| v as f64).sum();
            assert_eq!(lines[0][b], want, "image band {}", b + 1);
        }
        let chm_sum: f64 = tile.chm.iter().map(|&v| v as f64).sum();
        assert!(
            (lines[1][0] - chm_sum).abs() < 1e-6 * chm_sum.max(1.0),
            "{} vs {chm_sum}",
            lines[1][0]
        );
        assert_eq!(lines[2][0], tile.landcover.iter().map(|&v| v as f64).sum::<f64>());
    }
    // The image is a valid Cloud-Optimized GeoTIFF.
    if let Some(py) = oracle::gdal_python() {
        let out = oracle::run(Command::new(py).args([
            "-m",
            "osgeo_utils.samples.validate_cloud_optimized_geotiff",
            s(&img),
        ]));
        assert!(out.contains("is a valid cloud optimized GeoTIFF"), "{out}");
    }
}

#[test]
fn eval_canopy_height_numbers_equal_direct_computation() {
    let dir = geodino_testutil::tempdir();
    let [_, chm, _] =
        scene(dir.path(), "s", &["--size", "256", "--seed", "2", "--layout", "tiled"]);
    let truth = read_band::<f32>(&chm);
    // Prediction = truth + 1 m everywhere.
    let pred = truth.mapv(|v| v + 1.0);
    let pred_path = dir.path().join("pred.tif");
    write_like(&chm, &pred_path, &pred);
    let json = dir.path().join("m.json");
    let report = dir.path().join("r.png");
    let table = ok(&[
        "eval",
        "--task",
        "canopy-height",
        s(&pred_path),
        s(&chm),
        "--json",
        s(&json),
        "--report",
        s(&report),
    ]);
    assert!(table.contains("block R²"), "{table}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let m = &doc["metrics"];
    let n = (256 * 256) as f64;
    let f = |k: &str| m[k].as_f64().unwrap();
    // Every error is exactly +1 m (heights are ≥ 0, so clamping changes nothing).
    assert!(
        (f("mae") - 1.0).abs() < 1e-6
            && (f("rmse") - 1.0).abs() < 1e-6
            && (f("bias") - 1.0).abs() < 1e-6
    );
    // R² = 1 - n·1² / Σ(t - t̄)².
    let mean = truth.iter().map(|&v| v as f64).sum::<f64>() / n;
    let ss_tot: f64 = truth.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
    assert!((f("r2") - (1.0 - n / ss_tot)).abs() < 1e-9, "r2 {}", f("r2"));
    // Block R²: 5 × 5 blocks of 50 px after a 3 px border; every block mean is off by exactly 1.
    let mut blocks = Vec::new();
    for bi in 0..5 {
        for bj in 0..5 {
            let (r0, c0) = (3 + 50 * bi, 3 + 50 * bj);
            let s: f64 =
                truth.slice(ndarray::s![r0..r0 + 50, c0..c0 + 50]).iter().map(|&v| v as f64).sum();
            blocks.push(s / 2500.0);
        }
    }
    let bm = blocks.iter().sum::<f64>() / 25.0;
    let bss: f64 = blocks.iter().map(|b| (b - bm).powi(2)).sum();
    assert_eq!(m["blocks"], 25);
    assert!(
        (f("block_r2") - (1.0 - 25.0 / bss)).abs() < 1e-6,
        "block r2 {} vs {}",
        f("block_r2"),
        1.0 - 25.0 / bss
    );
    // Tree cover at 2 m: predicted tree where t + 1 > 2, i.e. t > 1; IoU = #(t > 2) / #(t > 1).
    let above = |x: f32| truth.iter().filter(|&&v| v > x).count() as f64;
    assert!((m["tree_cover"]["iou"].as_f64().unwrap() - above(2.0) / above(1.0)).abs() < 1e-12);
    assert!(report.is_file());
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&report).unwrap()));
    let info = dec.read_info().unwrap();
    assert!(info.info().width > 600 && info.info().height > 300);
}

#[test]
fn eval_landcover_numbers_equal_direct_computation() {
    let dir = geodino_testutil::tempdir();
    let [_, _, lc] = scene(
        dir.path(),
        "s",
        &["--size", "256", "--seed", "6", "--preset", "lakes", "--layout", "tiled"],
    );
    let truth = read_band::<u8>(&lc);
    let count = |c: Class| truth.iter().filter(|&&v| v == c.value()).count() as f64;
    let (water, grass) = (count(Class::Water), count(Class::GrassShrub));
    assert!(water > 100.0 && grass > 100.0, "the scene has water and grass");
    // Prediction: water predicted as grass, everything else right.
    let pred =
        truth.mapv(|v| if v == Class::Water.value() { Class::GrassShrub.value() } else { v });
    let pred_path = dir.path().join("pred.tif");
    write_like(&lc, &pred_path, &pred);
    let json = dir.path().join("m.json");
    let report = dir.path().join("r.png");
    ok(&[
        "eval",
        "--task",
        "landcover",
        s(&pred_path),
        s(&lc),
        "--json",
        s(&json),
        "--report",
        s(&report),
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let m = &doc["metrics"];
    let n = (256 * 256) as f64;
    assert!((m["overall_accuracy"].as_f64().unwrap() - (1.0 - water / n)).abs() < 1e-12);
    let iou = |c: Class| m["per_class"][c.value() as usize]["iou"].as_f64().unwrap();
    assert_eq!(iou(Class::Water), 0.0);
    // Grass: TP = grass, FP = water, FN = 0.
    assert!((iou(Class::GrassShrub) - grass / (grass + water)).abs() < 1e-12);
    assert_eq!(m["per_class"][5]["name"], "water", "class names come from the label raster");
    assert!(report.is_file());
}

#[test]
fn eval_rejects_rasters_on_different_grids_naming_both() {
    let dir = geodino_testutil::tempdir();
    let [_, a, _] = scene(dir.path(), "a", &["--size", "64", "--layout", "tiled"]);
    let [_, b, _] = scene(dir.path(), "b", &["--size", "80", "--layout", "tiled"]);
    let [_, c, _] = scene(dir.path(), "c", &["--size", "64", "--seed", "9", "--layout", "tiled"]);
    for other in [&b, &c] {
        let out = geodino(&["eval", "--task", "canopy-height", s(&a), s(other)]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("a.chm.tif") && err.contains(other.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(err.contains("same grid"), "{err}");
    }
    let out = geodino(&["eval", "--task", "canopy-height", s(&a), "/nonexistent/x.tif"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.tif"));
}

#[test]
fn synth_scene_reads_a_typed_config_file() {
    let dir = geodino_testutil::tempdir();
    let cfg = dir.path().join("scene.toml");
    std::fs::write(
        &cfg,
        "width = 96\nheight = 64\nseed = 12\nnir = true\nsun_elevation_deg = 35.0\n",
    )
    .unwrap();
    let img = dir.path().join("c.tif");
    ok(&["synth-scene", s(&img), "--config", s(&cfg), "--layout", "tiled"]);
    let r = GeoTiffReader::open(&img).unwrap();
    assert_eq!((r.meta().width, r.meta().height, r.meta().band_count()), (96, 64, 4));
    assert_eq!(
        r.meta().metadata.get("GEODINO_SYNTH_SUN_ELEVATION").map(String::as_str),
        Some("35")
    );
    // Unknown keys are rejected, naming the file and the key.
    std::fs::write(&cfg, "width = 96\ncolour = \"red\"\n").unwrap();
    let out = geodino(&["synth-scene", s(&dir.path().join("d.tif")), "--config", s(&cfg)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scene.toml") && err.contains("colour"), "{err}");
}
