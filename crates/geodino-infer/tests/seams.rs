//! The seam test: a scene predicted with two different tile/overlap settings agrees everywhere
//! within a stated tolerance, the jump across tile boundaries is no larger than the image's own
//! pixel-to-pixel variation (unlike plain averaging), and the output's size, transform, CRS and
//! nodata equal the input's as GDAL sees them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use geodino_core::Window;
use geodino_infer::{Blend, EngineOptions, HeadModel, HeightDtype, Product, SceneOptions};
use geodino_testutil::{oracle, tempdir};
use ndarray::{Array2, Axis};

fn predict(model: &HeadModel, input: &Path, out: &Path, tile: usize, overlap: usize, blend: Blend) {
    let opts = SceneOptions {
        engine: EngineOptions { tile, overlap, batch: 3, blend, prefetch: 2 },
        ..SceneOptions::default()
    };
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    geodino_infer::predict_scene(input, out, model, product, &opts, &|_| {}).unwrap();
}

fn heights(path: &Path) -> Array2<f32> {
    read_all(path).index_axis_move(Axis(0), 0)
}

/// Mean absolute difference between columns `x − 1` and `x`, over valid rows.
fn column_jump(h: &Array2<f32>, x: usize) -> f64 {
    let (mut s, mut n) = (0.0, 0);
    for y in 0..h.nrows() {
        let (a, b) = (h[[y, x - 1]], h[[y, x]]);
        if a.is_finite() && b.is_finite() {
            s += (a - b).abs() as f64;
            n += 1;
        }
    }
    s / n.max(1) as f64
}

/// Columns where a tile starts or ends inside the scene (tile `size`, `overlap`).
fn tile_edges(width: usize, size: usize, overlap: usize) -> Vec<usize> {
    let plan = geodino_infer::TilePlan::new(width, 8, size, overlap, 1, Blend::Cosine).unwrap();
    let mut e: Vec<usize> = Vec::new();
    for &s in &plan.grid.cols.starts {
        if s > 0 {
            e.push(s);
        }
        if s + size < width {
            e.push(s + size);
        }
    }
    e.sort_unstable();
    e.dedup();
    e
}

/// Largest jump at a tile edge over the median column-to-column jump of the whole image.
fn seam_ratio(h: &Array2<f32>, edges: &[usize]) -> f64 {
    let mut all: Vec<f64> = (1..h.ncols()).map(|x| column_jump(h, x)).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = all[all.len() / 2];
    edges.iter().map(|&x| column_jump(h, x)).fold(0.0, f64::max) / median
}

#[test]
fn two_tilings_agree_and_cosine_blending_leaves_no_seams() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    let hole = Window::new(150, 100, 40, 30);
    write_scene(&input, 352, 300, 0.6, Some(hole));
    let model = tiny_canopy_model();
    let a = dir.path().join("a.tif");
    let b = dir.path().join("b.tif");
    let avg = dir.path().join("avg.tif");
    predict(&model, &input, &a, 128, 48, Blend::Cosine);
    predict(&model, &input, &b, 96, 32, Blend::Cosine);
    predict(&model, &input, &avg, 128, 48, Blend::Average);
    let (ha, hb, hv) = (heights(&a), heights(&b), heights(&avg));

    // 1. agreement between the two tilings, everywhere
    let mut max_diff = 0.0f64;
    let mut sum_diff = 0.0f64;
    let mut n = 0usize;
    for (x, y) in ha.iter().zip(hb.iter()) {
        assert_eq!(x.is_nan(), y.is_nan(), "nodata differs between tilings");
        if x.is_finite() {
            max_diff = max_diff.max((x - y).abs() as f64);
            sum_diff += (x - y).abs() as f64;
            n += 1;
        }
    }
    let range = ha.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, &v| m.max(v)) as f64;
    eprintln!(
        "tilings 128/48 vs 96/32: max |diff| {max_diff:.5} m, mean {:.6} m, height range 0..{range:.3} m",
        sum_diff / n as f64
    );
    // 2. seams: the jump at tile edges against the image's own column-to-column variation
    let ra = seam_ratio(&ha, &tile_edges(352, 128, 48));
    let rb = seam_ratio(&hb, &tile_edges(352, 96, 32));
    let rv = seam_ratio(&hv, &tile_edges(352, 128, 48));
    eprintln!("seam ratio: cosine 128/48 {ra:.2}, cosine 96/32 {rb:.2}, plain averaging {rv:.2}");
    let mut avg_diff = 0.0f64;
    for (x, y) in hv.iter().zip(hb.iter()) {
        if x.is_finite() {
            avg_diff = avg_diff.max((x - y).abs() as f64);
        }
    }
    eprintln!("plain averaging 128/48 vs cosine 96/32: max |diff| {avg_diff:.5} m");
    assert!(max_diff <= TOLERANCE_M, "tilings differ by {max_diff} m > {TOLERANCE_M} m");
    assert!(ra < 1.5 && rb < 1.5, "cosine seams: {ra:.2}, {rb:.2}");
    assert!(rv > 2.0 * ra.max(rb), "plain averaging should show seams: {rv:.2}");

    // 3. nodata: exactly the input's nodata pixels, in both tilings
    let inp = read_all(&input);
    for y in 0..300 {
        for x in 0..352 {
            let nodata_in = (0..3).all(|b| inp[[b, y, x]] == 0.0);
            assert_eq!(ha[[y, x]].is_nan(), nodata_in, "pixel ({x}, {y})");
        }
    }
    assert!(ha[[110, 160]].is_nan());
}

/// The stated tolerance (metres) between two tilings; see `docs/inference.md` ("Seams").
const TOLERANCE_M: f64 = 0.02;

#[test]
fn output_grid_and_nodata_equal_the_input_as_gdal_sees_them() {
    if !oracle::gdal() {
        return;
    }
    let Some(py) = oracle::gdal_python() else { return };
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 200, 150, 0.6, Some(Window::new(20, 30, 25, 10)));
    let out = dir.path().join("chm.tif");
    predict(&tiny_canopy_model(), &input, &out, 64, 16, Blend::Cosine);
    let i = oracle::gdalinfo_json(&input, false);
    let o = oracle::gdalinfo_json(&out, false);
    assert_eq!(i["size"], o["size"]);
    assert_eq!(i["geoTransform"], o["geoTransform"]);
    assert_eq!(i["coordinateSystem"]["wkt"], o["coordinateSystem"]["wkt"]);
    assert_eq!(o["bands"][0]["type"], "Float32");
    assert_eq!(o["bands"][0]["noDataValue"], "NaN");
    assert_eq!(o["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
    // the nodata masks, as GDAL computes them, are equal
    let script = r#"
import sys
from osgeo import gdal
a = gdal.Open(sys.argv[1]); b = gdal.Open(sys.argv[2])
ma = a.GetRasterBand(1).GetMaskBand().ReadAsArray()
mb = b.GetRasterBand(1).GetMaskBand().ReadAsArray()
print(int((ma != mb).sum()), int((mb == 0).sum()))
"#;
    let res = oracle::run(Command::new(py).arg("-c").arg(script).arg(&input).arg(&out));
    let v: Vec<u64> = res.split_whitespace().map(|t| t.parse().unwrap()).collect();
    assert_eq!(v, vec![0, 250], "mask differences, nodata pixels");
    // and GDAL's validator accepts the COG
    let mut c = Command::new("/usr/bin/python3");
    c.args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff", "--full-check=yes"])
        .arg(&out);
    oracle::run(&mut c);
}
